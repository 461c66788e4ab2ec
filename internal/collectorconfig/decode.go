package collectorconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on the decoded document. A config is user input that the operator
// reads before any check has passed, so a few hundred kilobytes must not turn
// into gigabytes (aliases) or minutes of CPU (the YAML library looks for
// duplicate keys pairwise, which is quadratic in the size of one mapping).
// No collector config written by hand comes near them.
const (
	// maxNodes bounds the YAML nodes after aliases are expanded. It equals
	// MaxBytes, so a document without aliases, which needs at least one
	// byte per node, never reaches it.
	maxNodes = MaxBytes
	// maxDepth bounds how deeply values nest, counting expanded aliases.
	maxDepth = 100
	// maxMappingKeys bounds the keys of one mapping.
	maxMappingKeys = 4096
	// maxKeyPairs bounds the pairs of keys the duplicate check compares,
	// summed over every mapping once aliases are expanded: two mappings of
	// maxMappingKeys keys, or a thousand of a hundred and eighty.
	maxKeyPairs = 1 << 24
)

// decodeYAML turns a config into plain Go values: map[string]any, []any and
// scalars, as the collector's confmap sees them. It refuses streams of more
// than one document, since an agent would silently drop the rest.
func decodeYAML(data []byte) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := guard(func() error { return dec.Decode(&root) }); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	switch err := guard(func() error { return dec.Decode(&next) }); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(err)
	default:
		return nil, errors.New("config holds more than one YAML document")
	}

	var m measurer
	if _, err := m.measure(&root, 0); err != nil {
		return nil, err
	}
	var v any
	if err := guard(func() error { return root.Decode(&v) }); err != nil {
		return nil, yamlError(err)
	}
	return normalize(v)
}

// guard runs a call into the YAML library and turns a panic into an error:
// a parser bug must not take the operator down with it.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the parser failed: %v", r)
		}
	}()
	return f()
}

// yamlError keeps what the YAML library says, line numbers included, without
// its "yaml: " prefix and on a single line.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("invalid YAML: %s", strings.Join(te.Errors, "; "))
	}
	return fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// size is the extent of a node once its aliases are expanded.
type size struct {
	nodes    int
	height   int
	keyPairs int
}

// measurer computes the expanded size of a node tree without expanding it:
// anchored nodes are measured once and remembered, so that an alias costs
// a map lookup even when a chain of anchors would expand exponentially.
type measurer struct {
	done   map[*yaml.Node]size
	active map[*yaml.Node]bool // anchored nodes being measured
}

func (m *measurer) measure(n *yaml.Node, depth int) (size, error) {
	if depth > maxDepth {
		return size{}, errTooDeep
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return size{}, fmt.Errorf("invalid YAML: line %d: alias %s refers to no anchor", n.Line, quote(n.Value))
		}
		if m.active[n.Alias] {
			return size{}, fmt.Errorf("invalid YAML: line %d: anchor %s is used inside its own value", n.Line, quote(n.Value))
		}
		return m.measure(n.Alias, depth)
	}
	if n.Anchor != "" {
		if s, ok := m.done[n]; ok {
			if depth+s.height-1 > maxDepth {
				return size{}, errTooDeep
			}
			return s, nil
		}
		if m.active == nil {
			m.active = map[*yaml.Node]bool{}
			m.done = map[*yaml.Node]size{}
		}
		m.active[n] = true
		defer delete(m.active, n)
	}
	if n.Kind == yaml.MappingNode && len(n.Content)/2 > maxMappingKeys {
		return size{}, fmt.Errorf("invalid YAML: line %d: a mapping has %d keys; the limit is %d", n.Line, len(n.Content)/2, maxMappingKeys)
	}
	total := size{nodes: 1, height: 1}
	if n.Kind == yaml.MappingNode {
		keys := len(n.Content) / 2
		total.keyPairs = keys * (keys - 1) / 2
	}
	for _, c := range n.Content {
		s, err := m.measure(c, depth+1)
		if err != nil {
			return size{}, err
		}
		total.nodes += s.nodes
		if total.nodes > maxNodes {
			return size{}, fmt.Errorf("config expands to more than %d YAML values once aliases are resolved", maxNodes)
		}
		total.keyPairs += s.keyPairs
		if total.keyPairs > maxKeyPairs {
			return size{}, errors.New("config has too many keys in large mappings to check them for duplicates")
		}
		total.height = max(total.height, s.height+1)
	}
	if n.Anchor != "" {
		m.done[n] = total
	}
	return total, nil
}

var errTooDeep = fmt.Errorf("config nests more than %d levels deep", maxDepth)

// normalize gives every mapping string keys, as the collector does, so that
// configs compare and print the same whatever YAML type a key had. Keys that
// become the same string (1 and 1.0) are an error rather than a random
// overwrite.
func normalize(v any) (any, error) {
	clashes := map[string]bool{}
	v = normalizeValue(v, clashes)
	if len(clashes) == 0 {
		return v, nil
	}
	keys := slices.Sorted(maps.Keys(clashes))
	keys = keys[:min(len(keys), maxReported)]
	for i, k := range keys {
		keys[i] = quote(k)
	}
	return nil, fmt.Errorf("invalid YAML: keys of different types are the same key once read as text: %s", strings.Join(keys, ", "))
}

func normalizeValue(v any, clashes map[string]bool) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeValue(e, clashes)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			ks := ""
			if k != nil {
				ks = fmt.Sprint(k)
			}
			if _, dup := m[ks]; dup {
				clashes[ks] = true
			}
			m[ks] = normalizeValue(e, clashes)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = normalizeValue(e, clashes)
		}
		return t
	}
	return v
}
