package gitops_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/gitops"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
	// update rewrites the captured testdata and health_test.yaml from the running system.
	update = os.Getenv("AMPORA_UPDATE_TESTDATA") == "1"
)

func TestGitOps(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "GitOps suite")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	h = &harness.H{Env: env}
	h.Setup()
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

const validConfig = "receivers:\n  otlp:\n    protocols:\n      grpc: {}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"

// scenario is a namespace with a group, a small fleet and one rollout.
type scenario struct {
	ns, token string
}

func newScenario(sc *harness.Sidecar, prefix string, b fleetsim.Behavior) scenario {
	GinkgoHelper()
	ns, token := h.Namespace(prefix)
	Expect(env.Client.Create(context.Background(), &fleetv1alpha1.AgentGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"},
		Spec:       fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}},
	})).To(Succeed())
	harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 4, Seed: 21, UIDPrefix: prefix, Default: fleetsim.Profile{Behavior: b}})
	return scenario{ns: ns, token: token}
}

func (s scenario) rollout(name, body string, mutate func(*fleetv1alpha1.Rollout)) {
	GinkgoHelper()
	bs := fleetv1alpha1.FromPercent(50)
	r := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "gateways", Config: fleetv1alpha1.RolloutConfig{Inline: &body},
			Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs}}}
	if mutate != nil {
		mutate(r)
	}
	Expect(env.Client.Create(context.Background(), r)).To(Succeed())
}

func phaseOf(ns, name string) func() fleetv1alpha1.RolloutPhase {
	return func() fleetv1alpha1.RolloutPhase {
		var r fleetv1alpha1.Rollout
		_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &r)
		return r.Status.Phase
	}
}

// capture reads an object as Argo CD and kstatus would see it, without managedFields.
func capture(kind, ns, name string) *unstructured.Unstructured {
	GinkgoHelper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(fleetv1alpha1.GroupVersion.String())
	u.SetKind(kind)
	Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)).To(Succeed())
	u.SetManagedFields(nil)
	return u
}

// verdict is what a captured object must give, in Argo CD and in kstatus.
type verdict struct {
	file    string
	kind    string
	obj     *unstructured.Unstructured
	health  string
	kstatus status.Status
}

var _ = Describe("Argo CD health and kstatus", func() {
	It("judges real objects in every phase as Argo CD and Flux expect", func(ctx SpecContext) {
		sc := h.StartSidecar("gitops-0")
		h.StartManager()
		var cases []verdict

		done := newScenario(sc, "completed", fleetsim.Behavior{})
		done.rollout("r", validConfig, nil)
		Eventually(phaseOf(done.ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		completed := capture("Rollout", done.ns, "r")
		cases = append(cases,
			verdict{"completed.yaml", "Rollout", completed, "Healthy", status.CurrentStatus},
			verdict{"agentgroup.yaml", "AgentGroup", capture("AgentGroup", done.ns, "gateways"), "Healthy", status.CurrentStatus})

		// The same object, edited but not yet observed.
		unobserved := completed.DeepCopy()
		unobserved.SetGeneration(completed.GetGeneration() + 1)
		cases = append(cases, verdict{"not-observed.yaml", "Rollout", unobserved, "Progressing", status.InProgressStatus})

		gate := newScenario(sc, "gate", fleetsim.Behavior{FailWith: "unknown exporter \"otlp\""})
		gate.rollout("r", validConfig, nil)
		Eventually(phaseOf(gate.ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		cases = append(cases, verdict{"paused-gate.yaml", "Rollout", capture("Rollout", gate.ns, "r"), "Degraded", status.FailedStatus})

		manual := newScenario(sc, "manual", fleetsim.Behavior{})
		manual.rollout("r", validConfig, func(r *fleetv1alpha1.Rollout) { r.Spec.Paused = true })
		Eventually(phaseOf(manual.ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		cases = append(cases, verdict{"paused-manual.yaml", "Rollout", capture("Rollout", manual.ns, "r"), "Suspended", status.InProgressStatus})
		manual.rollout("second", validConfig+"# b\n", nil)
		Eventually(phaseOf(manual.ns, "second"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutBlocked))
		cases = append(cases, verdict{"blocked.yaml", "Rollout", capture("Rollout", manual.ns, "second"), "Progressing", status.InProgressStatus})

		slow := newScenario(sc, "slow", fleetsim.Behavior{ApplyDelay: fleetsim.UniformDelay(time.Hour, time.Hour)})
		slow.rollout("r", validConfig, nil)
		Eventually(func() int32 {
			var r fleetv1alpha1.Rollout
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: slow.ns, Name: "r"}, &r)
			return r.Status.BatchCounts.Applying
		}, 30*time.Second).Should(Equal(int32(2)))
		cases = append(cases, verdict{"progressing.yaml", "Rollout", capture("Rollout", slow.ns, "r"), "Progressing", status.InProgressStatus})

		bad := newScenario(sc, "invalid", fleetsim.Behavior{})
		bad.rollout("r", "receivers: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n", nil)
		Eventually(phaseOf(bad.ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutFailed))
		cases = append(cases, verdict{"invalid-config.yaml", "Rollout", capture("Rollout", bad.ns, "r"), "Degraded", status.FailedStatus})

		back := newScenario(sc, "rollback", fleetsim.Behavior{})
		back.rollout("r", validConfig, nil)
		Eventually(phaseOf(back.ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		_, errOut, err := env.Kubectl(ctx, "", "-n", back.ns, "annotate", "rollout", "r", "fleet.ampora.io/action=rollback")
		Expect(err).NotTo(HaveOccurred(), errOut)
		Eventually(phaseOf(back.ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutRolledBack))
		cases = append(cases, verdict{"rolled-back.yaml", "Rollout", capture("Rollout", back.ns, "r"), "Degraded", status.FailedStatus})

		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: done.ns, Name: "strict"},
			Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(1))}}})).To(Succeed())
		Eventually(func() int64 {
			return capture("GatePolicy", done.ns, "strict").GetGeneration() - observed(capture("GatePolicy", done.ns, "strict"))
		},
			20*time.Second).Should(BeZero())
		cases = append(cases, verdict{"gatepolicy.yaml", "GatePolicy", capture("GatePolicy", done.ns, "strict"), "Healthy", status.CurrentStatus})

		guarded := newScenario(sc, "approval", fleetsim.Behavior{})
		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: guarded.ns, Name: "production"},
			Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(5))},
				RequiredApprovals: &fleetv1alpha1.ApprovalRequirement{Count: 1}}})).To(Succeed())
		guarded.rollout("r", validConfig, func(r *fleetv1alpha1.Rollout) {
			r.Spec.GatePolicyRef = &fleetv1alpha1.LocalObjectReference{Name: "production"}
		})
		Eventually(func() string { return readyReason(capture("Rollout", guarded.ns, "r")) }, 30*time.Second).Should(Equal(fleetv1alpha1.ReasonAwaitingApproval))
		cases = append(cases, verdict{"awaiting-approval.yaml", "Rollout", capture("Rollout", guarded.ns, "r"), "Suspended", status.InProgressStatus})
		Eventually(func() int64 { return observed(capture("GatePolicy", guarded.ns, "production")) }, 20*time.Second).Should(BeNumerically(">", 0))
		_, errOut, err = env.Kubectl(ctx, "", "-n", guarded.ns, "patch", "gatepolicy", "production", "--type=merge", "-p", `{"spec":{"gates":{"maxFailurePercent":50}}}`)
		Expect(err).NotTo(HaveOccurred(), errOut)
		Eventually(func() string { return readyReason(capture("GatePolicy", guarded.ns, "production")) }, 30*time.Second).Should(Equal(fleetv1alpha1.ReasonAwaitingApproval))
		cases = append(cases, verdict{"change-awaiting-approval.yaml", "GatePolicy", capture("GatePolicy", guarded.ns, "production"), "Suspended", status.InProgressStatus})

		tests := map[string][]healthCase{}
		for _, c := range cases {
			h, err := gitops.HealthOf(c.kind, c.obj.Object)
			Expect(err).NotTo(HaveOccurred())
			Expect(h.Status).To(Equal(c.health), "%s: %s", c.file, h.Message)
			res, err := status.Compute(c.obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(c.kstatus), "%s: kstatus says %s", c.file, res.Message)
			tests[c.kind] = append(tests[c.kind], healthCase{HealthStatus: h, InputPath: "testdata/" + c.file})
			if update {
				writeYAML(filepath.Join(gitops.Dir(c.kind), "testdata", c.file), scrub(c.obj))
			}
		}
		if update {
			for kind, cs := range tests {
				sort.Slice(cs, func(i, j int) bool { return cs[i].InputPath < cs[j].InputPath })
				writeYAML(filepath.Join(gitops.Dir(kind), "health_test.yaml"), healthTests{Tests: cs})
			}
		}
	})
})

func readyReason(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == fleetv1alpha1.ConditionReady {
			r, _ := m["reason"].(string)
			return r
		}
	}
	return ""
}

func observed(u *unstructured.Unstructured) int64 {
	g, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return g
}

// scrub removes what differs from run to run and means nothing to a health check.
func scrub(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	c.SetNamespace("demo")
	return c.Object
}

type healthCase struct {
	HealthStatus gitops.Health `json:"healthStatus"`
	InputPath    string        `json:"inputPath"`
}

type healthTests struct {
	Tests []healthCase `json:"tests"`
}

func writeYAML(path string, v any) {
	GinkgoHelper()
	b, err := yaml.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(path, b, 0o644)).To(Succeed())
}

// The checked-in cases, in Argo CD's own test layout, hold without a cluster.
var _ = Describe("Argo CD customizations as checked in", func() {
	for _, kind := range []string{"Rollout", "AgentGroup", "GatePolicy"} {
		It(fmt.Sprintf("gives the recorded health for every %s test case", kind), func() {
			raw, err := os.ReadFile(filepath.Join(gitops.Dir(kind), "health_test.yaml"))
			Expect(err).NotTo(HaveOccurred())
			var ht healthTests
			Expect(yaml.Unmarshal(raw, &ht)).To(Succeed())
			Expect(ht.Tests).NotTo(BeEmpty())
			for _, c := range ht.Tests {
				obj, err := gitops.ReadObject(filepath.Join(gitops.Dir(kind), c.InputPath))
				Expect(err).NotTo(HaveOccurred())
				got, err := gitops.HealthOf(kind, obj)
				Expect(err).NotTo(HaveOccurred())
				Expect(got).To(Equal(c.HealthStatus), c.InputPath)
			}
		})
	}

	It("offers actions that annotate the Rollout and nothing else", func() {
		paused, err := gitops.ReadObject(filepath.Join(gitops.Dir("Rollout"), "testdata", "paused-gate.yaml"))
		Expect(err).NotTo(HaveOccurred())
		actions, err := gitops.Discover("Rollout", paused)
		Expect(err).NotTo(HaveOccurred())
		Expect(actions).To(Equal(map[string]bool{"resume": false, "abort": false, "rollback": false, "retry": false}))

		completed, err := gitops.ReadObject(filepath.Join(gitops.Dir("Rollout"), "testdata", "completed.yaml"))
		Expect(err).NotTo(HaveOccurred())
		actions, err = gitops.Discover("Rollout", completed)
		Expect(err).NotTo(HaveOccurred())
		Expect(actions).To(Equal(map[string]bool{"resume": true, "abort": true, "rollback": false, "retry": true}))

		for _, a := range []string{"resume", "abort", "rollback", "retry"} {
			out, err := gitops.Act("Rollout", a, paused)
			Expect(err).NotTo(HaveOccurred())
			before, _ := yaml.Marshal(paused["spec"])
			after, _ := yaml.Marshal(out["spec"])
			Expect(string(after)).To(Equal(string(before)), "action %s changed spec", a)
			ann := out["metadata"].(map[string]any)["annotations"].(map[string]any)
			Expect(ann).To(HaveKeyWithValue("fleet.ampora.io/action", a))
		}
	})
})
