package integrity_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
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
})
