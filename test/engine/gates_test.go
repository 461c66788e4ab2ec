package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

// The gates, strategies and timeouts against the real processes: a real API server, the
// ampora manager and sidecar, and simulated agents over real OpAMP sessions.
var _ = Describe("Gates, strategies and timeouts", func() {
	var sc *harness.Sidecar

	BeforeEach(func() {
		sc = h.StartSidecar("engine-0")
		h.StartManager()
	})

	// batch1 counts the agents of the first 10 by rank (batch 1 of a 10-agent batch size) that
	// have the profile.
	batch1 := func(fleet *fleetsim.Fleet, body, profile string) int {
		n := 0
		for _, a := range firstByRank(fleet, hashOf(body), 10) {
			if a.Profile == profile {
				n++
			}
		}
		return n
	}

	DescribeTable("pause batch 1 at the gate that breached, saying what they saw",
		func(ctx SpecContext, behavior fleetsim.Behavior, gates fleetv1alpha1.GateThresholds, gate fleetv1alpha1.GateName,
			reason fleetv1alpha1.PauseReason, message func(inBatch int) string) {
			ns, token := h.Namespace("gate-" + string(gate))
			group(ns, "gateways", nil)
			fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20, Seed: 7,
				Profiles: []fleetsim.Profile{{Name: "odd", Fraction: 0.5, Behavior: behavior}}})
			body := config("gate-" + string(gate))
			inBatch := batch1(fleet, body, "odd")
			Expect(inBatch).To(BeNumerically(">=", 2), "the seed must put odd agents in batch 1")
			rollout(ns, "r", "gateways", body, func(r *fleetv1alpha1.Rollout) { r.Spec.Gates = &gates })

			Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
			p := get(ns, "r").Status.Pause
			Expect(p).NotTo(BeNil())
			Expect(p.Gate).To(Equal(gate))
			Expect(p.Reason).To(Equal(reason))
			Expect(p.Batch).To(Equal(int32(1)))
			Expect(p.Message).To(MatchRegexp("^" + message(inBatch) + "$"))
			Consistently(func() int32 { return get(ns, "r").Status.CurrentBatch.Number }, 2*time.Second).Should(Equal(int32(1)), "batch 2 starts")
		},
		Entry("disconnect-ratio: agents that drop their session after the push and stay away",
			fleetsim.Behavior{DisconnectAfterPush: true},
			fleetv1alpha1.GateThresholds{MaxDisconnectPercent: new(int32(10)), MaxFailurePercent: new(int32(100)), DisconnectGrace: durationPtr(2 * time.Second)},
			fleetv1alpha1.GateDisconnectRatio, fleetv1alpha1.PauseGateBreach,
			func(n int) string { return fmt.Sprintf("disconnect-ratio: %d %% > 10 %%", n*10) }),
		Entry("unhealthy-ratio: agents that apply, then report themselves unhealthy",
			fleetsim.Behavior{UnhealthyAfterApply: `exporter "otlp": queue is full`},
			fleetv1alpha1.GateThresholds{MaxUnhealthyPercent: new(int32(10))},
			fleetv1alpha1.GateUnhealthyRatio, fleetv1alpha1.PauseGateBreach,
			func(n int) string { return fmt.Sprintf("unhealthy-ratio: %d %% > 10 %%", n*10) }),
		Entry("failures: more failed agents than the absolute limit, whatever their share",
			fleetsim.Behavior{FailWith: `exporter "otlp": connection refused`},
			fleetv1alpha1.GateThresholds{MaxFailures: new(int32(1)), MaxFailurePercent: new(int32(100))},
			fleetv1alpha1.GateFailures, fleetv1alpha1.PauseGateBreach,
			func(n int) string { return fmt.Sprintf("failures: %d > 1", n) }),
		Entry("apply-duration-p95: agents that take seconds to apply, against a one-second limit",
			fleetsim.Behavior{ApplyDelay: func(*rand.Rand) time.Duration { return 3 * time.Second }},
			fleetv1alpha1.GateThresholds{MaxApplyDurationP95: &metav1.Duration{Duration: time.Second}},
			fleetv1alpha1.GateApplyDurationP95, fleetv1alpha1.PauseGateBreach,
			func(int) string { return `apply-duration-p95: [0-9.]+s > 1s` }),
		Entry("min-sample: fewer finished agents than the sample a ratio needs: inconclusive, never passed",
			fleetsim.Behavior{},
			fleetv1alpha1.GateThresholds{MinSampleSize: new(int32(50))},
			fleetv1alpha1.GateMinSample, fleetv1alpha1.PauseGateInconclusive,
			func(int) string { return "min-sample: 10 finished agents < 50" }),
	)

	DescribeTable("size the batches by the strategy, and complete",
		func(ctx SpecContext, strategy fleetv1alpha1.RolloutStrategy, plan []int32) {
			ns, token := h.Namespace("strategy")
			group(ns, "gateways", nil)
			fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20, Seed: 3})
			body := config(fmt.Sprint(plan))
			rollout(ns, "r", "gateways", body, func(r *fleetv1alpha1.Rollout) { r.Spec.Strategy = strategy })

			Eventually(phase(ns, "r"), 90*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
			ro := get(ns, "r")
			Expect(ro.Status.Plan).To(Equal(plan))
			Expect(ro.Status.Counts.Applied).To(Equal(int32(20)))
			Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hashOf(body) })).To(Equal(20))
			var want []string
			for i, n := range plan {
				want = append(want, fmt.Sprintf("BatchStarted: batch %d of %d started: %d agents", i+1, len(plan), n))
			}
			Eventually(func() []string { return events(ns, "r") }, 10*time.Second).Should(ContainElements(want))
		},
		Entry("steps: cumulative targets, then the rest",
			fleetv1alpha1.RolloutStrategy{Steps: []fleetv1alpha1.BatchSize{fleetv1alpha1.FromPercent(10), fleetv1alpha1.FromPercent(50)}},
			[]int32{2, 8, 10}),
		Entry("exponential: doubling from 2, capped at 8",
			fleetv1alpha1.RolloutStrategy{Exponential: &fleetv1alpha1.ExponentialStrategy{Initial: fleetv1alpha1.FromInt(2), Multiplier: 2,
				MaxBatchSize: new(fleetv1alpha1.FromInt(8))}},
			[]int32{2, 4, 8, 6}),
	)

	It("times out agents that do not finish within the apply timeout, and those never offered the config", func(ctx SpecContext) {
		ns, token := h.Namespace("timeout")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 10, Seed: 5,
			Profiles: []fleetsim.Profile{
				{Name: "slow", Fraction: 0.2, Behavior: fleetsim.Behavior{ApplyDelay: func(*rand.Rand) time.Duration { return time.Hour }}},
				// A capability mismatch: never offered, so it cannot finish either.
				{Name: "read-only", Fraction: 0.2, Behavior: fleetsim.Behavior{NoAcceptRemoteConfig: true}},
				// The other mismatch: it applies but never says so; its effective config is
				// the evidence.
				{Name: "silent", Fraction: 0.2, Behavior: fleetsim.Behavior{NoRemoteConfigStatus: true}},
			}})
		body := config("timeout")
		rollout(ns, "r", "gateways", body, func(r *fleetv1alpha1.Rollout) {
			r.Spec.ApplyTimeout = durationPtr(3 * time.Second)
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(100))}
		})

		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro := get(ns, "r")
		Expect(ro.Status.Counts.TimedOut).To(Equal(int32(4)), "the slow and the read-only agents")
		Expect(ro.Status.Counts.Applied).To(Equal(int32(6)), "the others, the silent ones by their effective config")
		messages := map[string]int{}
		for _, f := range ro.Status.FailedAgents {
			Expect(f.State).To(Equal(fleetv1alpha1.AgentTimedOut))
			messages[f.Message]++
		}
		Expect(messages).To(HaveKey("not offered the config within the apply timeout"))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.Profile == "silent" && a.EffectiveHash() == hashOf(body) })).To(Equal(2))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.Profile == "read-only" && len(a.Received()) > 0 })).To(BeZero(),
			"an agent that does not accept remote config was offered one")
	})

	It("takes unset gates from the operator namespace's default GatePolicy, below the namespace's own, and shows them in status.effectiveGates", func(ctx SpecContext) {
		operatorDefault := &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: harness.OperatorNamespace, Name: fleetv1alpha1.DefaultGatePolicyName},
			Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(37)), MaxUnhealthyPercent: new(int32(3))}}}
		Expect(env.Client.Create(ctx, operatorDefault)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(env.Client.Delete(ctx, operatorDefault)).To(Succeed()) })

		effective := func(ns string) func() *fleetv1alpha1.EffectiveGates {
			return func() *fleetv1alpha1.EffectiveGates { return get(ns, "r").Status.EffectiveGates }
		}
		By("a namespace with no default of its own: the operator's, then the built-in values")
		plain, _ := h.Namespace("operator-default")
		group(plain, "gateways", nil)
		rollout(plain, "r", "gateways", config("operator-default"))
		Eventually(effective(plain), 30*time.Second).Should(And(Not(BeNil()),
			HaveField("MaxFailurePercent", HaveValue(Equal(int32(37)))),
			HaveField("MaxUnhealthyPercent", HaveValue(Equal(int32(3)))),
			HaveField("MaxDisconnectPercent", HaveValue(Equal(int32(20))))))

		By("a namespace default wins over the operator's, field by field, and the Rollout's own gates over both")
		team, _ := h.Namespace("team-default")
		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: fleetv1alpha1.DefaultGatePolicyName},
			Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(25))}}})).To(Succeed())
		group(team, "gateways", nil)
		rollout(team, "r", "gateways", config("team-default"), func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxDisconnectPercent: new(int32(5))}
		})
		Eventually(effective(team), 30*time.Second).Should(And(Not(BeNil()),
			HaveField("Policy", Equal(fleetv1alpha1.DefaultGatePolicyName)),
			HaveField("MaxFailurePercent", HaveValue(Equal(int32(25)))),
			HaveField("MaxUnhealthyPercent", HaveValue(Equal(int32(3)))),
			HaveField("MaxDisconnectPercent", HaveValue(Equal(int32(5))))))

		By("an edit of the operator's default reaches the Rollouts that fall through to it")
		Eventually(func() error {
			var p fleetv1alpha1.GatePolicy
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(operatorDefault), &p); err != nil {
				return err
			}
			p.Spec.Gates.MaxFailurePercent = new(int32(41))
			return env.Client.Update(ctx, &p)
		}).WithContext(ctx).Should(Succeed())
		Eventually(effective(plain), 30*time.Second).Should(HaveField("MaxFailurePercent", HaveValue(Equal(int32(41)))))
	})
})
