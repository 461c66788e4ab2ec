package collectorconfig

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is a section of the config that defines components.
type Kind string

// The sections that define components, named as the top-level keys of a config.
const (
	Receivers  Kind = "receivers"
	Processors Kind = "processors"
	Exporters  Kind = "exporters"
	Connectors Kind = "connectors"
	Extensions Kind = "extensions"
)

// kinds lists every Kind in the order the collector documents them; loops over
// sections use it so that their output is deterministic.
var kinds = []Kind{Receivers, Processors, Exporters, Connectors, Extensions}

// singular is the word for one component of the kind, as used in messages.
func (k Kind) singular() string {
	return strings.TrimSuffix(string(k), "s")
}

// withArticle gives "a receiver", "an exporter" and so on.
func (k Kind) withArticle() string {
	s := k.singular()
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// ComponentID names a component: its type, which selects the factory, and an
// optional name that tells several components of the same type apart.
type ComponentID struct {
	Type string
	Name string
}

// String gives the ID as it is written in a config: "otlp" or "otlp/backend".
func (id ComponentID) String() string {
	if id.Name == "" {
		return id.Type
	}
	return id.Type + "/" + id.Name
}

// ParseComponentID parses "type" or "type/name" with the collector's rules
// (component.ID): surrounding spaces of each part are ignored; the type starts
// with an ASCII letter and holds at most 63 ASCII letters, digits and
// underscores; the name, when present, is 1 to 1024 bytes of anything but
// spaces, control characters and symbols. The name may itself contain "/", as
// the collector splits at the first one only.
func ParseComponentID(s string) (ComponentID, error) {
	typ, name, err := splitID(s)
	if err != nil {
		return ComponentID{}, fmt.Errorf("invalid component ID %s: %w", quote(s), err)
	}
	if err := checkType(typ); err != nil {
		return ComponentID{}, fmt.Errorf("invalid component ID %s: %w", quote(s), err)
	}
	return ComponentID{Type: typ, Name: name}, nil
}

// Signals are the pipeline types the collector knows.
var signals = []string{"traces", "metrics", "logs", "profiles"}

// PipelineID names a pipeline: its signal (traces, metrics, logs or profiles)
// and an optional name, as in "traces" or "traces/edge".
type PipelineID struct {
	Type string
	Name string
}

// String gives the ID as it is written in a config.
func (id PipelineID) String() string {
	return ComponentID(id).String()
}

// ParsePipelineID parses "signal" or "signal/name" with the collector's rules
// (pipeline.ID); the name follows the same rules as a component's.
func ParsePipelineID(s string) (PipelineID, error) {
	typ, name, err := splitID(s)
	if err != nil {
		return PipelineID{}, fmt.Errorf("invalid pipeline ID %s: %w", quote(s), err)
	}
	known := false
	for _, sig := range signals {
		known = known || typ == sig
	}
	if !known {
		return PipelineID{}, fmt.Errorf("invalid pipeline ID %s: the type must be traces, metrics, logs or profiles", quote(s))
	}
	return PipelineID{Type: typ, Name: name}, nil
}

// maxNameBytes is the collector's limit on the name part of an ID.
const maxNameBytes = 1024

// splitID cuts an ID at its first "/" and checks the name part; the type is
// checked by the caller because components and pipelines differ there.
func splitID(s string) (typ, name string, err error) {
	typ, name, hasName := strings.Cut(s, "/")
	typ = strings.TrimSpace(typ)
	if typ == "" {
		if hasName {
			return "", "", errors.New(`the type before "/" is empty`)
		}
		return "", "", errors.New("it is empty")
	}
	if !hasName {
		return typ, "", nil
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", "", errors.New(`the name after "/" is empty`)
	case len(name) > maxNameBytes:
		return "", "", fmt.Errorf("the name is %d bytes long; the limit is %d", len(name), maxNameBytes)
	}
	for _, r := range name {
		switch {
		case unicode.IsSpace(r) || unicode.In(r, unicode.Z):
			return "", "", errors.New("the name contains whitespace")
		case unicode.In(r, unicode.C):
			return "", "", fmt.Errorf("the name contains the control character %U", r)
		case unicode.In(r, unicode.S):
			// Invalid UTF-8 decodes to U+FFFD, itself a symbol.
			return "", "", fmt.Errorf("the name contains the symbol %q, which the collector does not allow", r)
		}
	}
	return typ, name, nil
}

// checkType applies the collector's component type rule,
// ^[a-zA-Z][0-9a-zA-Z_]{0,62}$.
func checkType(typ string) error {
	ok := len(typ) <= 63 && isLetter(typ[0])
	for i := 1; ok && i < len(typ); i++ {
		c := typ[i]
		ok = isLetter(c) || c >= '0' && c <= '9' || c == '_'
	}
	if !ok {
		return errors.New("the type must start with a letter and hold at most 63 letters, digits and underscores")
	}
	return nil
}

func isLetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// maxQuoted bounds how much of an arbitrary string a message repeats, so that
// a pasted blob does not drown the error.
const maxQuoted = 64

// quote quotes s for a message, shortening it when it is long.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}
