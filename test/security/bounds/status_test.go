package bounds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/webhooks"
)

// longServiceAccount is the name the API server authenticates for a ServiceAccount with the
// longest names Kubernetes allows (namespace 63, name 253 characters): 339 characters. A
// namespace editor may create such a ServiceAccount and act as it.
var longServiceAccount = "system:serviceaccount:" + strings.Repeat("n", 63) + ":" + strings.Repeat("s", 253)

func group(ns, name string) {
	GinkgoHelper()
	Expect(env.Client.Create(context.Background(), &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}}})).To(Succeed())
}

func rollout(ns, name, group, body string) *fleetv1alpha1.Rollout {
	bs := fleetv1alpha1.FromInt(1)
	return &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: group, Config: fleetv1alpha1.RolloutConfig{Inline: &body},
			Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs}}}
}

func getGroup(ns, name string) *fleetv1alpha1.AgentGroup {
	GinkgoHelper()
	g := &fleetv1alpha1.AgentGroup{}
	Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, g)).To(Succeed())
	return g
}

var _ = Describe("Status bounds", func() {
	ctx := context.Background()

	It("records the diff of a config whose component name is longer than a diff entry may be", func() {
		ns, _ := h.Namespace("diff")
		group(ns, "gateways")
		// The collector takes component names of up to 1024 bytes; status.diff entries take 256
		// characters.
		name := strings.Repeat("a", 600)
		body := strings.Replace(harness.CollectorConfig("long-name"), "  otlp:\n    endpoint", "  otlp/"+name+":\n    endpoint", 1)
		body = strings.Replace(body, "exporters: [otlp]", "exporters: [otlp/"+name+"]", 1)
		_, err := collectorconfig.Validate([]byte(body))
		Expect(err).NotTo(HaveOccurred())
		Expect(env.Client.Create(ctx, rollout(ns, "web", "gateways", body))).To(Succeed())

		Eventually(func(g Gomega) {
			st := h.Rollout(ns, "web").Status
			g.Expect(st.ConfigHash).To(Equal(collectorconfig.Hash([]byte(body))))
			g.Expect(st.Diff).NotTo(BeNil())
			g.Expect(st.Diff.Truncated).To(BeTrue())
			g.Expect(st.Diff.Added).To(ContainElement(HavePrefix("exporters/otlp/aaa")))
		}, 30*time.Second).Should(Succeed())
	})

	It("carries out an action asked for by a user whose name is longer than lastAction.requestedBy may be", func() {
		ns, _ := h.Namespace("action")
		group(ns, "gateways")
		Expect(env.Client.Create(ctx, rollout(ns, "web", "gateways", harness.CollectorConfig("action")))).To(Succeed())
		Eventually(func() string { return h.Rollout(ns, "web").Status.ConfigHash }, 30*time.Second).ShouldNot(BeEmpty())

		// The approvals webhook writes the authenticated user's name here; this suite runs
		// without it, so the test writes what it would have.
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
			fleetv1alpha1.AnnotationAction: "abort", fleetv1alpha1.AnnotationActionRequestedBy: longServiceAccount}}})
		Expect(env.Client.Patch(ctx, h.Rollout(ns, "web"), client.RawPatch(types.MergePatchType, patch))).To(Succeed())

		Eventually(func(g Gomega) {
			ro := h.Rollout(ns, "web")
			g.Expect(ro.Status.Phase).To(Equal(fleetv1alpha1.RolloutAborted))
			g.Expect(ro.Status.LastAction).NotTo(BeNil())
			g.Expect(ro.Status.LastAction.RequestedBy).To(HavePrefix("system:serviceaccount:nnn"))
			g.Expect(ro.Annotations).NotTo(HaveKey(fleetv1alpha1.AnnotationAction))
		}, 30*time.Second).Should(Succeed())
	})

	It("shows the approvals of a revision whose author's name is longer than approvals.author may be", func() {
		ns, _ := h.Namespace("author")
		// Approvals are worked out only while a sidecar is live.
		h.StartSidecar("author-" + ns)
		group(ns, "gateways")
		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "production"},
			Spec: fleetv1alpha1.GatePolicySpec{RequiredApprovals: &fleetv1alpha1.ApprovalRequirement{Count: 1}}})).To(Succeed())
		body := harness.CollectorConfig("author")
		ro := rollout(ns, "web", "gateways", body)
		ro.Spec.GatePolicyRef = &fleetv1alpha1.LocalObjectReference{Name: "production"}
		Expect(env.Client.Create(ctx, ro)).To(Succeed())
		// An OIDC issuer may name users with anything; the webhook records the name as the API
		// server authenticated it. (Written and sealed here as the webhook would have: it is not
		// running.)
		author := "https://issuer.example/#" + strings.Repeat("u", 600)
		ro = h.Rollout(ns, "web")
		key, err := webhooks.LoadKey(ctx, env.Client, harness.OperatorNamespace, webhooks.DefaultKeySecret)
		Expect(err).NotTo(HaveOccurred())
		// The last author counts whatever hash they wrote.
		rec := approval.Record{Author: &approval.Author{User: author, Hash: collectorconfig.Hash([]byte(body))}}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": key.Seal(rec.Write(nil), approval.RolloutSubject(ro))}})
		Expect(env.Client.Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch))).To(Succeed())

		Eventually(func(g Gomega) {
			a := h.Rollout(ns, "web").Status.Approvals
			g.Expect(a).NotTo(BeNil())
			g.Expect(a.Author).To(HavePrefix("https://issuer.example/#uuu"))
			g.Expect(utf8.RuneCountInString(a.Author)).To(BeNumerically("<=", 512))
		}, 30*time.Second).Should(Succeed())
	})

	It("keeps writing a group's entries when an agent is matched by more groups than a conflict may name", func() {
		ns, token := h.Namespace("conflict")
		sc := h.StartSidecar("conflict-" + ns)
		// Any namespace editor can create groups; nine of them match the same agent.
		var names []string
		for i := range 9 {
			names = append(names, fmt.Sprintf("g%d", i))
			group(ns, names[i])
		}
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 1, Seed: 3})

		for _, name := range names {
			Eventually(func(g Gomega) {
				st := getGroup(ns, name).Status
				g.Expect(st.Replicas).To(HaveLen(1))
				g.Expect(st.ConflictingAgents).To(Equal(int32(1)))
				g.Expect(st.Conflicts).To(HaveLen(1))
				g.Expect(st.Conflicts[0].Groups).To(HaveLen(8))
				g.Expect(st.Conflicts[0].Groups).To(ContainElement(name))
			}, 30*time.Second).Should(Succeed(), "group %s", name)
		}
	})
})
