package collectorconfig

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Diff is what changes between two configs, in terms a user reviewing a
// rollout cares about. Each entry is a section and an ID: "receivers/otlp",
// "exporters/otlp/backend", "pipelines/traces", "service/telemetry". Each
// list is sorted.
type Diff struct {
	Added   []string
	Removed []string
	Changed []string
}

// Compare returns what turns before into after. A nil config counts as an
// empty one, so Compare(nil, cfg) lists everything in cfg as added.
//
// Values are compared decoded, so formatting, key order, comments, anchors,
// the spelling of a scalar (0x10 and 16) and "debug: {}" for "debug:" are no
// change. A pipeline changes when its processors change or change order, or
// when the set of its receivers or exporters changes: their order means
// nothing to the collector. Under service, extensions and every key other
// than pipelines (telemetry, ...) are compared as a whole.
func Compare(before, after *Config) Diff {
	if before == nil {
		before = &Config{}
	}
	if after == nil {
		after = &Config{}
	}
	var d Diff
	for _, k := range kinds {
		compareMaps(&d, string(k), before.Components(k), after.Components(k), ComponentID.String, equalSettings)
	}
	compareMaps(&d, "pipelines", before.Service.Pipelines, after.Service.Pipelines, PipelineID.String, equalPipelines)
	compareMaps(&d, "service", serviceSettings(before), serviceSettings(after), func(s string) string { return s }, equalValues)
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	slices.Sort(d.Changed)
	return d
}

func compareMaps[K comparable, V any](d *Diff, section string, before, after map[K]V, name func(K) string, equal func(a, b V) bool) {
	for k, a := range after {
		if b, ok := before[k]; !ok {
			d.Added = append(d.Added, section+"/"+name(k))
		} else if !equal(b, a) {
			d.Changed = append(d.Changed, section+"/"+name(k))
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			d.Removed = append(d.Removed, section+"/"+name(k))
		}
	}
}

// serviceSettings is the service section without its pipelines, which are
// compared one by one.
func serviceSettings(c *Config) map[string]any {
	m := maps.Clone(c.Service.Raw)
	if len(c.Service.Extensions) > 0 {
		if m == nil {
			m = map[string]any{}
		}
		ids := make([]any, len(c.Service.Extensions))
		for i, id := range c.Service.Extensions {
			ids[i] = id.String()
		}
		m["extensions"] = ids
	}
	return m
}

// equalSettings compares the settings of two components. A component
// without settings ("debug:") and one with an empty map ("debug: {}") both
// get their factory's defaults.
func equalSettings(a, b any) bool {
	return equalValues(emptyToNil(a), emptyToNil(b))
}

func emptyToNil(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return nil
	}
	return v
}

func equalPipelines(a, b Pipeline) bool {
	return slices.Equal(a.Processors, b.Processors) &&
		sameSet(a.Receivers, b.Receivers) &&
		sameSet(a.Exporters, b.Exporters)
}

func sameSet(a, b []ComponentID) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, compareComponentIDs)
	slices.SortFunc(b, compareComponentIDs)
	return slices.Equal(a, b)
}

// equalValues compares decoded YAML values. Unlike reflect.DeepEqual it holds
// NaN equal to NaN and compares timestamps as written instants, so that a
// config always equals itself.
func equalValues(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equalValues(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Format(time.RFC3339Nano) == y.Format(time.RFC3339Nano)
	case nil, string, bool, int, int64, uint64:
		return a == b
	}
	return reflect.DeepEqual(a, b)
}

// Empty reports whether the configs are the same.
func (d Diff) Empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Changed) == 0
}

// sections orders the parts of a summary; its words name one entry.
var sections = []struct{ name, one, many string }{
	{"receivers", "receiver", "receivers"},
	{"processors", "processor", "processors"},
	{"exporters", "exporter", "exporters"},
	{"connectors", "connector", "connectors"},
	{"extensions", "extension", "extensions"},
	{"pipelines", "pipeline", "pipelines"},
	{"service", "service setting", "service settings"},
}

// Summary gives the diff on one line, additions first, then removals, then
// changes: "+1 receiver, -1 exporter, ~2 pipelines", or "no changes".
func (d Diff) Summary() string {
	if d.Empty() {
		return "no changes"
	}
	var parts []string
	for _, group := range []struct {
		sign    string
		entries []string
	}{{"+", d.Added}, {"-", d.Removed}, {"~", d.Changed}} {
		counts := map[string]int{}
		for _, e := range group.entries {
			section, _, _ := strings.Cut(e, "/")
			counts[section]++
		}
		for _, s := range sections {
			switch n := counts[s.name]; n {
			case 0:
			case 1:
				parts = append(parts, fmt.Sprintf("%s1 %s", group.sign, s.one))
			default:
				parts = append(parts, fmt.Sprintf("%s%d %s", group.sign, n, s.many))
			}
			delete(counts, s.name)
		}
		// Entries of a hand-made Diff may name other sections.
		for _, name := range slices.Sorted(maps.Keys(counts)) {
			parts = append(parts, fmt.Sprintf("%s%d %s", group.sign, counts[name], name))
		}
	}
	return strings.Join(parts, ", ")
}
