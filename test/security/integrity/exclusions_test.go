package integrity_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("Excluded agents", func() {
	It("keep out of a revision rolled out while they were excluded, after the exclusion is removed", func() {
		ctx := context.Background()
		ns, token := h.Namespace("exclusion")
		sc := h.StartSidecar("exclusion-" + ns)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 3, Seed: 41})
		left := fleet.Agents[0]
		isLeft := func(a *fleetsim.Agent) bool { return a.UID == left.UID }
		Expect(users["alice"].Create(ctx, &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"},
			Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}},
				ExcludedInstanceUIDs: []string{left.UID.String()}}})).To(Succeed())
		body := harness.CollectorConfig("without-the-excluded")
		hash := collectorconfig.Hash([]byte(body))

		By("a revision rolled out to the group, the excluded agent left out")
		Expect(users["alice"].Create(ctx, rollout(ns, "first", "gateways", body))).To(Succeed())
		Eventually(phase(ns, "first"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return !isLeft(a) && a.EffectiveHash() == hash })).To(Equal(2))
		g := fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"}}
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(&g), &g)).To(Succeed())
		Expect(g.Status.CurrentSelector).NotTo(BeNil())
		Expect(g.Status.CurrentSelector.ExcludedInstanceUIDs).To(ConsistOf(left.UID.String()), "the group records whom its revision left out")

		By("the exclusion removed: the agent is the group's again, but the revision was never rolled out to it")
		Expect(users["alice"].Patch(ctx, &g, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"excludedInstanceUIDs":null}}`)))).To(Succeed())
		Consistently(func() string { return left.EffectiveHash() }, never).ShouldNot(Equal(hash))

		By("control: a new rollout of the same config reaches it")
		Expect(users["alice"].Create(ctx, rollout(ns, "second", "gateways", body+"\n# again\n"))).To(Succeed())
		again := collectorconfig.Hash([]byte(body + "\n# again\n"))
		Eventually(phase(ns, "second"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Eventually(func() string { return left.EffectiveHash() }, 30*time.Second).Should(Equal(again))
	})
})
