package plugin_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

const failMessage = `exporter "otlp": connection refused`

var _ = Describe("kubectl ampora", func() {
	var sc *harness.Sidecar

	BeforeEach(func() {
		sc = h.StartSidecar("plugin-0")
		h.StartManager()
	})

	It("shows, explains and resumes a rollout a gate paused, and retries its failed agents", func(ctx SpecContext) {
		ns, token := h.Namespace("gate")
		group(ns, "gateways")
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20, Seed: 7,
			Profiles: []fleetsim.Profile{{Name: "failing", Fraction: 0.5,
				Attributes: map[string]string{"service.version": "0.148.0"},
				Behavior:   fleetsim.Behavior{FailWith: failMessage}}}})
		body := config("gate")
		var failing []string
		for _, a := range firstByRank(fleet, hash(body), 10) {
			if a.Profile == "failing" {
				failing = append(failing, a.UID.String())
			}
		}
		sort.Strings(failing)
		Expect(len(failing)).To(BeNumerically(">=", 2), "the seed must put failing agents in batch 1")
		rollout(ns, "gated", "gateways", body, func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(10))}
		})
		Eventually(phase(ns, "gated"), time.Minute).Should(Equal(fleetv1alpha1.RolloutPaused))
		breach := fmt.Sprintf("failure-ratio: %d %% > 10 %%", len(failing)*10)
		Expect(get(ns, "gated").Status.Pause.Message).To(Equal(breach))

		By("status: the tree, and exit code 2 while paused")
		res := plugin("status", "gated", "-n", ns)
		Expect(res.code).To(Equal(2), "%s", res.out+res.err)
		Expect(res.out).To(HavePrefix(fmt.Sprintf("Rollout %s/gated: Paused (GateBreach)\n", ns)))
		Expect(res.out).To(ContainSubstring("├─ Batch           1 of 2: Evaluating"))
		Expect(res.out).To(MatchRegexp(`│  ├─ batch 1 +10 agents  10 cumulative  current\n`))
		Expect(res.out).To(MatchRegexp(`│  └─ batch 2 +10 agents  20 cumulative  next\n`))
		Expect(res.out).To(MatchRegexp(`│  ├─ failed +%d +%d\n`, len(failing), len(failing)))
		Expect(res.out).To(MatchRegexp(`│  ├─ applied +%d +%d\n`, 10-len(failing), 10-len(failing)))
		Expect(res.out).To(ContainSubstring("├─ Paused          " + breach + "\n"))
		Expect(res.out).To(ContainSubstring("│  ├─ gate         failure-ratio\n"))
		Expect(res.out).To(ContainSubstring(fmt.Sprintf("│  ├─ observed     %d %% (threshold 10 %%)\n", len(failing)*10)))

		By("why: the gate breach, the errors grouped with their version, and the verdict")
		res = plugin("why", "gated", "-n", ns)
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(res.out).To(ContainSubstring("\n4. Gates\n   " + breach + "\n"))
		Expect(res.out).To(ContainSubstring(fmt.Sprintf("\n6. Top errors\n   %d agents on 0.148.0 ×%d: %s\n", len(failing), len(failing), failMessage)))
		Expect(res.out).To(ContainSubstring("read API: 1 of 1 replicas answered, 10 agents admitted"))
		Expect(res.out).To(MatchRegexp(`plugin-0: live, renewed .* ago; reported .* ago on batch 1, 20 connected; read API http://`))
		Expect(res.out).To(ContainSubstring("\n2. Engine\n   status last evaluated "))
		verdict := lastLine(res.out)
		Expect(verdict).To(HavePrefix("Verdict: gate failure-ratio paused batch 1 (" + breach + ")"))
		Expect(verdict).To(ContainSubstring(fmt.Sprintf("top error, %d agents on 0.148.0 ×%d: %s", len(failing), len(failing), failMessage)))
		Expect(verdict).To(HaveSuffix("resume with: kubectl ampora resume gated -n " + ns))

		By("agents --state failed: exactly the failed agents, with their message")
		res = plugin("agents", "gated", "-n", ns, "--state", "failed")
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		lines := strings.Split(strings.TrimSpace(res.out), "\n")
		Expect(lines[0]).To(MatchRegexp(`^INSTANCE UID +STATE +SERVICE +VERSION +HOST +REPLICA +CONNECTED +MESSAGE$`))
		var listed []string
		for _, l := range lines[1:] {
			Expect(l).To(MatchRegexp(`^[0-9a-f-]{36} +Failed +otelcol +0\.148\.0 +host-\d+ +plugin-0 +yes +` + regexp.QuoteMeta(failMessage) + `$`))
			listed = append(listed, strings.Fields(l)[0])
		}
		Expect(listed).To(Equal(failing))

		By("plan: the batch sizes for the group, and for another size")
		res = plugin("plan", "gated", "-n", ns)
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(res.out).To(ContainSubstring(fmt.Sprintf("Rollout %s/gated: batchSize 10, for 20 agents (AgentGroup gateways matches now)\n", ns)))
		Expect(planRows(res.out)).To(Equal([][]string{{"1", "10", "10", "50%"}, {"2", "10", "20", "100%"}}))
		Expect(res.out).To(ContainSubstring("2 batches, 20 agents\n"))
		res = plugin("plan", "gated", "-n", ns, "--agents", "25")
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(planRows(res.out)).To(Equal([][]string{{"1", "10", "10", "40%"}, {"2", "10", "20", "80%"}, {"3", "5", "25", "100%"}}))
		Expect(res.out).To(ContainSubstring("The running revision " + get(ns, "gated").Status.Revision + " planned 2 batches for 20 agents when it started."))

		By("retry: the engine handles it, naming the requesting user")
		res = plugin("retry", "gated", "-n", ns)
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(res.out).To(HavePrefix(fmt.Sprintf("rollout %s/gated: retry requested by %s\n", ns, user)))
		Eventually(func() *fleetv1alpha1.ActionRecord { return get(ns, "gated").Status.LastAction }, 30*time.Second).Should(And(
			Not(BeNil()), HaveField("Action", fleetv1alpha1.ActionRetry), HaveField("RequestedBy", user)))
		Eventually(func() []string { return events(ns, "gated") }, 10*time.Second).Should(
			ContainElement("Retrying: retry of failed agents requested by " + user))
		Expect(get(ns, "gated").Annotations).NotTo(HaveKey(fleetv1alpha1.AnnotationAction))
		// The agents fail again, and the gate pauses the batch again.
		Eventually(phase(ns, "gated"), time.Minute).Should(Equal(fleetv1alpha1.RolloutPaused))

		By("resume, after raising the threshold: the rollout completes and status exits 0")
		ro := get(ns, "gated")
		orig := ro.DeepCopy()
		ro.Spec.Gates.MaxFailurePercent = new(int32(100))
		Expect(env.Client.Patch(ctx, ro, client.MergeFrom(orig))).To(Succeed())
		res = plugin("resume", "gated", "-n", ns)
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(res.out).To(HavePrefix(fmt.Sprintf("rollout %s/gated: resume requested by %s\n", ns, user)))
		res = plugin("status", "gated", "-n", ns, "--watch", "--timeout", "90s")
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(res.out).To(ContainSubstring(fmt.Sprintf("Rollout %s/gated: Completed\n", ns)))
		Expect(res.out).To(MatchRegexp(`│  ├─ batch 1 +10 agents  10 cumulative  done\n`))
		Expect(res.out).To(MatchRegexp(`│  └─ batch 2 +10 agents  20 cumulative  done\n`))
		ro = get(ns, "gated")
		Expect(ro.Status.LastAction.Action).To(Equal(fleetv1alpha1.ActionResume))
		Expect(ro.Status.LastAction.RequestedBy).To(Equal(user))
		Expect(events(ns, "gated")).To(ContainElement("Resumed: resume requested by " + user))
		res = plugin("status", "gated", "-n", ns)
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(lastLine(plugin("why", "gated", "-n", ns).out)).To(HavePrefix("Verdict: completed: "))
	})

	It("pauses on request, times out a watch, and aborts, naming the requesting user", func(ctx SpecContext) {
		ns, token := h.Namespace("abort")
		group(ns, "gateways")
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 10, Seed: 3})
		rollout(ns, "baking", "gateways", config("abort"), func(r *fleetv1alpha1.Rollout) {
			bs := fleetv1alpha1.FromInt(5)
			r.Spec.Strategy.BatchSize = &bs
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{BakeTime: &metav1.Duration{Duration: time.Hour}}
		})
		Eventually(func() fleetv1alpha1.BatchPhase {
			if b := get(ns, "baking").Status.CurrentBatch; b != nil {
				return b.Phase
			}
			return ""
		}, time.Minute).Should(Equal(fleetv1alpha1.BatchBaking))

		By("status --watch gives up after --timeout with exit code 3 while the batch bakes")
		start := time.Now()
		res := plugin("status", "baking", "-n", ns, "--watch", "--timeout", "3s")
		Expect(res.code).To(Equal(3), "%s", res.out+res.err)
		Expect(time.Since(start)).To(BeNumerically("<", 30*time.Second))
		Expect(res.err).To(ContainSubstring(fmt.Sprintf("timed out after 3s: rollout %s/baking is Progressing", ns)))
		Expect(res.out).To(ContainSubstring("├─ Batch           1 of 2: Baking, baking until "))

		By("status without --watch: exit code 4 while in progress")
		Expect(plugin("status", "baking", "-n", ns).code).To(Equal(4))

		By("pause sets spec.paused; status exits 2; why says how to resume")
		res = plugin("pause", "baking", "-n", ns)
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(res.out).To(HavePrefix(fmt.Sprintf("rollout %s/baking: pause requested (spec.paused=true)", ns)))
		Expect(get(ns, "baking").Spec.Paused).To(BeTrue())
		Eventually(phase(ns, "baking"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		res = plugin("status", "baking", "-n", ns)
		Expect(res.code).To(Equal(2), "%s", res.out+res.err)
		Expect(res.out).To(HavePrefix(fmt.Sprintf("Rollout %s/baking: Paused (Manual)\n", ns)))
		Expect(res.out).To(ContainSubstring("├─ Paused          paused by spec.paused\n"))
		Expect(lastLine(plugin("why", "baking", "-n", ns).out)).To(Equal("Verdict: paused by spec.paused; resume with: kubectl ampora resume baking -n " + ns))

		By("why without a bearer token says so and goes on with status")
		res = pluginWith(env.Kubeconfig, "why", "baking", "-n", ns)
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(res.out).To(ContainSubstring("read API not available, going on with what status shows"))
		Expect(res.out).To(ContainSubstring("read API: the kubeconfig user has no bearer token"))
		Expect(res.out).To(ContainSubstring("\n11. Flapping agents\n   needs the read API\n"))
		Expect(lastLine(res.out)).To(HavePrefix("Verdict: paused by spec.paused"))

		By("abort: the engine handles it and the rollout ends Aborted; status exits 1")
		res = plugin("abort", "baking", "-n", ns)
		Expect(res.code).To(BeZero(), "%s", res.out+res.err)
		Expect(res.out).To(HavePrefix(fmt.Sprintf("rollout %s/baking: abort requested by %s\n", ns, user)))
		Eventually(phase(ns, "baking"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutAborted))
		ro := get(ns, "baking")
		Expect(ro.Status.LastAction.Action).To(Equal(fleetv1alpha1.ActionAbort))
		Expect(ro.Status.LastAction.RequestedBy).To(Equal(user))
		Expect(ro.Annotations).NotTo(HaveKey(fleetv1alpha1.AnnotationAction))
		Eventually(func() []string { return events(ns, "baking") }, 10*time.Second).Should(
			ContainElement("Aborted: abort requested by " + user))
		res = plugin("status", "baking", "-n", ns)
		Expect(res.code).To(Equal(1), "%s", res.out+res.err)
		Expect(res.out).To(ContainSubstring(fmt.Sprintf("└─ Last action     abort by %s, ", user)))

		By("-A finds the rollout by name; an unknown one exits 5")
		res = plugin("status", "baking", "-A")
		Expect(res.code).To(Equal(1), "%s", res.out+res.err)
		Expect(res.out).To(HavePrefix(fmt.Sprintf("Rollout %s/baking: Aborted\n", ns)))
		res = plugin("status", "nope", "-n", ns)
		Expect(res.code).To(Equal(5))
		Expect(res.err).To(ContainSubstring(fmt.Sprintf(`rollout "nope" not found in namespace %q`, ns)))
	})
})

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// planRows are the rows of plan's table, as fields.
func planRows(out string) [][]string {
	row := regexp.MustCompile(`^ *\d+ +\d+ +\d+ +[\d.]+% *$`)
	var rows [][]string
	for _, l := range strings.Split(out, "\n") {
		if row.MatchString(l) {
			rows = append(rows, strings.Fields(l))
		}
	}
	return rows
}

// config returns a valid collector config; the marker makes each one distinct.
func config(marker string) string { return harness.CollectorConfig(marker) }

func hash(body string) string { return collectorconfig.Hash([]byte(body)) }

func group(ns, name string) {
	GinkgoHelper()
	g := &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}}}
	Expect(env.Client.Create(context.Background(), g)).To(Succeed())
}

func rollout(ns, name, groupName, body string, mutate ...func(*fleetv1alpha1.Rollout)) {
	GinkgoHelper()
	bs := fleetv1alpha1.FromInt(10)
	r := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: groupName, Config: fleetv1alpha1.RolloutConfig{Inline: &body},
			Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs}}}
	for _, m := range mutate {
		m(r)
	}
	Expect(env.Client.Create(context.Background(), r)).To(Succeed())
}

func get(ns, name string) *fleetv1alpha1.Rollout {
	GinkgoHelper()
	r := &fleetv1alpha1.Rollout{}
	Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, r)).To(Succeed())
	return r
}

func phase(ns, name string) func() fleetv1alpha1.RolloutPhase {
	return func() fleetv1alpha1.RolloutPhase { return get(ns, name).Status.Phase }
}

// firstByRank returns the n agents with the lowest rank under hash: those batch 1 of n admits.
func firstByRank(f *fleetsim.Fleet, hash string, n int) []*fleetsim.Agent {
	agents := append([]*fleetsim.Agent(nil), f.Agents...)
	sort.Slice(agents, func(i, j int) bool {
		return membership.Rank(hash, agents[i].UID.String()) < membership.Rank(hash, agents[j].UID.String())
	})
	return agents[:n]
}
