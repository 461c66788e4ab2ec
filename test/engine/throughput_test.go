package engine_test

import (
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/controllers"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

// appliesPerMinute is the rate of a recent window (two minutes unless set, 12 s here so that
// it passes within the spec), and the estimated completion exists only while the rollout
// progresses.
var _ = Describe("Throughput", func() {
	It("reports the recent rate of applies: it falls to zero while paused, with no estimate, and rises again on resume", func(ctx SpecContext) {
		sc := h.StartSidecar("throughput-0")
		h.StartManager(func(o *controllers.Options) { o.RateWindow = 12 * time.Second })
		ns, token := h.Namespace("throughput")
		group(ns, "gateways", nil)
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20, Seed: 11,
			Default: fleetsim.Profile{Behavior: fleetsim.Behavior{ApplyDelay: func(r *rand.Rand) time.Duration {
				return time.Second + time.Duration(r.Int64N(int64(4*time.Second)))
			}}}})
		// Batch 1 (10 agents) finishes below the sample the ratio gates need: an inconclusive
		// pause, whatever the agents do.
		rollout(ns, "r", "gateways", config("throughput"), func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{MinSampleSize: new(int32(15))}
		})

		By("while batch 1 applies, a rate and an estimate")
		Eventually(func(g Gomega) {
			st := get(ns, "r").Status
			g.Expect(st.Phase).To(Equal(fleetv1alpha1.RolloutProgressing))
			g.Expect(st.AppliesPerMinute).To(BeNumerically(">", 0))
			g.Expect(st.EstimatedCompletionTime).NotTo(BeNil())
		}, 60*time.Second, 50*time.Millisecond).Should(Succeed())

		By("paused: no estimate at once")
		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		st := get(ns, "r").Status
		Expect(st.Pause.Gate).To(Equal(fleetv1alpha1.GateMinSample))
		Expect(st.EstimatedCompletionTime).To(BeNil())
		Expect(st.Counts.Applied).To(Equal(int32(10)))

		By("paused past the window: the rate is zero (an average since the start would not be)")
		Eventually(func() int32 { return get(ns, "r").Status.AppliesPerMinute }, 60*time.Second).Should(BeZero())
		Expect(get(ns, "r").Status.EstimatedCompletionTime).To(BeNil())

		By("resumed: the rate of batch 2 alone")
		annotate(ns, "r", fleetv1alpha1.ActionResume)
		Eventually(func(g Gomega) {
			st := get(ns, "r").Status
			g.Expect(st.Counts.Applied).To(BeNumerically(">", 10))
			g.Expect(st.AppliesPerMinute).To(BeNumerically(">", 0))
		}, 60*time.Second, 50*time.Millisecond).Should(Succeed())
	})
})
