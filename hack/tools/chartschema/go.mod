// Tool module: keeps charts/ampora/values.schema.json in step with the GatePolicy CRD
// (`make manifests`).
module github.com/ampora-io/ampora/hack/tools/chartschema

go 1.26.0

require sigs.k8s.io/yaml v1.6.0

require go.yaml.in/yaml/v2 v2.4.2 // indirect
