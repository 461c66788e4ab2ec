package approvals_test

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("Four-eyes approvals", func() {
	var (
		ctx   = context.Background()
		ns    string
		fleet *fleetsim.Fleet
	)

	BeforeEach(func() {
		var tok string
		ns, tok = h.Namespace("approvals")
		sc := h.StartSidecar("approvals-" + ns)
		Expect(users["alice"].Create(ctx, &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"},
			Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}}})).To(Succeed())
		Expect(users["alice"].Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "production"},
			Spec: fleetv1alpha1.GatePolicySpec{
				Gates:             fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(5))},
				RequiredApprovals: &fleetv1alpha1.ApprovalRequirement{Count: 1},
			}})).To(Succeed())
		fleet = harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: tok, Agents: 4, Seed: 7})
	})

	rollout := func(body string) *fleetv1alpha1.Rollout {
		GinkgoHelper()
		bs := fleetv1alpha1.FromInt(2)
		r := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "gateways", Config: fleetv1alpha1.RolloutConfig{Inline: &body},
				Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs}, GatePolicyRef: &fleetv1alpha1.LocalObjectReference{Name: "production"}}}
		Expect(users["alice"].Create(ctx, r)).To(Succeed())
		return r
	}
	get := func() *fleetv1alpha1.Rollout {
		GinkgoHelper()
		r := &fleetv1alpha1.Rollout{}
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, r)).To(Succeed())
		return r
	}
	approved := func() *metav1.Condition {
		return meta.FindStatusCondition(get().Status.Conditions, fleetv1alpha1.ConditionApproved)
	}
	received := func(hash string) func() int {
		return func() int {
			n := 0
			for _, a := range fleet.Agents {
				for _, h := range a.Received() {
					if h == hash {
						n++
						break
					}
				}
			}
			return n
		}
	}
	approveAs := func(c client.Client, obj client.Object, rev string) error {
		patch := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationApprove + `":"` + rev + `"}}}`)
		return c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
	}
	events := func(kind string, obj client.Object, reason string) func() []string {
		return func() []string {
			var list eventsv1.EventList
			Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			var notes []string
			for _, e := range list.Items {
				if e.Regarding.Name == obj.GetName() && e.Regarding.Kind == kind && e.Reason == reason {
					notes = append(notes, e.Note)
				}
			}
			return notes
		}
	}

	It("holds a rollout until a user other than its author approves, and a config change voids the approval", func() {
		body := harness.CollectorConfig("v1")
		hash := collectorconfig.Hash([]byte(body))
		r := rollout(body)

		By("waiting with a condition that says what it has and needs")
		Eventually(approved, 30*time.Second, 200*time.Millisecond).Should(And(Not(BeNil()),
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", fleetv1alpha1.ReasonAwaitingApproval),
			HaveField("Message", ContainSubstring("has 0 of 1 approvals required by GatePolicy production")),
			HaveField("Message", ContainSubstring("alice wrote it and cannot approve it"))))
		ro := get()
		Expect(ro.Status.Phase).To(Equal(fleetv1alpha1.RolloutPending))
		Expect(ro.Status.Approvals).To(PointTo(MatchAllFields(Fields{"Policy": Equal("production"), "Required": Equal(int32(1)),
			"Author": Equal("alice"), "ApprovedBy": BeEmpty(), "Decision": MatchRegexp(`^[0-9a-f]{64}$`)})))
		Expect(ro.Status.Message).To(ContainSubstring("approve with: kubectl ampora approve web"))
		Consistently(received(hash), 3*time.Second, 250*time.Millisecond).Should(BeZero())

		By("refusing the author's own approval")
		err := approveAs(users["alice"], r, hash)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("alice wrote revision " + hash[:10] + " of Rollout web: an approval must come from another user"))

		By("ignoring approvals written into the annotation by hand")
		forged := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationApprovals + `":"[{\"user\":\"bob\",\"hash\":\"` + hash + `\"}]"}}}`)
		Expect(users["alice"].Patch(ctx, r, client.RawPatch(types.MergePatchType, forged))).To(Succeed())
		Expect(get().Annotations).NotTo(HaveKey(fleetv1alpha1.AnnotationApprovals))

		By("taking bob's approval from kubectl ampora approve")
		out, err := kubectlAmpora("bob", "approve", "web", "-n", ns)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("revision " + hash[:10] + " approved; approvals: bob (1 of 1 required by GatePolicy production)"))
		Eventually(approved, 30*time.Second, 200*time.Millisecond).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Message", ContainSubstring("approved by bob"))))
		Eventually(events("Rollout", r, "Approved"), 10*time.Second).Should(ContainElement(ContainSubstring("bob approved revision " + hash[:10] + " (1 of 1)")))
		Eventually(func() fleetv1alpha1.RolloutPhase { return get().Status.Phase }, 60*time.Second, 250*time.Millisecond).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(received(hash)()).To(Equal(4))

		By("voiding the approval when the config changes")
		body2 := harness.CollectorConfig("v2")
		hash2 := collectorconfig.Hash([]byte(body2))
		cur := get()
		cur.Spec.Config.Inline = &body2
		Expect(users["bob"].Update(ctx, cur)).To(Succeed())
		Eventually(func() *fleetv1alpha1.ApprovalStatus { return get().Status.Approvals }, 30*time.Second, 200*time.Millisecond).Should(
			PointTo(MatchFields(IgnoreExtras, Fields{"Policy": Equal("production"), "Required": Equal(int32(1)), "Author": Equal("bob"), "ApprovedBy": BeEmpty()})))
		Expect(approved().Status).To(Equal(metav1.ConditionFalse))
		By("refusing an approval of the old revision")
		err = approveAs(users["alice"], cur, hash)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("is at revision " + hash2[:10]))
		Consistently(received(hash2), 2*time.Second, 250*time.Millisecond).Should(BeZero())

		out, err = kubectlAmpora("alice", "approve", "web", "-n", ns, "--revision", hash2[:10])
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(func() fleetv1alpha1.RolloutPhase { return get().Status.Phase }, 60*time.Second, 250*time.Millisecond).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(received(hash2)()).To(Equal(4))
	})

	It("keeps a loosened policy out of force until another user approves it", func() {
		policy := func() *fleetv1alpha1.GatePolicy {
			GinkgoHelper()
			p := &fleetv1alpha1.GatePolicy{}
			Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "production"}, p)).To(Succeed())
			return p
		}
		inForce := func() *int32 {
			p := policy()
			if p.Status.ApprovedSpec == nil {
				return nil
			}
			return p.Status.ApprovedSpec.Gates.MaxFailurePercent
		}
		Eventually(inForce, 30*time.Second, 200*time.Millisecond).Should(HaveValue(Equal(int32(5))))

		By("taking a tightening into force at once")
		p := policy()
		p.Spec.Gates.MaxFailurePercent = new(int32(2))
		Expect(users["alice"].Update(ctx, p)).To(Succeed())
		Eventually(inForce, 30*time.Second, 200*time.Millisecond).Should(HaveValue(Equal(int32(2))))

		By("holding a loosening back")
		p = policy()
		p.Spec.Gates.MaxFailurePercent = new(int32(50))
		Expect(users["alice"].Update(ctx, p)).To(Succeed())
		Eventually(func() *fleetv1alpha1.PolicyChange { return policy().Status.PendingChange }, 30*time.Second, 200*time.Millisecond).Should(And(
			Not(BeNil()), HaveField("Loosens", Equal([]string{"maxFailurePercent 2 → 50"})),
			HaveField("Approvals", Equal(fleetv1alpha1.ApprovalStatus{Policy: "production", Required: 1, Author: "alice"}))))
		ready := meta.FindStatusCondition(policy().Status.Conditions, fleetv1alpha1.ConditionReady)
		Expect(ready).To(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", fleetv1alpha1.ReasonAwaitingApproval),
			HaveField("Message", ContainSubstring("approve with: kubectl ampora approve gatepolicy/production"))))
		Expect(inForce()).To(HaveValue(Equal(int32(2))))
		Eventually(events("GatePolicy", p, "ChangeAwaitingApproval"), 10*time.Second).ShouldNot(BeEmpty())

		By("refusing the author's approval and the policy's deletion")
		out, err := kubectlAmpora("alice", "approve", "gatepolicy/production", "-n", ns)
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring("alice wrote revision"))
		err = users["bob"].Delete(ctx, policy())
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "deleting a policy that requires approvals: %v", err)
		Expect(err.Error()).To(ContainSubstring("remove spec.requiredApprovals first"))

		By("taking the change into force once bob approves")
		out, err = kubectlAmpora("bob", "approve", "gatepolicy/production", "-n", ns)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("approvals: bob"))
		Eventually(inForce, 30*time.Second, 200*time.Millisecond).Should(HaveValue(Equal(int32(50))))
		Expect(policy().Status.PendingChange).To(BeNil())
		Eventually(events("GatePolicy", p, "ChangeApproved"), 10*time.Second).ShouldNot(BeEmpty())
		Expect(strings.Join(events("GatePolicy", p, "Approved")(), "\n")).To(ContainSubstring("bob approved generation"))
	})

	It("counts no record written while the webhook was bypassed, and approves nothing until a recorded change", func() {
		body := harness.CollectorConfig("v1")
		hash := collectorconfig.Hash([]byte(body))
		r := rollout(body)
		Eventually(approved, 30*time.Second, 200*time.Millisecond).Should(HaveField("Reason", fleetv1alpha1.ReasonAwaitingApproval))

		By("taking the webhook out of the path, as failurePolicy Ignore with no replica answering would")
		restore := h.BypassWebhook(webhookConfiguration, get())

		By("alice writing, by hand, the record the webhook would have written for carol's change and bob's approval")
		cur := get()
		var group fleetv1alpha1.AgentGroup
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: cur.Spec.AgentGroup}, &group)).To(Succeed())
		ps, err := approval.ReadPolicies(ctx, env.Client, cur, harness.OperatorNamespace)
		Expect(err).NotTo(HaveOccurred())
		digest := approval.RolloutDigest(&cur.Spec, hash, ps, &group)
		forged := approval.Record{Author: &approval.Author{User: "carol", Hash: digest},
			Approvals: []approval.Approval{{User: "bob", Hash: digest, At: time.Now().UTC().Truncate(time.Second)}}}.Write(nil)
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": forged}})
		Expect(err).NotTo(HaveOccurred())
		Expect(users["alice"].Patch(ctx, cur, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		Expect(get().Annotations).To(HaveKey(fleetv1alpha1.AnnotationApprovals), "the forged record was not stored")
		Consistently(func() []string {
			if a := get().Status.Approvals; a != nil {
				return a.ApprovedBy
			}
			return nil
		}, 3*time.Second, 250*time.Millisecond).Should(BeEmpty())
		Expect(approved()).To(HaveField("Status", metav1.ConditionFalse))
		Expect(received(hash)()).To(BeZero())

		By("with the webhook back, refusing approvals until a change records an author")
		restore()
		Expect(approveAs(users["bob"], r, hash)).To(MatchError(ContainSubstring("has no author recorded by the approvals webhook")))

		Expect(users["alice"].Patch(ctx, get(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"applyTimeout":"4m"}}`)))).To(Succeed())
		rec := approval.Read(get().Annotations)
		Expect(rec.Approvals).To(BeEmpty(), "the forged approval was kept")
		Expect(rec.Author).To(HaveField("User", "alice"))
		out, err := kubectlAmpora("bob", "approve", "web", "-n", ns)
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(func() fleetv1alpha1.RolloutPhase { return get().Status.Phase }, 60*time.Second, 250*time.Millisecond).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(get().Status.Approvals).To(HaveField("ApprovedBy", Equal([]string{"bob"})))
	})
})
