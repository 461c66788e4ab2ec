package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// schemaNode is a JSON schema, as loosely as the walk needs it.
type schemaNode = map[string]any

// resolve follows a local $ref.
func resolve(root, n schemaNode) schemaNode {
	GinkgoHelper()
	ref, ok := n["$ref"].(string)
	if !ok {
		return n
	}
	target := any(root)
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		target = target.(schemaNode)[p]
	}
	Expect(target).NotTo(BeNil(), "dangling $ref %s", ref)
	return target.(schemaNode)
}

// checkCovered walks values and schema together: every value has a schema with a type, every
// object schema with properties refuses unknown keys and names only keys values.yaml has.
// Below a free-form object (a map such as annotations, or a Kubernetes type such as affinity)
// and below defaultGatePolicy.spec (the CRD's schema), the walk stops.
func checkCovered(root, n schemaNode, value any, path string) {
	GinkgoHelper()
	n = resolve(root, n)
	Expect(n).To(HaveKey("type"), "%s has no type in values.schema.json", path)
	props, hasProps := n["properties"].(schemaNode)
	m, isMap := value.(map[string]any)
	if !hasProps || !isMap || path == ".defaultGatePolicy.spec" {
		return
	}
	Expect(n["additionalProperties"]).To(Equal(false), "%s accepts unknown keys", path)
	var inValues, inSchema []string
	for k := range m {
		inValues = append(inValues, k)
	}
	for k := range props {
		inSchema = append(inSchema, k)
	}
	sort.Strings(inValues)
	sort.Strings(inSchema)
	Expect(inSchema).To(Equal(inValues), "%s: values.yaml and values.schema.json name different keys", path)
	for k, v := range m {
		checkCovered(root, props[k].(schemaNode), v, path+"."+k)
	}
}

var _ = Describe("values.schema.json", func() {
	var schema schemaNode
	var values map[string]any

	BeforeEach(func() {
		Expect(json.Unmarshal([]byte(read("charts/ampora/values.schema.json")), &schema)).To(Succeed())
		f, err := os.Open(filepath.Join(root, "charts/ampora/values.yaml"))
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		Expect(utilyaml.NewYAMLOrJSONDecoder(f, 4096).Decode(&values)).To(Succeed())
	})

	It("describes every value of values.yaml, and no other", func() {
		checkCovered(schema, schema, values, "")
	})

	It("checks defaultGatePolicy.spec with the GatePolicy CRD's own schema", func() {
		crd := parseFile("config/crd/bases/fleet.ampora.io_gatepolicies.yaml")
		Expect(crd).To(HaveLen(1))
		versions := crd[0].Object["spec"].(map[string]any)["versions"].([]any)
		Expect(versions).To(HaveLen(1))
		want := versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)["properties"].(map[string]any)["spec"]
		wantJSON, err := json.Marshal(want)
		Expect(err).NotTo(HaveOccurred())
		got := schema["properties"].(schemaNode)["defaultGatePolicy"].(schemaNode)["properties"].(schemaNode)["spec"]
		gotJSON, err := json.Marshal(got)
		Expect(err).NotTo(HaveOccurred())
		Expect(gotJSON).To(MatchJSON(wantJSON), "values.schema.json is stale: run make manifests")
	})
})
