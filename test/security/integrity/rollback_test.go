package integrity_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("Rollback", func() {
	It("refuses to roll back a Rollout whose revision the group no longer runs: an old config is not pushed again", func() {
		ctx := context.Background()
		ns, token := h.Namespace("old-rollback")
		sc := h.StartSidecar("old-rollback-" + ns)
		group(ns, "gateways", "otelcol")
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 2, Seed: 31})
		first, second := harness.CollectorConfig("first"), harness.CollectorConfig("second")
		Expect(users["alice"].Create(ctx, rollout(ns, "old", "gateways", first))).To(Succeed())
		Eventually(phase(ns, "old"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(users["alice"].Create(ctx, rollout(ns, "new", "gateways", second))).To(Succeed())
		Eventually(phase(ns, "new"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))

		// Rolling "old" back would return its agents to what ran before it: no config at all.
		patch := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationAction + `":"rollback"}}}`)
		Expect(users["alice"].Patch(ctx, get(ns, "old"), client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		Eventually(func() []string {
			var list eventsv1.EventList
			Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			var reasons []string
			for _, e := range list.Items {
				reasons = append(reasons, e.Reason)
			}
			return reasons
		}, 30*time.Second).Should(ContainElement("RollbackRefused"))
		Expect(get(ns, "old").Status.Phase).To(Equal(fleetv1alpha1.RolloutCompleted))
		hash := collectorconfig.Hash([]byte(second))
		Consistently(func() int { return fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hash }) }, never).Should(Equal(2))
	})

	It("returns to the previous revision only the agents it was rolled out to: the others have the remote config withdrawn", func() {
		ctx := context.Background()
		ns, token := h.Namespace("wide-rollback")
		sc := h.StartSidecar("wide-rollback-" + ns)
		staging := map[string]string{"service.name": "otelcol", "env": "staging"}
		Expect(users["alice"].Create(ctx, &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"},
			Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: staging}}})).To(Succeed())
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 4, Seed: 37,
			Profiles: []fleetsim.Profile{{Name: "staging", Fraction: 0.5, Attributes: map[string]string{"env": "staging"}}},
			Default:  fleetsim.Profile{Name: "production", Attributes: map[string]string{"env": "production"}}})
		first, second := harness.CollectorConfig("staging-only"), harness.CollectorConfig("everywhere")
		firstHash := collectorconfig.Hash([]byte(first))
		production := func(a *fleetsim.Agent) bool { return a.Attrs["env"] == "production" }

		By("the first revision, rolled out to staging only")
		Expect(users["alice"].Create(ctx, rollout(ns, "first", "gateways", first))).To(Succeed())
		Eventually(phase(ns, "first"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))

		By("the group widened to production, and a second revision rolled out to all of it")
		g := fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"}}
		Expect(users["alice"].Patch(ctx, &g, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"selector":{"matchAttributes":{"env":null}}}}`)))).To(Succeed())
		Expect(users["alice"].Create(ctx, rollout(ns, "second", "gateways", second))).To(Succeed())
		Eventually(phase(ns, "second"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(get(ns, "second").Status.PreviousSelector).To(HaveField("MatchAttributes", staging))

		By("rolling the second back: staging returns to the first revision, production never gets it")
		patch := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationAction + `":"rollback"}}}`)
		Expect(users["alice"].Patch(ctx, get(ns, "second"), client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		Eventually(phase(ns, "second"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutRolledBack))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return !production(a) && a.EffectiveHash() == firstHash })).To(Equal(2))
		Consistently(func() int {
			return fleet.Count(func(a *fleetsim.Agent) bool { return production(a) && a.EffectiveHash() == firstHash })
		}, never).Should(BeZero())
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)).To(Succeed())
		Expect(g.Status.CurrentConfigHash).To(Equal(firstHash))
		Expect(g.Status.CurrentSelector).To(HaveField("MatchAttributes", staging), "a production agent that connects later would get the first revision")
	})
})
