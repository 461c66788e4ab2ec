package collectorconfig

import (
	"maps"
	"slices"
)

// UsedTypes returns, per kind, the component types the service actually
// runs: those its pipelines and service.extensions name, sorted and without
// repeats. Components that are defined but not used are left out, since the
// collector never builds them. An agent whose AvailableComponents lacks one
// of these types cannot run the config.
//
// A pipeline entry counts as a connector when a connector has its ID, as in
// the collector; otherwise it counts as the receiver, processor or exporter
// its list says, defined or not.
func (c *Config) UsedTypes() map[Kind][]string {
	used := map[Kind][]string{}
	if c == nil {
		return used
	}
	sets := map[Kind]map[string]bool{}
	add := func(k Kind, id ComponentID) {
		if sets[k] == nil {
			sets[k] = map[string]bool{}
		}
		sets[k][id.Type] = true
	}
	addList := func(k Kind, ids []ComponentID, connectorsToo bool) {
		for _, id := range ids {
			if _, ok := c.Connectors[id]; ok && connectorsToo {
				add(Connectors, id)
			} else {
				add(k, id)
			}
		}
	}
	for _, pl := range c.Service.Pipelines {
		addList(Receivers, pl.Receivers, true)
		addList(Processors, pl.Processors, false)
		addList(Exporters, pl.Exporters, true)
	}
	addList(Extensions, c.Service.Extensions, false)
	for k, set := range sets {
		used[k] = slices.Sorted(maps.Keys(set))
	}
	return used
}
