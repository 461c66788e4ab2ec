// Command chartschema copies the GatePolicy CRD's spec schema into the chart's
// values.schema.json, as the schema of defaultGatePolicy.spec, so that helm checks the
// default GatePolicy's values against the API they are applied to. It rewrites the file in a
// stable form (sorted keys, two-space indent); running it twice changes nothing.
//
//	chartschema CRD_YAML VALUES_SCHEMA_JSON
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: chartschema CRD_YAML VALUES_SCHEMA_JSON")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "chartschema:", err)
		os.Exit(1)
	}
}

type crd struct {
	Spec struct {
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema struct {
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

func run(crdFile, schemaFile string) error {
	raw, err := os.ReadFile(crdFile)
	if err != nil {
		return err
	}
	var c crd
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s: %w", crdFile, err)
	}
	if len(c.Spec.Versions) != 1 {
		return fmt.Errorf("%s: want one version, found %d", crdFile, len(c.Spec.Versions))
	}
	spec, ok := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		return fmt.Errorf("%s: no spec in the schema", crdFile)
	}
	var specSchema any
	if err := json.Unmarshal(spec, &specSchema); err != nil {
		return err
	}

	raw, err = os.ReadFile(schemaFile)
	if err != nil {
		return err
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		return fmt.Errorf("%s: %w", schemaFile, err)
	}
	node, err := walk(schema, "properties", "defaultGatePolicy", "properties")
	if err != nil {
		return fmt.Errorf("%s: %w", schemaFile, err)
	}
	node["spec"] = specSchema

	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(schema); err != nil {
		return err
	}
	if bytes.Equal(out.Bytes(), raw) {
		return nil
	}
	return os.WriteFile(schemaFile, out.Bytes(), 0o644)
}

// walk follows keys through nested objects.
func walk(m map[string]any, keys ...string) (map[string]any, error) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, errors.New("no object at " + k)
		}
		m = next
	}
	return m, nil
}
