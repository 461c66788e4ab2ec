package collectorconfig

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// MaxBytes is the largest config Parse accepts. Agents receive the config in
// a single OpAMP message, and the decoding limits are derived from it.
const MaxBytes = 262144

// Config is a collector config as the collector reads it: the components each
// section defines, keyed by ID, with their settings left as decoded YAML
// (map[string]any, []any, string, int, float64, bool, nil, ...), and the
// service that wires them together.
type Config struct {
	Receivers  map[ComponentID]any
	Processors map[ComponentID]any
	Exporters  map[ComponentID]any
	Connectors map[ComponentID]any
	Extensions map[ComponentID]any
	Service    Service

	// hasService records that the config had a service key, so that Check
	// can tell a missing service from one without pipelines.
	hasService bool
}

// Service is the service section: which extensions run and which pipelines
// connect the components.
type Service struct {
	Extensions []ComponentID
	Pipelines  map[PipelineID]Pipeline
	// Raw holds the other keys of service, such as telemetry, as decoded.
	Raw map[string]any
}

// Pipeline lists the components of one pipeline, in config order.
type Pipeline struct {
	Receivers  []ComponentID
	Processors []ComponentID
	Exporters  []ComponentID
}

// Components returns the section of the given kind, nil for an unknown kind.
func (c *Config) Components(k Kind) map[ComponentID]any {
	switch k {
	case Receivers:
		return c.Receivers
	case Processors:
		return c.Processors
	case Exporters:
		return c.Exporters
	case Connectors:
		return c.Connectors
	case Extensions:
		return c.Extensions
	}
	return nil
}

func (c *Config) setComponents(k Kind, m map[ComponentID]any) {
	switch k {
	case Receivers:
		c.Receivers = m
	case Processors:
		c.Processors = m
	case Exporters:
		c.Exporters = m
	case Connectors:
		c.Connectors = m
	case Extensions:
		c.Extensions = m
	}
}

// Parse decodes a config and checks its shape: the top-level keys, that each
// section is a map, that every ID is well formed and that the service lists
// are lists. It does not check that the parts fit together; Check does.
// Every problem found is reported, joined with "; ".
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("config is %d bytes; the limit is %d", len(data), MaxBytes)
	}
	doc, err := decodeYAML(data)
	if err != nil {
		return nil, err
	}
	var top map[string]any
	switch t := doc.(type) {
	case nil:
	case map[string]any:
		top = t
	default:
		return nil, fmt.Errorf("config must be a map of sections, not %s", describe(doc))
	}

	p := parser{cfg: &Config{}}
	for _, key := range slices.Sorted(maps.Keys(top)) {
		switch k := Kind(key); k {
		case Receivers, Processors, Exporters, Connectors, Extensions:
			p.cfg.setComponents(k, p.section(k, top[key]))
		case "service":
			p.cfg.hasService = true
			p.service(top[key])
		default:
			p.errorf("unknown top-level key %s%s", quote(key), suggest(key, topLevelKeys))
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.New(joinMessages(p.errs))
	}
	return p.cfg, nil
}

// parser gathers every shape problem of a config, so that one round trip
// shows the user all of them.
type parser struct {
	cfg  *Config
	errs []string
}

func (p *parser) errorf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Sprintf(format, args...))
}

// section reads the components of one kind. An empty section (a key with no
// value) is allowed, as in the collector.
func (p *parser) section(k Kind, v any) map[ComponentID]any {
	raw, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			p.errorf("%s: must be a map of component IDs to settings, not %s", k, describe(v))
		}
		return nil
	}
	out := make(map[ComponentID]any, len(raw))
	written := make(map[ComponentID]string, len(raw))
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		id, err := ParseComponentID(key)
		if err != nil {
			p.errorf("%s: %v", k, err)
			continue
		}
		if prev, dup := written[id]; dup {
			p.errorf("%s: %s and %s are the same component %q", k, quote(prev), quote(key), id)
			continue
		}
		written[id] = key
		out[id] = raw[key]
	}
	return out
}

func (p *parser) service(v any) {
	raw, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			p.errorf("service: must be a map, not %s", describe(v))
		}
		return
	}
	svc := &p.cfg.Service
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		switch key {
		case "extensions":
			svc.Extensions = p.idList("service: extensions", raw[key])
		case "pipelines":
			svc.Pipelines = p.pipelines(raw[key])
		default:
			if svc.Raw == nil {
				svc.Raw = map[string]any{}
			}
			svc.Raw[key] = raw[key]
		}
	}
}

func (p *parser) pipelines(v any) map[PipelineID]Pipeline {
	raw, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			p.errorf("service: pipelines: must be a map of pipeline IDs to pipelines, not %s", describe(v))
		}
		return nil
	}
	out := make(map[PipelineID]Pipeline, len(raw))
	written := make(map[PipelineID]string, len(raw))
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		id, err := ParsePipelineID(key)
		if err != nil {
			p.errorf("service: pipelines: %v", err)
			continue
		}
		if prev, dup := written[id]; dup {
			p.errorf("service: pipelines: %s and %s are the same pipeline %q", quote(prev), quote(key), id)
			continue
		}
		written[id] = key
		out[id] = p.pipeline(id, raw[key])
	}
	return out
}

func (p *parser) pipeline(id PipelineID, v any) Pipeline {
	var pl Pipeline
	raw, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			p.errorf("service: pipeline %q: must be a map with receivers, processors and exporters, not %s", id, describe(v))
		}
		return pl
	}
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		where := fmt.Sprintf("service: pipeline %q: %s", id, key)
		switch key {
		case "receivers":
			pl.Receivers = p.idList(where, raw[key])
		case "processors":
			pl.Processors = p.idList(where, raw[key])
		case "exporters":
			pl.Exporters = p.idList(where, raw[key])
		default:
			p.errorf("service: pipeline %q: unknown key %s%s", id, quote(key), suggest(key, pipelineKeys))
		}
	}
	return pl
}

// idList reads a list of component IDs; where says which list, for messages.
func (p *parser) idList(where string, v any) []ComponentID {
	raw, ok := v.([]any)
	if !ok {
		if v != nil {
			p.errorf("%s: must be a list of component IDs, not %s", where, describe(v))
		}
		return nil
	}
	out := make([]ComponentID, 0, len(raw))
	for _, e := range raw {
		s, ok := e.(string)
		if !ok {
			p.errorf("%s: must be a list of component IDs, but holds %s", where, describe(e))
			continue
		}
		id, err := ParseComponentID(s)
		if err != nil {
			p.errorf("%s: %v", where, err)
			continue
		}
		out = append(out, id)
	}
	return out
}

var (
	topLevelKeys = []string{"receivers", "processors", "exporters", "connectors", "extensions", "service"}
	pipelineKeys = []string{"receivers", "processors", "exporters"}
)

// suggest offers the known key a misspelt one was probably meant to be, as
// " (did you mean "receivers"?)", or nothing when none is close.
func suggest(key string, known []string) string {
	if len(key) > 2*maxQuoted {
		return ""
	}
	best, bestDist := "", 3 // more than two edits is no longer a typo
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names the YAML type of a decoded value for messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case time.Time:
		return "a timestamp"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}
