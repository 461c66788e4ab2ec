package engine_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/controllers"
	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

func getGroup(ns, name string) *fleetv1alpha1.AgentGroup {
	GinkgoHelper()
	g := &fleetv1alpha1.AgentGroup{}
	Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, g)).To(Succeed())
	return g
}

// entryNames are the replicas with an entry in a Rollout's and its group's status.
func entryNames(ns, rollout, grp string) (inRollout, inGroup map[string]bool) {
	inRollout, inGroup = map[string]bool{}, map[string]bool{}
	for _, e := range get(ns, rollout).Status.Replicas {
		inRollout[e.Replica] = true
	}
	for _, e := range getGroup(ns, grp).Status.Replicas {
		inGroup[e.Replica] = true
	}
	return inRollout, inGroup
}

// The sidecars' entries in status against the real processes: a dead replica's go after the
// report timeout, a live one that does not report stops counting, and a batch is not judged
// without it. The manager's timeout is 5 s here (a minute by default).
var _ = Describe("Replica entries", func() {
	const timeout = 5 * time.Second
	// Sidecars that rewrite an unchanged entry every second, well within the timeout (their
	// default, 30 s, is within the manager's default of a minute).
	refreshEverySecond := func(o *opampserver.Options) { o.ReportRefresh = time.Second }

	BeforeEach(func() {
		h.StartManager(func(o *controllers.Options) { o.ReplicaReportTimeout = timeout })
	})

	It("churns 70 replica names through one long-lived Rollout and AgentGroup: every new replica's entry is taken, the dead ones' go", func(ctx SpecContext) {
		steady := h.StartSidecar("churn-steady", refreshEverySecond)
		ns, token := h.Namespace("churn")
		group(ns, "gateways", nil)
		harness.StartFleet(fleetsim.Options{URLs: []string{steady.URL()}, Token: token, Agents: 6, Seed: 2})
		// Paused after batch 1 for want of a sample: a rollout that stays for the whole churn.
		rollout(ns, "r", "gateways", config("churn"), func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{MinSampleSize: new(int32(50))}
		})
		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))

		const names, together = 70, 5
		maxEntries := 0
		for round := 0; round < names/together; round++ {
			var started []*harness.Sidecar
			var want []string
			for i := range together {
				name := fmt.Sprintf("churn-%02d", round*together+i)
				started = append(started, h.StartSidecar(name, refreshEverySecond))
				want = append(want, name)
			}
			Eventually(func(g Gomega) {
				inRollout, inGroup := entryNames(ns, "r", "gateways")
				for _, name := range want {
					g.Expect(inRollout).To(HaveKey(name), "the Rollout took no entry from %s", name)
					g.Expect(inGroup).To(HaveKey(name), "the AgentGroup took no entry from %s", name)
				}
				maxEntries = max(maxEntries, len(inRollout), len(inGroup))
			}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
			for _, s := range started {
				s.Stop()
			}
		}
		Expect(maxEntries).To(BeNumerically("<", 64), "the entries reached the CRD's bound")

		By("the dead replicas' entries go, the steady one's counts stay exact")
		Eventually(func(g Gomega) {
			inRollout, inGroup := entryNames(ns, "r", "gateways")
			g.Expect(inRollout).To(Equal(map[string]bool{"churn-steady": true}))
			g.Expect(inGroup).To(Equal(map[string]bool{"churn-steady": true}))
		}, 60*time.Second).Should(Succeed())
		Expect(get(ns, "r").Status.Counts.Targeted).To(Equal(int32(6)))
		Expect(getGroup(ns, "gateways").Status.MatchingAgents).To(Equal(int32(6)))
	})

	It("leaves a live replica that does not report out of the counts, names it, and judges no batch without it", func(ctx SpecContext) {
		talker := h.StartSidecar("silent-talker", refreshEverySecond)
		// Holds its Lease and its agents' sessions, and never writes an entry.
		mute := h.StartSidecar("silent-mute", func(o *opampserver.Options) { o.ReportInterval = time.Hour })
		ns, token := h.Namespace("silent")
		group(ns, "gateways", nil)
		harness.StartFleet(fleetsim.Options{URLs: []string{talker.URL(), mute.URL()}, Token: token, Agents: 10, Seed: 6})
		rollout(ns, "r", "gateways", config("silent"), func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{ProgressDeadline: durationPtr(15 * time.Second)}
		})

		By("the group and the rollout name the silent replica")
		silentCondition := func(conds []metav1.Condition) string {
			if c := meta.FindStatusCondition(conds, fleetv1alpha1.ConditionReplicaSilent); c != nil && c.Status == "True" {
				return c.Message
			}
			return ""
		}
		Eventually(func() string { return silentCondition(getGroup(ns, "gateways").Status.Conditions) }, 30*time.Second).
			Should(HavePrefix("replica silent-mute has not reported since "))
		Eventually(func() int32 { return getGroup(ns, "gateways").Status.MatchingAgents }, 30*time.Second).Should(Equal(int32(5)), "only the talker's agents count")
		Consistently(func() int32 { return getGroup(ns, "gateways").Status.MatchingAgents }, 2*time.Second).Should(Equal(int32(5)))
		Eventually(func() string { return silentCondition(get(ns, "r").Status.Conditions) }, 30*time.Second).
			Should(HavePrefix("replica silent-mute has not reported since "))

		By("at the progress deadline the batch is held, not judged on the talker's counts alone")
		Eventually(func() string {
			st := get(ns, "r").Status
			return fmt.Sprintf("%s: %s (gates %+v, batch %+v)", st.Phase, st.Message, st.EffectiveGates, st.CurrentBatch)
		}, 60*time.Second).Should(HavePrefix("Paused"))
		p := get(ns, "r").Status.Pause
		Expect(p.Reason).To(Equal(fleetv1alpha1.PauseGateInconclusive))
		Expect(p.Gate).To(Equal(fleetv1alpha1.GateReplicaReports))
		Expect(p.Batch).To(Equal(int32(1)))
		Expect(p.Message).To(MatchRegexp(`^replica-reports: replica silent-mute has not reported since \S+; the batch is not judged without its counts$`))

		By("once the silent replica is gone, the condition goes")
		mute.Stop()
		Eventually(func() string { return silentCondition(get(ns, "r").Status.Conditions) }, 30*time.Second).Should(BeEmpty())
		Eventually(func() string { return silentCondition(getGroup(ns, "gateways").Status.Conditions) }, 60*time.Second).Should(BeEmpty())
	})
})
