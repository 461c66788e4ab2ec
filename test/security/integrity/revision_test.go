package integrity_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/revision"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

// colliding finds two valid collector configs whose hashes share their first 10 hex digits
// (40 bits): a birthday search needs about a million hashes, a second or two.
func colliding() (a, b string) {
	seen := make(map[uint64]int, 1<<21)
	for i := 0; ; i++ {
		sum := sha256.Sum256([]byte(harness.CollectorConfig(fmt.Sprint(i))))
		key := binary.BigEndian.Uint64(sum[:8]) >> 24 // the first 40 bits
		if j, ok := seen[key]; ok {
			return harness.CollectorConfig(fmt.Sprint(j)), harness.CollectorConfig(fmt.Sprint(i))
		}
		seen[key] = i
	}
}

var _ = Describe("Stored revisions", func() {
	ctx := context.Background()

	It("keeps two configs apart whose hashes share 40 bits: the group's revision is the config that was rolled out", func() {
		good, evil := colliding()
		hGood, hEvil := collectorconfig.Hash([]byte(good)), collectorconfig.Hash([]byte(evil))
		Expect(revision.Short(hGood)).To(Equal(revision.Short(hEvil)))
		Expect(hGood).NotTo(Equal(hEvil))

		ns, token := h.Namespace("collide")
		sc := h.StartSidecar("collide-" + ns)
		group(ns, "staging", "otelcol-staging")
		group(ns, "gateways", "otelcol")
		// alice stores the evil config through a rollout of a group without agents...
		Expect(users["alice"].Create(ctx, rollout(ns, "plant", "staging", evil))).To(Succeed())
		Eventually(func() string { return get(ns, "plant").Status.ConfigHash }, 30*time.Second).Should(Equal(hEvil))
		// ...then rolls the colliding good config out to gateways.
		first := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 2, Seed: 11, UIDPrefix: "first"})
		Expect(users["alice"].Create(ctx, rollout(ns, "web", "gateways", good))).To(Succeed())
		Eventually(phase(ns, "web"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(first.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hGood })).To(Equal(2))

		// New gateways get the group's revision: the good config, never the evil one.
		late := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 2, Seed: 11, UIDPrefix: "late"})
		Eventually(func() int { return late.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hGood }) }, 30*time.Second).Should(Equal(2))
		Expect(received(late, hEvil)()).To(BeZero())
		Expect(received(first, hEvil)()).To(BeZero())
	})

	It("refuses a stored revision that holds another config: the rollout fails with RevisionMismatch and nothing is pushed", func() {
		ns, token := h.Namespace("tamper")
		sc := h.StartSidecar("tamper-" + ns)
		group(ns, "gateways", "otelcol")
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 2, Seed: 12})
		good, evil := harness.CollectorConfig("good"), harness.CollectorConfig("evil")
		hGood, hEvil := collectorconfig.Hash([]byte(good)), collectorconfig.Hash([]byte(evil))
		// Someone who may write ControllerRevisions plants the evil config under the good one's
		// name, both as stored data and as the hash it claims.
		planted := revision.New(ns, hEvil, []byte(evil))
		planted.Name = revision.Name(hGood)
		Expect(env.Client.Create(ctx, planted)).To(Succeed())

		Expect(users["alice"].Create(ctx, rollout(ns, "web", "gateways", good))).To(Succeed())
		Eventually(reason(ns, "web", fleetv1alpha1.ConditionStalled), 30*time.Second).Should(Equal(fleetv1alpha1.ReasonRevisionMismatch))
		Expect(get(ns, "web").Status.Phase).To(Equal(fleetv1alpha1.RolloutFailed))
		Expect(get(ns, "web").Status.Message).To(ContainSubstring("delete ControllerRevision"))
		Consistently(func() int { return fleet.Count(func(a *fleetsim.Agent) bool { return len(a.Received()) > 0 }) }, never).Should(BeZero())
		Expect(received(fleet, hGood)()).To(BeZero())
	})
})

var _ = Describe("A group's current revision", func() {
	It("reaches no agent that a selector edit after the rollout newly selects", func() {
		ctx := context.Background()
		ns, token, sc := stagingGroup("widen")
		staging := func(prefix string) *fleetsim.Fleet {
			return harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 2, Seed: 41, UIDPrefix: prefix,
				Default: fleetsim.Profile{Attributes: map[string]string{"env": "staging"}}})
		}
		staging("first")
		body := harness.CollectorConfig("staging-only")
		hash := collectorconfig.Hash([]byte(body))
		Expect(users["alice"].Create(ctx, rollout(ns, "web", "gateways", body))).To(Succeed())
		Eventually(phase(ns, "web"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))

		// alice widens the group to every collector; production agents join.
		patch := []byte(`{"spec":{"selector":{"matchAttributes":{"env":null}}}}`)
		Expect(users["alice"].Patch(ctx, &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"}},
			client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		prod := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 2, Seed: 42, UIDPrefix: "prod",
			Default: fleetsim.Profile{Attributes: map[string]string{"env": "production"}}})
		late := staging("late")
		Eventually(func() int { return late.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hash }) }, 30*time.Second).Should(Equal(2))
		Consistently(received(prod, hash), never).Should(BeZero())
	})
})

var _ = Describe("A running rollout's group", func() {
	It("offers the config to no agent a selector edit newly selects while approvals are missing", func() {
		ctx := context.Background()
		ns, token, sc := stagingGroup("widen-mid")
		// Approvals are required; batch 2 waits an hour, so the edit lands mid-rollout.
		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.DefaultGatePolicyName},
			Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{BakeTime: &metav1.Duration{Duration: time.Hour}},
				RequiredApprovals: &fleetv1alpha1.ApprovalRequirement{Count: 1}}})).To(Succeed())
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 4, Seed: 51, UIDPrefix: "staging",
			Default: fleetsim.Profile{Attributes: map[string]string{"env": "staging"}}})
		prod := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 8, Seed: 52, UIDPrefix: "prod",
			Default: fleetsim.Profile{Attributes: map[string]string{"env": "production"}}})
		body := harness.CollectorConfig("staging-approved")
		hash := collectorconfig.Hash([]byte(body))
		Expect(users["alice"].Create(ctx, rollout(ns, "web", "gateways", body))).To(Succeed())
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))
		approve := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationApprove + `":"` + hash + `"}}}`)
		Expect(users["bob"].Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, approve))).To(Succeed())
		Eventually(func() int32 { return get(ns, "web").Status.Counts.Applied }, 60*time.Second).Should(Equal(int32(2)))

		// alice widens the group to production while batch 1 bakes.
		patch := []byte(`{"spec":{"selector":{"matchAttributes":{"env":null}}}}`)
		Expect(users["alice"].Patch(ctx, &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"}},
			client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		Eventually(func() fleetv1alpha1.RolloutPhase { return get(ns, "web").Status.Phase }, 30*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		Consistently(received(prod, hash), never).Should(BeZero())
	})
})

// stagingGroup makes a namespace with a sidecar and, as alice, the group gateways of its
// staging collectors.
func stagingGroup(prefix string) (ns, token string, sc *harness.Sidecar) {
	GinkgoHelper()
	ns, token = h.Namespace(prefix)
	sc = h.StartSidecar(prefix + "-" + ns)
	Expect(users["alice"].Create(context.Background(), &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"},
		Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol", "env": "staging"}}}})).To(Succeed())
	return ns, token, sc
}
