package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

// scrape reads a /metrics page into its families.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// sample is the value of the family's series with exactly these labels (a histogram's
// count), or -1 when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return -1
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// The metrics docs/metrics.md promises, read from the /metrics pages of the real ampora
// opamp and ampora manager processes while a rollout denies, fails and applies.
var _ = Describe("Metrics", func() {
	It("count what docs/metrics.md says they count", func(ctx SpecContext) {
		bin, tokenFile := h.Operator()
		ports, err := testenv.FreePorts(4)
		Expect(err).NotTo(HaveOccurred())
		// Its Lease goes with it (specs after this one count the live replicas).
		DeferCleanup(func(ctx context.Context) {
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: harness.OperatorNamespace, Name: readapi.LeaseName("metrics-0")}}
			Expect(client.IgnoreNotFound(env.Client.Delete(ctx, l))).To(Succeed())
		})
		h.Process(bin, "opamp", "opamp", "--replica=metrics-0", "--namespace="+harness.OperatorNamespace,
			fmt.Sprintf("--listen=127.0.0.1:%d", ports[0]), fmt.Sprintf("--read-api-addr=127.0.0.1:%d", ports[1]),
			fmt.Sprintf("--read-api-url=http://127.0.0.1:%d", ports[1]), fmt.Sprintf("--probe-addr=127.0.0.1:%d", ports[2]),
			"--report-interval=200ms", "--lease-duration=5s", "--peer-token-file="+tokenFile, harness.AddressCheckFlag)
		h.Process(bin, "manager", "manager", "--namespace="+harness.OperatorNamespace, "--leader-elect=false",
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[3]), "--health-probe-bind-address=0",
			"--sidecar-token-file="+tokenFile, "--webhook-port=0", harness.AddressCheckFlag)
		url := fmt.Sprintf("ws://127.0.0.1:%d/v1/opamp", ports[0])
		sidecarMetrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2])
		managerMetrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3])
		Eventually(func() error { _, err := scrape(ctx, sidecarMetrics); return err }, 60*time.Second, 200*time.Millisecond).Should(Succeed())

		ns, token := h.Namespace("metrics")
		group(ns, "gateways", nil)
		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.DefaultGatePolicyName},
			Spec: fleetv1alpha1.GatePolicySpec{PushPolicies: []fleetv1alpha1.PushPolicy{{Name: "frozen-hosts", Deny: fleetv1alpha1.DenyAlways,
				Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"frozen": "true"}}}}}})).To(Succeed())

		By("an agent that connects once and leaves: admitted later with no live session")
		gone := harness.StartFleet(fleetsim.Options{URLs: []string{url}, Token: token, Agents: 1, Seed: 90, UIDPrefix: "gone"})
		Eventually(func() float64 {
			f, _ := scrape(ctx, sidecarMetrics)
			return sample(f, "ampora_opamp_connected_agents", nil)
		}, 30*time.Second).Should(Equal(1.0))
		gone.Stop()
		Eventually(func() float64 {
			f, _ := scrape(ctx, sidecarMetrics)
			return sample(f, "ampora_opamp_connected_agents", nil)
		}, 30*time.Second).Should(BeZero())

		By("a fleet of which some are frozen by a push policy and some fail: one batch of all")
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{url}, Token: token, Agents: 20, Seed: 91,
			Profiles: []fleetsim.Profile{
				{Name: "frozen", Fraction: 0.2, Attributes: map[string]string{"frozen": "true"}},
				{Name: "failing", Fraction: 0.3, Behavior: fleetsim.Behavior{FailWith: `exporter "otlp": connection refused`}},
			}})
		count := func(profile string) int {
			return fleet.Count(func(a *fleetsim.Agent) bool { return a.Profile == profile })
		}
		frozen, failing := count("frozen"), count("failing")
		applying := 20 - frozen - failing
		Expect(frozen).To(BeNumerically(">", 0))
		Expect(failing).To(BeNumerically(">", 0))
		Eventually(func() int32 {
			var g fleetv1alpha1.AgentGroup
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)
			return g.Status.ConnectedAgents
		}, 30*time.Second).Should(Equal(int32(20)))
		// One batch of every agent, and the agent that left times out soon, so that the
		// batch finishes.
		oneBatch := func(maxFailurePercent int32) func(*fleetv1alpha1.Rollout) {
			return func(r *fleetv1alpha1.Rollout) {
				all := fleetv1alpha1.FromInt(21)
				r.Spec.Strategy = fleetv1alpha1.RolloutStrategy{BatchSize: &all}
				r.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxFailurePercent: new(maxFailurePercent)}
				r.Spec.ApplyTimeout = durationPtr(3 * time.Second)
			}
		}
		rollout(ns, "r", "gateways", config("metrics"), oneBatch(10))
		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))

		By("the sidecar's")
		state := func(s fleetv1alpha1.AgentState) map[string]string {
			return map[string]string{"namespace": ns, "rollout": "r", "state": string(s)}
		}
		Eventually(func(g Gomega) {
			f, err := scrape(ctx, sidecarMetrics)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sample(f, "ampora_rollout_agents", state(fleetv1alpha1.AgentApplied))).To(Equal(float64(applying)))
			g.Expect(sample(f, "ampora_rollout_agents", state(fleetv1alpha1.AgentFailed))).To(Equal(float64(failing)))
			g.Expect(sample(f, "ampora_rollout_agents", state(fleetv1alpha1.AgentDenied))).To(Equal(float64(frozen)))
			g.Expect(sample(f, "ampora_rollout_agents", state(fleetv1alpha1.AgentTimedOut))).To(Equal(1.0), "the agent that left")
			g.Expect(sample(f, "ampora_rollout_agents", state(fleetv1alpha1.AgentUnhealthy))).To(BeZero(), "every state has its series, zeros too")
			g.Expect(sample(f, "ampora_policy_denied_total", map[string]string{"policy": "frozen-hosts"})).To(Equal(float64(frozen)),
				"once per denied agent and desired config")
			g.Expect(sample(f, "ampora_opamp_apply_duration_seconds", map[string]string{"agent_type": "otelcol"})).To(Equal(float64(applying)),
				"one observation per APPLIED")
			// Offers to the applying and the failing agents; none to the frozen.
			g.Expect(sample(f, "ampora_dispatch_local_total", nil)).To(BeNumerically(">=", applying+failing))
			g.Expect(sample(f, "ampora_dispatch_no_session_total", nil)).To(BeNumerically(">=", 1), "the agent that left")
			g.Expect(sample(f, "ampora_opamp_registry_agents", nil)).To(Equal(21.0), "the one that left stays for an hour")
			g.Expect(sample(f, "ampora_opamp_connected_agents", nil)).To(Equal(20.0))
			g.Expect(sample(f, "ampora_opamp_messages_total", map[string]string{"type": "remote_config_status"})).To(BeNumerically(">=", applying+failing))
			g.Expect(sample(f, "ampora_opamp_status_writes_total", map[string]string{"kind": "Rollout"})).To(BeNumerically(">=", 1))
			g.Expect(sample(f, "ampora_opamp_status_writes_total", map[string]string{"kind": "AgentGroup"})).To(BeNumerically(">=", 1))
		}, 30*time.Second, 500*time.Millisecond).Should(Succeed())

		By("the manager's")
		Eventually(func(g Gomega) {
			f, err := scrape(ctx, managerMetrics)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sample(f, "ampora_gate_evaluations_total", map[string]string{"gate": string(fleetv1alpha1.GateFailureRatio), "result": "Breach"})).
				To(BeNumerically(">=", 1))
		}, 30*time.Second, 500*time.Millisecond).Should(Succeed())

		By("and a pass: the paused rollout aborted, the next one's threshold allows the failures")
		annotate(ns, "r", fleetv1alpha1.ActionAbort)
		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutAborted))
		rollout(ns, "r2", "gateways", config("metrics-again"), oneBatch(100))
		Eventually(phase(ns, "r2"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		f, err := scrape(ctx, managerMetrics)
		Expect(err).NotTo(HaveOccurred())
		Expect(sample(f, "ampora_gate_evaluations_total", map[string]string{"gate": "all", "result": "Pass"})).To(BeNumerically(">=", 1))
	})
})
