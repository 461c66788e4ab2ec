package crd_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/testenv"
)

// Fragments of a valid Rollout spec, at the indentation of spec's fields.
const (
	group    = "\n  agentGroup: gateways"
	strategy = "\n  strategy: {batchSize: 10}"
	config   = "\n  config: {inline: 'service: {}'}"
	valid    = group + strategy + config
)

// rollout returns a Rollout manifest named name whose spec is the given YAML (indented by four
// spaces, under spec:).
func rollout(name, spec string) string {
	return fmt.Sprintf("apiVersion: fleet.ampora.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: %s\nspec:%s\n", name, spec)
}

func agentGroup(name, spec string) string {
	return fmt.Sprintf("apiVersion: fleet.ampora.io/v1alpha1\nkind: AgentGroup\nmetadata:\n  name: %s\nspec:%s\n", name, spec)
}

func gatePolicy(name, spec string) string {
	return fmt.Sprintf("apiVersion: fleet.ampora.io/v1alpha1\nkind: GatePolicy\nmetadata:\n  name: %s\nspec:%s\n", name, spec)
}

var _ = Describe("CRDs", func() {
	const ns = "crd-test"

	BeforeEach(func(ctx SpecContext) {
		err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil {
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		}
	})

	It("accepts every sample, and fills in the documented defaults", func(ctx SpecContext) {
		out, errOut, err := env.Kubectl(ctx, "", "apply", "-n", ns, "-k", testenv.Root()+"/config/samples")
		Expect(err).NotTo(HaveOccurred(), errOut)
		Expect(out).To(ContainSubstring("rollout.fleet.ampora.io/gateways-batching created"))
		Expect(out).To(ContainSubstring("agentgroup.fleet.ampora.io/payments-gateways created"))
		Expect(out).To(ContainSubstring("gatepolicy.fleet.ampora.io/default created"))

		var ro fleetv1alpha1.Rollout
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways-sampling"}, &ro)).To(Succeed())
		Expect(ro.Spec.ApplyTimeout.Duration).To(Equal(5 * time.Minute))
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways-exporter-retry"}, &ro)).To(Succeed())
		Expect(ro.Spec.Strategy.Exponential.Multiplier).To(Equal(int32(2)))

		var gp fleetv1alpha1.GatePolicy
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &gp)).To(Succeed())
		Expect(gp.Spec.PushPolicies[0].Deny).To(Equal(fleetv1alpha1.DenyAlways))
		Expect(gp.Spec.PushPolicies[1].Windows[0].TimeZone).To(Equal("Europe/Berlin"))
	})

	DescribeTable("refuses malformed manifests at kubectl apply, saying why",
		func(ctx context.Context, manifest, want string) {
			_, errOut, err := env.Kubectl(ctx, manifest, "apply", "-n", ns, "-f", "-")
			Expect(err).To(HaveOccurred(), "kubectl apply accepted:\n%s", manifest)
			Expect(normalize(errOut)).To(Equal(want))
		},
		Entry("a Rollout without agentGroup", rollout("no-group", strategy+config),
			`The Rollout "no-group" is invalid:
* spec.agentGroup: Required value
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("a Rollout whose agentGroup is not a valid name", rollout("bad-group", "\n  agentGroup: Payments_Gateways"+strategy+config),
			`The Rollout "bad-group" is invalid: spec.agentGroup: Invalid value: "Payments_Gateways": spec.agentGroup in body should match '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'`),
		Entry("a Rollout without strategy", rollout("no-strategy", group+config),
			`The Rollout "no-strategy" is invalid:
* spec.strategy: Required value
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("a Rollout without config", rollout("no-config", group+strategy),
			`The Rollout "no-config" is invalid:
* spec.config: Required value
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("a config both inline and from a ConfigMap", rollout("both-configs", group+strategy+"\n  config: {inline: 'service: {}', configMapRef: {name: cm, key: k}}"),
			`The Rollout "both-configs" is invalid: spec.config: Invalid value: exactly one of inline or configMapRef must be set`),
		Entry("a config neither inline nor from a ConfigMap", rollout("no-config-source", group+strategy+"\n  config: {}"),
			`The Rollout "no-config-source" is invalid: spec.config: Invalid value: exactly one of inline or configMapRef must be set`),
		Entry("an empty inline config", rollout("empty-inline", group+strategy+"\n  config: {inline: ''}"),
			`The Rollout "empty-inline" is invalid: spec.config.inline: Invalid value: "": spec.config.inline in body should be at least 1 chars long`),
		Entry("a configMapRef without key", rollout("cm-no-key", group+strategy+"\n  config: {configMapRef: {name: cm}}"),
			`The Rollout "cm-no-key" is invalid:
* spec.config.configMapRef.key: Required value
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("an inline config over 256 KiB", rollout("huge-config", group+strategy+"\n  config: {inline: '"+strings.Repeat("x", 262145)+"'}"),
			`The Rollout "huge-config" is invalid:
* metadata.annotations: Too long: may not be more than 262144 bytes
* spec.config.inline: Too long: may not be more than 262144 bytes
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("a strategy with no kind", rollout("empty-strategy", group+config+"\n  strategy: {}"),
			`The Rollout "empty-strategy" is invalid: spec.strategy: Invalid value: exactly one of batchSize, steps or exponential must be set`),
		Entry("a strategy with two kinds", rollout("two-strategies", group+config+"\n  strategy: {batchSize: 10, steps: [5, 10]}"),
			`The Rollout "two-strategies" is invalid: spec.strategy: Invalid value: exactly one of batchSize, steps or exponential must be set`),
		Entry("a batch size over 100 %", rollout("batch-150", group+config+"\n  strategy: {batchSize: '150%'}"),
			`The Rollout "batch-150" is invalid: spec.strategy.batchSize: Invalid value: "150%": must be a count of at least 1 or a percentage from 1% to 100%`),
		Entry("a batch size of zero", rollout("batch-zero", group+config+"\n  strategy: {batchSize: 0}"),
			`The Rollout "batch-zero" is invalid: spec.strategy.batchSize: Invalid value: 0: must be a count of at least 1 or a percentage from 1% to 100%`),
		Entry("a batch size that is neither count nor percentage", rollout("batch-word", group+config+"\n  strategy: {batchSize: half}"),
			`The Rollout "batch-word" is invalid: spec.strategy.batchSize: Invalid value: "half": must be a count of at least 1 or a percentage from 1% to 100%`),
		Entry("steps that go down", rollout("steps-down", group+config+"\n  strategy: {steps: ['10%', '5%']}"),
			`The Rollout "steps-down" is invalid: spec.strategy.steps: Invalid value: steps must be strictly increasing`),
		Entry("steps that repeat a count", rollout("steps-repeat", group+config+"\n  strategy: {steps: [5, 5, 10]}"),
			`The Rollout "steps-repeat" is invalid: spec.strategy.steps: Invalid value: steps must be strictly increasing`),
		Entry("steps that mix counts and percentages", rollout("steps-mixed", group+config+"\n  strategy: {steps: [5, '10%']}"),
			`The Rollout "steps-mixed" is invalid: spec.strategy.steps: Invalid value: steps must be all counts or all percentages`),
		Entry("an empty list of steps", rollout("steps-empty", group+config+"\n  strategy: {steps: []}"),
			`The Rollout "steps-empty" is invalid: spec.strategy.steps: Invalid value: 0: spec.strategy.steps in body should have at least 1 items`),
		Entry("an exponential multiplier of 1", rollout("multiplier-one", group+config+"\n  strategy: {exponential: {initial: 1, multiplier: 1}}"),
			`The Rollout "multiplier-one" is invalid: spec.strategy.exponential.multiplier: Invalid value: 1: spec.strategy.exponential.multiplier in body should be greater than or equal to 2`),
		Entry("an exponential strategy without initial", rollout("no-initial", group+config+"\n  strategy: {exponential: {multiplier: 2}}"),
			`The Rollout "no-initial" is invalid:
* spec.strategy.exponential.initial: Required value
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("an apply timeout of zero", rollout("timeout-zero", valid+"\n  applyTimeout: 0s"),
			`The Rollout "timeout-zero" is invalid: spec.applyTimeout: Invalid value: "0s": must be a positive duration such as 30s, 5m or 1h`),
		Entry("an apply timeout that is not a duration", rollout("timeout-words", valid+"\n  applyTimeout: five minutes"),
			`The Rollout "timeout-words" is invalid: spec.applyTimeout: Invalid value: "five minutes": spec.applyTimeout in body should match '^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$'`),
		Entry("a failure threshold over 100 %", rollout("failure-150", valid+"\n  gates: {maxFailurePercent: 150}"),
			`The Rollout "failure-150" is invalid: spec.gates.maxFailurePercent: Invalid value: 150: spec.gates.maxFailurePercent in body should be less than or equal to 100`),
		Entry("a negative failure count", rollout("failures-negative", valid+"\n  gates: {maxFailures: -1}"),
			`The Rollout "failures-negative" is invalid: spec.gates.maxFailures: Invalid value: -1: spec.gates.maxFailures in body should be greater than or equal to 0`),
		Entry("an unknown onFailure action", rollout("on-failure-explode", valid+"\n  gates: {onFailure: Explode}"),
			`The Rollout "on-failure-explode" is invalid:
* spec.gates.onFailure: Unsupported value: "Explode": supported values: "Pause", "Rollback"
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("a minimum sample of zero", rollout("sample-zero", valid+"\n  gates: {minSampleSize: 0}"),
			`The Rollout "sample-zero" is invalid: spec.gates.minSampleSize: Invalid value: 0: spec.gates.minSampleSize in body should be greater than or equal to 1`),
		Entry("a negative bake time", rollout("bake-negative", valid+"\n  gates: {bakeTime: -1m}"),
			`The Rollout "bake-negative" is invalid: spec.gates.bakeTime: Invalid value: "-1m": spec.gates.bakeTime in body should match '^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$'`),
		Entry("a progress deadline of zero", rollout("deadline-zero", valid+"\n  gates: {progressDeadline: 0m}"),
			`The Rollout "deadline-zero" is invalid: spec.gates.progressDeadline: Invalid value: "0m": must be a positive duration such as 30s, 5m or 1h`),
		Entry("an AgentGroup without selector", agentGroup("no-selector", "\n  excludedInstanceUIDs: []"),
			`The AgentGroup "no-selector" is invalid:
* spec.selector: Required value
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("an empty selector", agentGroup("empty-selector", "\n  selector: {}"),
			`The AgentGroup "empty-selector" is invalid: spec.selector: Invalid value: selector must set matchAttributes or matchExpressions; to select every agent use matchExpressions with operator Exists on service.name`),
		Entry("an In expression without values", agentGroup("in-no-values", "\n  selector: {matchExpressions: [{key: os.type, operator: In}]}"),
			`The AgentGroup "in-no-values" is invalid: spec.selector.matchExpressions[0]: Invalid value: values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist`),
		Entry("an Exists expression with values", agentGroup("exists-values", "\n  selector: {matchExpressions: [{key: os.type, operator: Exists, values: [linux]}]}"),
			`The AgentGroup "exists-values" is invalid: spec.selector.matchExpressions[0]: Invalid value: values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist`),
		Entry("an unknown operator", agentGroup("bad-operator", "\n  selector: {matchExpressions: [{key: os.type, operator: Equals, values: [linux]}]}"),
			`The AgentGroup "bad-operator" is invalid:
* spec.selector.matchExpressions[0].operator: Unsupported value: "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist"
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("an exclusion that is not an instance UID", agentGroup("bad-uid", "\n  selector: {matchAttributes: {os.type: linux}}\n  excludedInstanceUIDs: [host-17]"),
			`The AgentGroup "bad-uid" is invalid: spec.excludedInstanceUIDs[0]: Invalid value: "host-17": spec.excludedInstanceUIDs[0] in body should match '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'`),
		Entry("an exclusion listed twice", agentGroup("dup-uid", "\n  selector: {matchAttributes: {os.type: linux}}\n  excludedInstanceUIDs: [0192a4f0-7c3e-7b1a-9f00-3d6c1e2a4b5c, 0192a4f0-7c3e-7b1a-9f00-3d6c1e2a4b5c]"),
			`The AgentGroup "dup-uid" is invalid: spec.excludedInstanceUIDs[1]: Duplicate value: "0192a4f0-7c3e-7b1a-9f00-3d6c1e2a4b5c"`),
		Entry("a disconnect threshold over 100 %", gatePolicy("disconnect-101", "\n  gates: {maxDisconnectPercent: 101}"),
			`The GatePolicy "disconnect-101" is invalid: spec.gates.maxDisconnectPercent: Invalid value: 101: spec.gates.maxDisconnectPercent in body should be less than or equal to 100`),
		Entry("a window starting at 25:00", gatePolicy("window-25", "\n  pushPolicies: [{name: night, selector: {matchAttributes: {a: b}}, deny: InsideWindows, windows: [{start: '25:00', end: '06:00'}]}]"),
			`The GatePolicy "window-25" is invalid: spec.pushPolicies[0].windows[0].start: Invalid value: "25:00": spec.pushPolicies[0].windows[0].start in body should match '^([01][0-9]|2[0-3]):[0-5][0-9]$'`),
		Entry("a window that ends when it starts", gatePolicy("window-empty", "\n  pushPolicies: [{name: night, selector: {matchAttributes: {a: b}}, deny: InsideWindows, windows: [{start: '06:00', end: '06:00'}]}]"),
			`The GatePolicy "window-empty" is invalid: spec.pushPolicies[0].windows[0]: Invalid value: start and end must differ`),
		Entry("a window on an unknown day", gatePolicy("window-day", "\n  pushPolicies: [{name: night, selector: {matchAttributes: {a: b}}, deny: InsideWindows, windows: [{days: [Funday], start: '01:00', end: '06:00'}]}]"),
			`The GatePolicy "window-day" is invalid:
* spec.pushPolicies[0].windows[0].days[0]: Unsupported value: "Funday": supported values: "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`),
		Entry("a windowed deny without windows", gatePolicy("deny-no-window", "\n  pushPolicies: [{name: freeze, selector: {matchAttributes: {a: b}}, deny: InsideWindows}]"),
			`The GatePolicy "deny-no-window" is invalid: spec.pushPolicies[0]: Invalid value: windows are required for InsideWindows and OutsideWindows, and not allowed for Always`),
		Entry("an Always deny with windows", gatePolicy("always-window", "\n  pushPolicies: [{name: freeze, selector: {matchAttributes: {a: b}}, windows: [{start: '01:00', end: '06:00'}]}]"),
			`The GatePolicy "always-window" is invalid: spec.pushPolicies[0]: Invalid value: windows are required for InsideWindows and OutsideWindows, and not allowed for Always`),
		Entry("two push policies of one name", gatePolicy("dup-policy", "\n  pushPolicies: [{name: freeze, selector: {matchAttributes: {a: b}}}, {name: freeze, selector: {matchAttributes: {c: d}}}]"),
			`The GatePolicy "dup-policy" is invalid: spec.pushPolicies[1]: Duplicate value: {"name":"freeze"}`),
		Entry("a push policy name with spaces", gatePolicy("policy-spaces", "\n  pushPolicies: [{name: Frozen Hosts, selector: {matchAttributes: {a: b}}}]"),
			`The GatePolicy "policy-spaces" is invalid: spec.pushPolicies[0].name: Invalid value: "Frozen Hosts": spec.pushPolicies[0].name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`),
		Entry("zero required approvals", gatePolicy("approvals-zero", "\n  requiredApprovals: {count: 0}"),
			`The GatePolicy "approvals-zero" is invalid: spec.requiredApprovals.count: Invalid value: 0: spec.requiredApprovals.count in body should be greater than or equal to 1`),
	)

	It("documents every field for kubectl explain", func(ctx SpecContext) {
		out, errOut, err := env.Kubectl(ctx, "", "explain", "rollouts.spec", "--recursive")
		Expect(err).NotTo(HaveOccurred(), errOut)
		for _, field := range []string{"agentGroup", "applyTimeout", "configMapRef", "inline", "gatePolicyRef",
			"maxDisconnectPercent", "progressDeadline", "paused", "exponential", "multiplier", "steps"} {
			Expect(out).To(MatchRegexp(`(?m)^\s+%s\s`, field))
		}

		out, errOut, err = env.Kubectl(ctx, "", "explain", "rollouts.spec.strategy.steps")
		Expect(err).NotTo(HaveOccurred(), errOut)
		Expect(out).To(ContainSubstring("steps are cumulative targets, all counts or all percentages"))

		// Every field of every kind, status included, carries a description.
		for _, plural := range []string{"rollouts", "agentgroups", "gatepolicies"} {
			var crd apiextensionsv1.CustomResourceDefinition
			Expect(env.Client.Get(ctx, client.ObjectKey{Name: plural + ".fleet.ampora.io"}, &crd)).To(Succeed())
			schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
			Expect(undocumented(plural, schema.Properties["spec"])).To(BeEmpty())
			Expect(undocumented(plural, schema.Properties["status"])).To(BeEmpty())
		}
	})
})

// undocumented lists the paths under s whose schema has no description.
func undocumented(path string, s apiextensionsv1.JSONSchemaProps) []string {
	var missing []string
	if s.Description == "" {
		missing = append(missing, path)
	}
	for name, p := range s.Properties {
		missing = append(missing, undocumented(path+"."+name, p)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		for name, p := range s.Items.Schema.Properties {
			missing = append(missing, undocumented(path+"[]."+name, p)...)
		}
	}
	return missing
}

// normalize trims what kubectl prints around its message, and trailing blanks of each line.
func normalize(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}
