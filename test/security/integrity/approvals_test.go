package integrity_test

import (
	"context"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var _ = Describe("Approvals", func() {
	ctx := context.Background()
	var (
		ns    string
		fleet *fleetsim.Fleet
	)

	// setup makes a namespace whose GatePolicy production requires one approval.
	setup := func(req fleetv1alpha1.ApprovalRequirement) {
		GinkgoHelper()
		var token string
		ns, token = h.Namespace("approve")
		sc := h.StartSidecar("approve-" + ns)
		group(ns, "gateways", "otelcol")
		req.Count = 1
		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "production"},
			Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(5))}, RequiredApprovals: &req}})).To(Succeed())
		fleet = harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 4, Seed: 21})
	}
	production := func(name, body string) *fleetv1alpha1.Rollout {
		r := rollout(ns, name, "gateways", body)
		r.Spec.GatePolicyRef = &fleetv1alpha1.LocalObjectReference{Name: "production"}
		return r
	}
	approve := func(c client.Client, name, rev string) error {
		patch := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationApprove + `":"` + rev + `"}}}`)
		return c.Patch(ctx, get(ns, name), client.RawPatch(types.MergePatchType, patch))
	}
	approvedBy := func(name string) func() []string {
		return func() []string {
			if a := get(ns, name).Status.Approvals; a != nil {
				return a.ApprovedBy
			}
			return nil
		}
	}

	// createdPaused has alice create a paused rollout "web" of body under production, and
	// returns its config hash once the engine recorded it.
	createdPaused := func(body string) string {
		GinkgoHelper()
		ro := production("web", body)
		ro.Spec.Paused = true
		Expect(users["alice"].Create(ctx, ro)).To(Succeed())
		hash := collectorconfig.Hash([]byte(body))
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))
		return hash
	}
	// approvedWhilePaused has alice create a paused rollout of body under production, and
	// bob approve it.
	approvedWhilePaused := func(body string) {
		GinkgoHelper()
		Expect(approve(users["bob"], "web", createdPaused(body))).To(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(Equal([]string{"bob"}))
	}

	// bakingDefault has alice create the namespace's default policy: it requires no approvals
	// and sets the bake time that production leaves unset (an hour).
	bakingDefault := func() {
		GinkgoHelper()
		Expect(users["alice"].Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.DefaultGatePolicyName},
			Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{BakeTime: &metav1.Duration{Duration: time.Hour}}}})).To(Succeed())
	}
	// bindRole binds the Role role of the namespace to user.
	bindRole := func(user, role string) {
		GinkgoHelper()
		Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user + "-" + role},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})).To(Succeed())
	}

	It("refuses a ServiceAccount's approval: an editor cannot approve their own change by impersonating one", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		mallory := mallory(ns)
		body := harness.CollectorConfig("self-approved")
		hash := collectorconfig.Hash([]byte(body))
		Expect(users["mallory"].Create(ctx, production("web", body))).To(Succeed())
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))

		// The namespace's CI ServiceAccount may edit rollouts, as a deploy pipeline's does.
		ci := "system:serviceaccount:" + ns + ":ci"
		Expect(testenv.Editors(ctx, env.Client, ci)).To(Succeed())
		asSA := impersonating(mallory, ci)
		// The webhook answers once mallory's RoleBinding is in force (RBAC caches catch up).
		Eventually(func() error { return approve(asSA, "web", hash) }, 10*time.Second).Should(
			MatchError(ContainSubstring("takes no approvals from ServiceAccounts")))
		Consistently(received(fleet, hash), never).Should(BeZero())
		Expect(approvedBy("web")()).To(BeEmpty())

		By("nor by naming, as approver group, a group every ServiceAccount of the namespace is in: that loosens the policy")
		var p fleetv1alpha1.GatePolicy
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "production"}, &p)).To(Succeed())
		p.Spec.RequiredApprovals.ApproverGroups = []string{"system:serviceaccounts:" + ns}
		Expect(users["mallory"].Update(ctx, &p)).To(Succeed())
		Eventually(func() *fleetv1alpha1.PolicyChange {
			Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(&p), &p)).To(Succeed())
			return p.Status.PendingChange
		}, 30*time.Second).ShouldNot(BeNil(), "the loosening took effect without an approval")
		Expect(approve(asSA, "web", hash)).To(MatchError(ContainSubstring("takes no approvals from ServiceAccounts")))
		Consistently(received(fleet, hash), never).Should(BeZero())
	})

	It("refuses an approval by a user who may impersonate the ServiceAccount that wrote the change", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		mallory := mallory(ns)
		ci := "system:serviceaccount:" + ns + ":ci"
		Expect(testenv.Editors(ctx, env.Client, ci)).To(Succeed())
		asCI := impersonating(mallory, ci)
		body := harness.CollectorConfig("written-as-ci")
		hash := collectorconfig.Hash([]byte(body))
		// mallory writes the rollout under the CI ServiceAccount's name, then approves it as herself.
		Eventually(func() error { return asCI.Create(ctx, production("web", body)) }, 10*time.Second).Should(Succeed())
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))
		Expect(approve(users["mallory"], "web", hash)).To(MatchError(ContainSubstring("mallory may impersonate ServiceAccount " + ci)))
		// dave may not impersonate it, but may run a Pod in the namespace, which can run as it.
		Expect(env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pods"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}}})).To(Succeed())
		bindRole("dave", "pods")
		dave := h.Editors("dave")["dave"]
		Eventually(func() error { return approve(dave, "web", hash) }, 10*time.Second).Should(
			MatchError(ContainSubstring("dave may run a Pod as ServiceAccount " + ci)))
		// Nor may those who can run code as it another way: exec into a Pod that runs as it, or
		// have a controller create one (a Deployment, a Job).
		for user, rule := range map[string]rbacv1.PolicyRule{
			"erin":  {APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}},
			"frank": {APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"create"}},
			"grace": {APIGroups: []string{"batch"}, Resources: []string{"cronjobs"}, Verbs: []string{"patch"}},
		} {
			Expect(env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runs-code-" + user},
				Rules: []rbacv1.PolicyRule{rule}})).To(Succeed())
			bindRole(user, "runs-code-"+user)
			c := h.Editors(user)[user]
			Eventually(func() error { return approve(c, "web", hash) }, 10*time.Second).Should(
				MatchError(ContainSubstring(user + " may " + map[string]string{"erin": "exec into a Pod running as",
					"frank": "create deployments that run as", "grace": "patch cronjobs that run as"}[user] + " ServiceAccount " + ci)))
		}
		Consistently(received(fleet, hash), never).Should(BeZero())
		// bob, who may not impersonate it, may approve.
		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(4))
	})

	It("refuses an approval by a user who may impersonate the user who wrote the change", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		u := mallory(ns)
		h.Editors("erin")
		// mallory may impersonate erin (a support role, say), though not as a ServiceAccount.
		Expect(env.Client.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "impersonate-erin-" + ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"erin"}}}})).To(Succeed())
		Expect(env.Client.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "impersonate-erin-" + ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-erin-" + ns},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}}})).To(Succeed())
		asErin := impersonating(u, "erin")
		body := harness.CollectorConfig("written-as-erin")
		hash := collectorconfig.Hash([]byte(body))
		Eventually(func() error { return asErin.Create(ctx, production("web", body)) }, 10*time.Second).Should(Succeed())
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))
		Expect(approve(users["mallory"], "web", hash)).To(MatchError(ContainSubstring("mallory may impersonate user erin")))
		Consistently(received(fleet, hash), never).Should(BeZero())
		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(4))
	})

	It("refuses an approval by a user who may change the ConfigMap that holds the config: nothing records who edited it", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		mallory(ns)
		body := harness.CollectorConfig("in-a-configmap")
		Expect(users["alice"].Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "collector"},
			Data: map[string]string{"config.yaml": body}})).To(Succeed())
		ro := production("web", "")
		ro.Spec.Config = fleetv1alpha1.RolloutConfig{ConfigMapRef: &fleetv1alpha1.ConfigMapKeyReference{Name: "collector", Key: "config.yaml"}}
		ro.Spec.Paused = true
		Expect(users["alice"].Create(ctx, ro)).To(Succeed())

		By("mallory, who may edit ConfigMaps, puts her own config in, then approves it")
		mine := harness.CollectorConfig("mallory's")
		hash := collectorconfig.Hash([]byte(mine))
		Expect(users["mallory"].Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "collector"}},
			client.RawPatch(types.MergePatchType, []byte(`{"data":{"config.yaml":`+strconv.Quote(mine)+`}}`)))).To(Succeed())
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))
		Expect(approve(users["mallory"], "web", hash)).To(MatchError(ContainSubstring("mallory may update ConfigMap collector")))
		Expect(approve(users["bob"], "web", hash)).To(MatchError(ContainSubstring("bob may update ConfigMap collector")))

		By("a reviewer who may approve Rollouts but not change the ConfigMap")
		Expect(env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollout-approver"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch", "patch"}}}})).To(Succeed())
		bindRole("rita", "rollout-approver")
		By("but not one who may delete the ConfigMap and create it anew")
		Expect(env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "configmap-replacer"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"delete"}, ResourceNames: []string{"collector"}},
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
			}})).To(Succeed())
		bindRole("dora", "rollout-approver")
		bindRole("dora", "configmap-replacer")
		dora := h.As(rest.ImpersonationConfig{UserName: "dora"})
		Eventually(func() error { return approve(dora, "web", hash) }, 10*time.Second).Should(
			MatchError(ContainSubstring("dora may delete and create ConfigMap collector")))

		rita := h.As(rest.ImpersonationConfig{UserName: "rita"})
		Eventually(func() error { return approve(rita, "web", hash) }, 10*time.Second).Should(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(Equal([]string{"rita"}))
		Expect(users["alice"].Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":false}}`)))).To(Succeed())
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(4))
	})

	It("pauses a rollout whose push decision changes mid-rollout: no further agent is offered it until it is approved again", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		// Batch 2 waits an hour: the test acts in between.
		bake := []byte(`{"spec":{"gates":{"bakeTime":"1h"}}}`)
		Expect(env.Client.Patch(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "production"}},
			client.RawPatch(types.MergePatchType, bake))).To(Succeed())
		body := harness.CollectorConfig("mid-rollout")
		hash := collectorconfig.Hash([]byte(body))
		Expect(users["alice"].Create(ctx, production("web", body))).To(Succeed())
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))
		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(2))

		edit(users["alice"], ns, "web", func(cur *fleetv1alpha1.Rollout) { cur.Spec.ApplyTimeout = &metav1.Duration{Duration: time.Hour} })
		Eventually(func() fleetv1alpha1.PauseReason {
			if p := get(ns, "web").Status.Pause; p != nil {
				return p.Reason
			}
			return ""
		}, 30*time.Second).Should(Equal(fleetv1alpha1.PauseAwaitingApproval))
		Expect(get(ns, "web").Status.Phase).To(Equal(fleetv1alpha1.RolloutPaused))

		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Eventually(func() *fleetv1alpha1.PauseDetail { return get(ns, "web").Status.Pause }, 30*time.Second).Should(BeNil())
		Expect(get(ns, "web").Status.Phase).To(Equal(fleetv1alpha1.RolloutProgressing))
	})

	It("takes approvals only from the policy's approver groups, as the API server authenticates them", func() {
		setup(fleetv1alpha1.ApprovalRequirement{ApproverGroups: []string{"sre"}})
		body := harness.CollectorConfig("groups")
		hash := collectorconfig.Hash([]byte(body))
		Expect(users["alice"].Create(ctx, production("web", body))).To(Succeed())
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))

		err := approve(users["bob"], "web", hash)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("takes approvals only from members of sre, and bob is in none of them"))
		h.Editors("carol")
		carol := h.As(rest.ImpersonationConfig{UserName: "carol", Groups: []string{"sre", "system:authenticated"}})
		Expect(approve(carol, "web", hash)).To(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(Equal([]string{"carol"}))
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(4))
	})

	It("voids an approval when anything that decides the push changes: group, strategy, gates, policy", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		body := harness.CollectorConfig("widened")
		hash := collectorconfig.Hash([]byte(body))
		approvedWhilePaused(body)

		// After bob's review, alice widens and speeds up the push, and loosens the gates her
		// policy sets, then unpauses.
		all := fleetv1alpha1.FromInt(4)
		edit(users["alice"], ns, "web", func(cur *fleetv1alpha1.Rollout) {
			cur.Spec.Strategy = fleetv1alpha1.RolloutStrategy{BatchSize: &all}
			cur.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(100))}
			cur.Spec.Paused = false
		})
		Eventually(func() *fleetv1alpha1.ApprovalStatus { return get(ns, "web").Status.Approvals }, 30*time.Second).Should(
			PointTo(MatchFields(IgnoreExtras, Fields{"Policy": Equal("production"), "Required": Equal(int32(1)), "Author": Equal("alice"), "ApprovedBy": BeEmpty()})))
		Consistently(received(fleet, hash), never).Should(BeZero())
		Expect(get(ns, "web").Status.Phase).To(Equal(fleetv1alpha1.RolloutPending))

		// Pausing and resuming is not a new decision: bob's approval of the current spec holds.
		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(4))
	})

	It("voids an approval when a policy the rollout falls through to loosens its gates, and its author still cannot approve", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		// production sets maxFailurePercent only: its bake time comes from the namespace's
		// default policy, which requires no approvals and which alice may edit.
		bakingDefault()
		body := harness.CollectorConfig("fall-through")
		hash := collectorconfig.Hash([]byte(body))
		approvedWhilePaused(body)

		var def fleetv1alpha1.GatePolicy
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: fleetv1alpha1.DefaultGatePolicyName}, &def)).To(Succeed())
		def.Spec.Gates.BakeTime = &metav1.Duration{}
		Expect(users["alice"].Update(ctx, &def)).To(Succeed())
		// A merge patch: the engine writes the Rollout's status as the policy changes.
		Expect(users["alice"].Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":false}}`)))).To(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(BeEmpty())
		Consistently(received(fleet, hash), never).Should(BeZero())
		Expect(approve(users["alice"], "web", hash)).To(MatchError(ContainSubstring("an approval must come from another user")))

		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(4))
	})

	It("refuses the approval of whoever moved the decision from outside the Rollout: the editor who changed its group, or a policy it falls through to", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		bakingDefault()
		mallory(ns)
		body := harness.CollectorConfig("moved-from-outside")
		hash := collectorconfig.Hash([]byte(body))
		approvedWhilePaused(body) // alice wrote it, bob approved it

		By("mallory, who may edit AgentGroups, changes the group's selector and approves the result herself")
		var g fleetv1alpha1.AgentGroup
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)).To(Succeed())
		g.Spec.Selector.MatchExpressions = []fleetv1alpha1.AttributeRequirement{{Key: "deployment.environment", Operator: fleetv1alpha1.AttributeOpNotIn, Values: []string{"lab"}}}
		Expect(users["mallory"].Update(ctx, &g)).To(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(BeEmpty())
		Expect(approve(users["mallory"], "web", hash)).To(MatchError(ContainSubstring("mallory changed AgentGroup gateways")))
		By("a later edit of the Rollout (a GitOps sync, say) does not make her change an approved one")
		Expect(users["alice"].Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"applyTimeout":"4m"}}`)))).To(Succeed())
		Expect(approve(users["mallory"], "web", hash)).To(MatchError(ContainSubstring("mallory changed AgentGroup gateways")))
		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(Equal([]string{"bob"}))

		By("carol loosens the namespace's default policy, which requires no approvals of its own, and approves the result herself")
		carol := h.Editors("carol")["carol"]
		var def fleetv1alpha1.GatePolicy
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: fleetv1alpha1.DefaultGatePolicyName}, &def)).To(Succeed())
		def.Spec.Gates.BakeTime = &metav1.Duration{}
		Expect(carol.Update(ctx, &def)).To(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(BeEmpty())
		Expect(approve(carol, "web", hash)).To(MatchError(ContainSubstring("carol changed GatePolicy " + ns + "/default")))
		Consistently(received(fleet, hash), never).Should(BeZero())

		By("an approval by someone who changed none of it counts")
		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Expect(users["alice"].Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":false}}`)))).To(Succeed())
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(4))
	})

	It("refuses an approval of the decision as it was read, once a change of the group moved it", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		mallory(ns)
		hash := createdPaused(harness.CollectorConfig("reviewed"))
		var reviewed string
		Eventually(func() string {
			if a := get(ns, "web").Status.Approvals; a != nil {
				reviewed = a.Decision
			}
			return reviewed
		}, 30*time.Second).ShouldNot(BeEmpty())

		By("mallory widens the group between bob's review and his approval")
		g := fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"}}
		Expect(users["mallory"].Patch(ctx, &g, client.RawPatch(types.MergePatchType,
			[]byte(`{"spec":{"selector":{"matchExpressions":[{"key":"deployment.environment","operator":"NotIn","values":["lab"]}]}}}`)))).To(Succeed())
		Expect(approve(users["bob"], "web", hash[:10]+"@"+reviewed)).To(MatchError(ContainSubstring("changed since it was read")))
		Expect(approvedBy("web")()).To(BeEmpty())

		By("read again, the decision as it now is can be approved")
		Eventually(func() string { return get(ns, "web").Status.Approvals.Decision }, 30*time.Second).ShouldNot(Equal(reviewed))
		Expect(approve(users["bob"], "web", hash[:10]+"@"+get(ns, "web").Status.Approvals.Decision)).To(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(Equal([]string{"bob"}))
	})

	It("refuses the approval of every author since the last approved revision, not only the last one", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		mallory(ns)
		carol := h.Editors("carol")["carol"]
		body := harness.CollectorConfig("two-authors")
		hash := collectorconfig.Hash([]byte(body))
		approvedWhilePaused(harness.CollectorConfig("approved-first")) // alice wrote it, bob approved it

		By("mallory writes the config, carol touches it up: mallory may not approve what carol's edit left of hers")
		edit(users["mallory"], ns, "web", func(cur *fleetv1alpha1.Rollout) { cur.Spec.Config.Inline = &body })
		Expect(carol.Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"applyTimeout":"4m"}}`)))).To(Succeed())
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(hash))
		Expect(approve(users["mallory"], "web", hash)).To(MatchError(ContainSubstring("mallory changed Rollout web since its last approved revision")))
		Expect(approve(carol, "web", hash)).To(MatchError(ContainSubstring("an approval must come from another user")))

		By("nor may whoever changed its group in turn before another editor did")
		var g fleetv1alpha1.AgentGroup
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)).To(Succeed())
		g.Spec.Selector.MatchExpressions = []fleetv1alpha1.AttributeRequirement{{Key: "deployment.environment", Operator: fleetv1alpha1.AttributeOpNotIn, Values: []string{"lab"}}}
		dave := h.Editors("dave")["dave"]
		Expect(dave.Update(ctx, &g)).To(Succeed())
		Expect(users["alice"].Patch(ctx, &g, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"selector":{"matchExpressions":null}}}`)))).To(Succeed())
		Expect(approve(dave, "web", hash)).To(MatchError(ContainSubstring("dave changed AgentGroup gateways")))
		Consistently(received(fleet, hash), never).Should(BeZero())

		By("an approval by someone who changed none of it counts; after it, earlier authors may approve the next revision")
		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Eventually(approvedBy("web"), 30*time.Second).Should(Equal([]string{"bob"}))
		next := harness.CollectorConfig("after-approval")
		edit(carol, ns, "web", func(cur *fleetv1alpha1.Rollout) { cur.Spec.Config.Inline = &next })
		Eventually(func() string { return get(ns, "web").Status.ConfigHash }, 30*time.Second).Should(Equal(collectorconfig.Hash([]byte(next))))
		Expect(approve(users["mallory"], "web", collectorconfig.Hash([]byte(next)))).To(Succeed())
	})

	It("refuses every approval of a Rollout whose group was changed while the webhook was bypassed, until a recorded change", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		mallory(ns)
		hash := createdPaused(harness.CollectorConfig("group-bypassed"))

		By("taking the webhook out of the path, as failurePolicy Ignore with no replica answering would")
		g := &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"}}
		restore := h.BypassWebhook(webhookConfiguration, g)
		g.Spec.Selector.MatchExpressions = []fleetv1alpha1.AttributeRequirement{{Key: "deployment.environment", Operator: fleetv1alpha1.AttributeOpNotIn, Values: []string{"lab"}}}
		Expect(users["mallory"].Update(ctx, g)).To(Succeed())
		restore()

		By("with the webhook back, nobody may approve: who changed the group is not known")
		Eventually(func() error { return approve(users["bob"], "web", hash) }, 20*time.Second, 200*time.Millisecond).Should(
			MatchError(ContainSubstring("AgentGroup gateways changed what the approval of Rollout web covers, and nothing records who did")))
		Consistently(received(fleet, hash), never).Should(BeZero())

		By("a change of the group through the webhook names its author; then another user may approve")
		Expect(users["alice"].Patch(ctx, g, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"selector":{"matchExpressions":null}}}`)))).To(Succeed())
		Expect(approve(users["alice"], "web", hash)).To(MatchError(ContainSubstring("an approval must come from another user")))
		Expect(approve(users["bob"], "web", hash)).To(Succeed())
		Expect(users["alice"].Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":false}}`)))).To(Succeed())
		Eventually(received(fleet, hash), 60*time.Second).Should(Equal(4))
	})

	It("refuses to delete a policy without approvals of its own while a Rollout that needs approvals runs under it", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		bakingDefault()
		mallory(ns)
		approvedWhilePaused(harness.CollectorConfig("deleted-under")) // alice wrote it, bob approved it
		def := &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1alpha1.DefaultGatePolicyName}}
		err := users["mallory"].Delete(ctx, def)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "deleting the policy the rollout falls through to: %v", err)
		Expect(err.Error()).To(ContainSubstring("GatePolicy default decides the push of Rollout " + ns + "/web"))
		Expect(approvedBy("web")()).To(Equal([]string{"bob"}))

		By("once the rollout is done, the policy may go")
		Expect(users["alice"].Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+fleetv1alpha1.AnnotationAction+`":"abort"}}}`)))).To(Succeed())
		Eventually(phase(ns, "web"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutAborted))
		Expect(users["mallory"].Delete(ctx, def)).To(Succeed())
	})

	It("records who asked for an action from the request, not from the annotation", func() {
		setup(fleetv1alpha1.ApprovalRequirement{})
		Expect(users["alice"].Create(ctx, rollout(ns, "web", "gateways", harness.CollectorConfig("action")))).To(Succeed())
		patch := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationAction + `":"abort","` + fleetv1alpha1.AnnotationActionRequestedBy + `":"bob"}}}`)
		Expect(users["alice"].Patch(ctx, get(ns, "web"), client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		Eventually(func() string {
			if a := get(ns, "web").Status.LastAction; a != nil {
				return a.RequestedBy
			}
			return ""
		}, 30*time.Second).Should(Equal("alice"))
		var list eventsv1.EventList
		Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, e := range list.Items {
			Expect(e.Note).NotTo(ContainSubstring("requested by bob"))
		}
	})
})

// mallory is a user with Kubernetes' edit role in ns, which may impersonate its ServiceAccounts,
// and the right to edit Ampora's kinds (users["mallory"] acts as her). edit aggregates its
// rules from system:aggregate-to-edit, which a bare API server without a controller manager
// does not aggregate: the binding names the source role.
func mallory(ns string) *envtest.AuthenticatedUser {
	GinkgoHelper()
	ctx := context.Background()
	u, err := env.AddUser(envtest.User{Name: "mallory"}, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mallory-edit"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:aggregate-to-edit"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}}})).To(Succeed())
	users["mallory"] = h.Editors("mallory")["mallory"]
	return u
}

// impersonating is a client of u that impersonates user.
func impersonating(u *envtest.AuthenticatedUser, user string) client.Client {
	GinkgoHelper()
	cfg := rest.CopyConfig(u.Config())
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme, Mapper: env.Client.RESTMapper()})
	Expect(err).NotTo(HaveOccurred())
	return c
}
