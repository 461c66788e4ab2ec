package rbac_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
)

const (
	optedIn    = "sec-tenant-a" // keeps enrollment tokens: the install opts it in
	notOptedIn = "sec-tenant-b" // a team namespace that keeps other Secrets
	tokenDir   = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// install is the operator's RBAC as one way of installing renders it.
type install struct {
	namespace string // the operator's namespace
	prefix    string // of every object's name
	objs      []*unstructured.Unstructured
}

// identity is the user a container's mounted ServiceAccount token authenticates as; pod is the
// Pod the token is bound to, if any (the API server names it in the user's extra).
type identity struct{ namespace, account, pod string }

func (i identity) user() string { return "system:serviceaccount:" + i.namespace + ":" + i.account }

// client impersonates the identity, as its token would authenticate.
func (i identity) client() client.Client {
	GinkgoHelper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: i.user(),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + i.namespace, "system:authenticated"}}
	if i.pod != "" {
		cfg.Impersonate.Extra = map[string][]string{readapi.PodNameKey: {i.pod}}
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// tokenOf says whose token a container of the operator Pod mounts where in-cluster clients
// read it: a service-account-token Secret's account, or the Pod's own account when the
// kubelet mounts it (automount, or a projected serviceAccountToken).
func (in install) tokenOf(container string) identity {
	GinkgoHelper()
	var d *appsv1.Deployment
	for _, o := range in.objs {
		if o.GetKind() == "Deployment" {
			d = typed[appsv1.Deployment](o)
		}
	}
	Expect(d).NotTo(BeNil())
	pod := d.Spec.Template.Spec
	podAccount := identity{namespace: in.namespace, account: pod.ServiceAccountName}
	var c *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == container {
			c = &pod.Containers[i]
		}
	}
	Expect(c).NotTo(BeNil(), "no container %s", container)
	for _, m := range c.VolumeMounts {
		if m.MountPath != tokenDir {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.Secret != nil {
				s := find(in.objs, "Secret", v.Secret.SecretName)
				Expect(s.Object["type"]).To(Equal(string(corev1.SecretTypeServiceAccountToken)))
				return identity{namespace: in.namespace, account: s.GetAnnotations()[corev1.ServiceAccountNameKey]}
			}

			Expect(v.Projected).NotTo(BeNil(), "volume %s", v.Name)
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken != nil {
					return podAccount
				}
			}
		}
		Fail("container " + container + " mounts no token at " + tokenDir)
	}
	Expect(ptr.Deref(pod.AutomountServiceAccountToken, true)).To(BeTrue(), "container %s has no token", container)
	return podAccount
}

// rolloutAndGroup creates, in a new namespace, the Rollout web of the AgentGroup gateways.
func rolloutAndGroup(ctx context.Context, ns string) (*fleetv1alpha1.Rollout, *fleetv1alpha1.AgentGroup) {
	GinkgoHelper()
	Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))).To(Succeed())
	body := "receivers: {}"
	batch := fleetv1alpha1.FromInt(2)
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "gateways", Config: fleetv1alpha1.RolloutConfig{Inline: &body},
			Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &batch}}}
	g := &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"},
		Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}}}
	Expect(env.Client.Create(ctx, ro)).To(Succeed())
	Expect(env.Client.Create(ctx, g)).To(Succeed())
	return ro, g
}

// boundSidecar is a client with a real token of the sidecar's account bound to an operator Pod
// named pod, as the kubelet mounts it (no kubelet runs the Pod: the object is enough to bind a
// token to).
func boundSidecar(ctx context.Context, in *install, sidecar identity, pod string) client.Client {
	GinkgoHelper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: pod},
		Spec: corev1.PodSpec{ServiceAccountName: sidecar.account, AutomountServiceAccountToken: ptr.To(false),
			// What the restricted Pod Security Standard asks (config/default enforces it).
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "opamp", Image: "ampora", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}}}
	Expect(env.Client.Create(ctx, p)).To(Succeed())
	return tokenClient(ctx, sidecar, &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: p.UID})
}

// unboundSidecar is a client with a real token of the sidecar's account bound to nothing, as
// a token Secret or `kubectl create token` gives.
func unboundSidecar(ctx context.Context, in *install, sidecar identity) client.Client {
	GinkgoHelper()
	return tokenClient(ctx, sidecar, nil)
}

func tokenClient(ctx context.Context, who identity, bound *authenticationv1.BoundObjectReference) client.Client {
	GinkgoHelper()
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600)), BoundObjectRef: bound}}
	Expect(env.Client.SubResource("token").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: who.namespace, Name: who.account}}, tr)).To(Succeed())
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tr.Status.Token
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// forbidden expects err to be the API server's refusal.
func forbidden(err error, what string) {
	GinkgoHelper()
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%s: want Forbidden, got %v", what, err)
}

// allowed asks the API server whether the identity may do something (SubjectAccessReview).
func allowed(ctx context.Context, who identity, namespace, verb, group, resource, name string) bool {
	GinkgoHelper()
	sub := ""
	if r, s, ok := strings.Cut(resource, "/"); ok {
		resource, sub = r, s
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: who.user(), Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + who.namespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb, Group: group,
			Resource: resource, Subresource: sub, Name: name},
	}}
	Expect(env.Client.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

var _ = Describe("The operator's RBAC", Ordered, ContinueOnFailure, func() {
	installs := map[string]*install{}

	BeforeAll(func(ctx SpecContext) {
		for _, ns := range []string{optedIn, notOptedIn} {
			Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))).To(Succeed())
		}
		// What a compromised process would be after: a team's other Secrets, and a Lease of
		// the control plane's.
		for _, ns := range []string{optedIn, notOptedIn} {
			Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "database-password"},
				StringData: map[string]string{"password": "hunter2"}})).To(Succeed())
		}
		Expect(env.Client.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-controller-manager"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("control-plane")}})).To(Succeed())

		// The chart, with one namespace opted in to enrollment tokens.
		home := GinkgoT().TempDir()
		chart := &install{namespace: "ampora-sec", prefix: "sec-ampora"}
		chart.objs = rbacOf(run(exec.CommandContext(ctx, helm, "template", "sec", "charts/ampora", "-n", chart.namespace,
			"--set", "enrollment.namespaces={"+optedIn+"}"), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
			"HELM_DATA_HOME="+home+"/data"))
		Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chart.namespace}}))).To(Succeed())
		installs["chart"] = chart

		// kustomize (config/default, which creates its namespace), with the RoleBinding that
		// config/rbac/kustomization.yaml tells to add for a namespace that opts in.
		out, errOut, err := env.Kubectl(ctx, "", "kustomize", root+"/config/default")
		Expect(err).NotTo(HaveOccurred(), errOut)
		kust := &install{namespace: "ampora-system", prefix: "ampora", objs: rbacOf(out)}
		installs["kustomize"] = kust

		for _, in := range []*install{chart, kust} {
			var manifest strings.Builder
			for _, o := range in.objs {
				if o.GetKind() == "Deployment" || o.GetKind() == "Secret" {
					continue // their mounts say who each container is; they need not run
				}
				b, err := o.MarshalJSON()
				Expect(err).NotTo(HaveOccurred())
				manifest.Write(b)
				manifest.WriteString("\n")
			}
			_, errOut, err := env.Kubectl(ctx, manifest.String(), "apply", "--server-side", "--field-manager=rbac-attack-test", "-f", "-")
			Expect(err).NotTo(HaveOccurred(), errOut)
		}
		// The API server enforces a new admission policy once it has loaded it: wait for each
		// install's, by a write each refuses (a dry run).
		for _, in := range []*install{chart, kust} {
			c := in.tokenOf("opamp").client()
			Eventually(func() error {
				return c.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "policy-probe"}}, client.DryRunAll)
			}).WithContext(ctx).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(
				MatchError(ContainSubstring("may write only replica Leases")), "the sidecar policies of %s", in.prefix)
		}
		opamp := kust.tokenOf("opamp")
		Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: optedIn, Name: "ampora-opamp-tokens"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "ampora-opamp-tokens"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: opamp.namespace, Name: opamp.account}}})).To(Succeed())
	})

	for _, name := range []string{"chart", "kustomize"} {
		Context("installed by the "+name, func() {
			var in *install
			var sidecar, manager identity
			BeforeAll(func() {
				in = installs[name]
				sidecar, manager = in.tokenOf("opamp"), in.tokenOf("manager")
				// As the kubelet mounts it for the sidecar of Pod sec-0.
				sidecar.pod = "sec-0"
			})

			It("gives the internet-facing sidecar an identity of its own, not the manager's", func() {
				// The sidecars' handover endpoint admits callers that review to its own identity,
				// and the manager's rights come with its identity: sharing one would hand both to
				// whoever breaks into the sidecar.
				Expect(sidecar.user()).NotTo(Equal(manager.user()))
			})

			It("refuses the sidecar the Secrets of namespaces that did not opt in", func(ctx SpecContext) {
				c := sidecar.client()
				var secrets corev1.SecretList
				forbidden(c.List(ctx, &secrets, client.InNamespace(notOptedIn)), "list Secrets in "+notOptedIn)
				forbidden(c.List(ctx, &secrets), "list Secrets cluster-wide")
				forbidden(c.List(ctx, &secrets, client.InNamespace(in.namespace)), "list Secrets in the operator namespace")
				var s corev1.Secret
				forbidden(c.Get(ctx, client.ObjectKey{Namespace: in.namespace, Name: in.prefix + "-webhook-cert"}, &s), "get the webhook's certificate")
				forbidden(c.Get(ctx, client.ObjectKey{Namespace: optedIn, Name: "database-password"}, &s), "get a Secret of an opted-in namespace by name")
			})

			It("refuses both processes the Leases of other namespaces", func(ctx SpecContext) {
				for who, id := range map[string]identity{"sidecar": sidecar, "manager": manager} {
					c := id.client()
					forbidden(c.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: in.prefix + "-forged"}}),
						who+": create a Lease in kube-system")
					var victim coordinationv1.Lease
					Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "kube-controller-manager"}, &victim)).To(Succeed())
					forbidden(c.Get(ctx, client.ObjectKeyFromObject(&victim), &coordinationv1.Lease{}), who+": get kube-system's Lease")
					victim.Spec.HolderIdentity = ptr.To("ampora")
					forbidden(c.Update(ctx, &victim), who+": take over kube-system's Lease")
					forbidden(c.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: optedIn, Name: in.prefix + "-forged"}}),
						who+": create a Lease in a team namespace")
				}
			})

			It("refuses the sidecar what only the manager may do", func(ctx SpecContext) {
				c := sidecar.client()
				patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"fleet.ampora.io/action":"resume"}}}`))
				forbidden(c.Patch(ctx, &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: optedIn, Name: "gateways"}}, patch), "patch a Rollout")
				forbidden(c.Create(ctx, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: optedIn, Name: "forged"}, Revision: 1}),
					"create a ControllerRevision (a config revision)")
				forbidden(c.Get(ctx, client.ObjectKey{Namespace: optedIn, Name: "collector-config"}, &corev1.ConfigMap{}), "get a ConfigMap")
				var u unstructured.Unstructured
				u.SetAPIVersion("admissionregistration.k8s.io/v1")
				u.SetKind("MutatingWebhookConfiguration")
				u.SetName(in.prefix + "-approvals")
				forbidden(c.Patch(ctx, &u, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`))), "patch the webhook configuration")
				forbidden(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "forged"}}), "create a Secret in the operator namespace")
				forbidden(c.Get(ctx, client.ObjectKey{Namespace: in.namespace, Name: in.prefix + "-approval-key"}, &corev1.Secret{}), "read the approval seal key")
			})

			It("lets the sidecar change only status.replicas: not the status it and its peers push from", func(ctx SpecContext) {
				ns := "sec-status-" + name
				ro, g := rolloutAndGroup(ctx, ns)
				// What the manager wrote: the approved revision and selector.
				approved := strings.Repeat("a", 64)
				ro.Status.ConfigHash, ro.Status.Phase = approved, fleetv1alpha1.RolloutProgressing
				ro.Status.GroupSelector = &fleetv1alpha1.AgentScope{AgentSelector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}}
				Expect(env.Client.Status().Update(ctx, ro)).To(Succeed())
				g.Status.CurrentConfigHash, g.Status.CurrentSelector = approved, ro.Status.GroupSelector
				Expect(env.Client.Status().Update(ctx, g)).To(Succeed())

				c := sidecar.client()
				forged := strings.Repeat("f", 64)
				for _, attempt := range []struct {
					obj   client.Object
					patch string
				}{
					{ro, `{"status":{"configHash":"` + forged + `"}}`},
					{ro, `{"status":{"groupSelector":{"matchAttributes":{"service.name":"everything"}}}}`},
					{ro, `{"status":{"phase":"Completed"}}`},
					{ro, `{"status":{"previousConfigHash":"` + forged + `"}}`},
					{g, `{"status":{"currentConfigHash":"` + forged + `"}}`},
					{g, `{"status":{"currentSelector":null}}`},
				} {
					err := c.Status().Patch(ctx, attempt.obj, client.RawPatch(types.MergePatchType, []byte(attempt.patch)))
					forbidden(err, "patch "+attempt.patch)
					Expect(err.Error()).To(ContainSubstring("may change only status.replicas"))
				}
				var after fleetv1alpha1.Rollout
				Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(ro), &after)).To(Succeed())
				Expect(after.Status.ConfigHash).To(Equal(approved))

				By("its own entry, written as the sidecar writes it (server-side apply of status.replicas)")
				for _, kind := range []string{"Rollout", "AgentGroup"} {
					name := map[string]string{"Rollout": "web", "AgentGroup": "gateways"}[kind]
					u := &unstructured.Unstructured{Object: map[string]any{
						"apiVersion": fleetv1alpha1.GroupVersion.String(), "kind": kind,
						"metadata": map[string]any{"name": name, "namespace": ns},
						"status":   map[string]any{"replicas": []any{map[string]any{"replica": "sec-0", "reportedAt": "2026-12-03T10:00:00Z"}}},
					}}
					Expect(c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("ampora-opamp-sec-0"), client.ForceOwnership)).To(Succeed(), kind)
				}
			})

			It("holds each sidecar to its own replica: its entry of status.replicas and its Lease, by the Pod its token is bound to", func(ctx SpecContext) {
				// Every replica's sidecar runs as one ServiceAccount: a compromised one could
				// otherwise rewrite or drop its peers' counts, or renew a dead peer's Lease.
				ns := "sec-replica-" + name
				ro, _ := rolloutAndGroup(ctx, ns)

				// Real tokens, as the kubelet mounts them: each bound to its replica's Pod.
				replicaA, replicaB := boundSidecar(ctx, in, sidecar, "sec-a"), boundSidecar(ctx, in, sidecar, "sec-b")
				entry := func(kind, replica string, applied int) *unstructured.Unstructured {
					objName := map[string]string{"Rollout": "web", "AgentGroup": "gateways"}[kind]
					counts := map[string]any{"pending": int64(0), "applied": int64(applied)}
					r := map[string]any{"replica": replica, "reportedAt": "2026-12-04T10:00:00Z"}
					if kind == "Rollout" {
						r["counts"] = counts
					} else {
						r["connected"] = int64(applied)
					}
					return &unstructured.Unstructured{Object: map[string]any{
						"apiVersion": fleetv1alpha1.GroupVersion.String(), "kind": kind,
						"metadata": map[string]any{"name": objName, "namespace": ns},
						"status":   map[string]any{"replicas": []any{r}},
					}}
				}
				apply := func(c client.Client, u *unstructured.Unstructured, owner string) error {
					return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(owner), client.ForceOwnership)
				}
				for _, kind := range []string{"Rollout", "AgentGroup"} {
					By(kind + ": each replica writes its own entry")
					Expect(apply(replicaA, entry(kind, "sec-a", 7), "ampora-opamp-sec-a")).To(Succeed())
					Expect(apply(replicaB, entry(kind, "sec-b", 3), "ampora-opamp-sec-b")).To(Succeed())

					By(kind + ": B rewrites A's entry, under A's field manager")
					err := apply(replicaB, entry(kind, "sec-a", 0), "ampora-opamp-sec-a")
					forbidden(err, kind+": rewrite another replica's entry")
					Expect(err.Error()).To(ContainSubstring("the OpAMP sidecar of Pod sec-b may write only its own entry of status.replicas"))

					By(kind + ": B drops A's entry")
					u := entry(kind, "sec-b", 3)
					patch, err := json.Marshal(map[string]any{"status": u.Object["status"]})
					Expect(err).NotTo(HaveOccurred())
					target := &unstructured.Unstructured{}
					target.SetGroupVersionKind(fleetv1alpha1.GroupVersion.WithKind(kind))
					target.SetNamespace(ns)
					target.SetName(u.GetName())
					forbidden(replicaB.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, patch)), kind+": drop another replica's entry")

					By(kind + ": a token bound to no Pod writes no entry, not even one named for a replica")
					err = apply(unboundSidecar(ctx, in, sidecar), entry(kind, "sec-a", 0), "ampora-opamp-sec-a")
					forbidden(err, kind+": write with a token bound to no Pod")
					Expect(err.Error()).To(ContainSubstring("must authenticate with a token bound to its Pod"))
				}
				var got fleetv1alpha1.Rollout
				Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(ro), &got)).To(Succeed())
				applied := map[string]int32{}
				for _, r := range got.Status.Replicas {
					applied[r.Replica] = r.Counts.Applied
				}
				Expect(applied).To(Equal(map[string]int32{"sec-a": 7, "sec-b": 3}), "A's counts are A's")

				By("B renews A's Lease, or makes one for a replica that is not")
				lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "ampora-opamp-sec-a",
					Labels: map[string]string{"fleet.ampora.io/opamp-replica": "true"}}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("sec-a")}}
				Expect(replicaA.Create(ctx, lease)).To(Succeed())
				lease.Spec.HolderIdentity = ptr.To("sec-b")
				err := replicaB.Update(ctx, lease)
				forbidden(err, "renew another replica's Lease")
				Expect(err.Error()).To(ContainSubstring("may write only its own Lease, ampora-opamp-sec-b"))
				forbidden(replicaB.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "ampora-opamp-sec-ghost"}}),
					"make a Lease for another replica")
				Expect(replicaB.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "ampora-opamp-sec-b"}})).To(Succeed())
			})

			It("admits a sidecar's own entry beside 63 full ones: the policy's checks stay within the API server's cost budget", func(ctx SpecContext) {
				// The per-entry comparison runs on every sidecar write; at the list's bound
				// (MaxItems 64), with every entry as large as its schema allows, it must still
				// pass, or failurePolicy Fail would stop every replica's reports.
				ro, _ := rolloutAndGroup(ctx, "sec-cost-"+name)
				full := func(replica string) map[string]any {
					var failed, denied []any
					for i := range 10 {
						failed = append(failed, map[string]any{"instanceUID": fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), "state": "Failed",
							"serviceName": strings.Repeat("s", 256), "serviceVersion": strings.Repeat("v", 256), "hostName": strings.Repeat("h", 256),
							"message": strings.Repeat("m", 1024), "since": "2026-12-04T10:00:00Z"})
					}
					for i := range 32 {
						denied = append(denied, map[string]any{"policy": fmt.Sprintf("policy-%02d", i), "count": int64(i + 1)})
					}
					buckets := make([]any, 20)
					for i := range buckets {
						buckets[i] = int64(i)
					}
					return map[string]any{"replica": replica, "reportedAt": "2026-12-04T10:00:00Z", "configHash": strings.Repeat("a", 64),
						"batch": int64(3), "connected": int64(5000), "applyDurationBuckets": buckets, "failedAgents": failed, "deniedBy": denied}
				}
				var others []any
				for i := range 63 {
					others = append(others, full(fmt.Sprintf("old-%02d", i)))
				}
				patch, err := json.Marshal(map[string]any{"status": map[string]any{"replicas": others}})
				Expect(err).NotTo(HaveOccurred())
				Expect(env.Client.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
				u := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": fleetv1alpha1.GroupVersion.String(), "kind": "Rollout",
					"metadata": map[string]any{"name": ro.Name, "namespace": ro.Namespace},
					"status":   map[string]any{"replicas": []any{full("sec-0")}},
				}}
				Expect(sidecar.client().Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("ampora-opamp-sec-0"),
					client.ForceOwnership)).To(Succeed())
				var got fleetv1alpha1.Rollout
				Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(ro), &got)).To(Succeed())
				Expect(got.Status.Replicas).To(HaveLen(64))
			})

			It("keeps the leader Lease from the sidecar, and the replicas' Leases from the manager", func(ctx SpecContext) {
				c := sidecar.client()
				leader := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "ampora-rollout-engine"},
					Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("sidecar"), LeaseDurationSeconds: ptr.To(int32(3600))}}
				err := c.Create(ctx, leader)
				if apierrors.IsAlreadyExists(err) {
					Expect(c.Get(ctx, client.ObjectKeyFromObject(leader), leader)).To(Succeed())
					leader.Spec.HolderIdentity = ptr.To("sidecar")
					err = c.Update(ctx, leader)
				}
				forbidden(err, "take the leader Lease")
				Expect(err.Error()).To(ContainSubstring("may write only replica Leases"))
				forbidden(c.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "other"}}), "create another Lease")
				Expect(allowed(ctx, manager, in.namespace, "update", "coordination.k8s.io", "leases", "ampora-opamp-sec-0")).To(BeFalse(), "the manager may update a replica's Lease")
			})

			It("refuses the manager the enrollment tokens", func(ctx SpecContext) {
				c := manager.client()
				var secrets corev1.SecretList
				forbidden(c.List(ctx, &secrets, client.InNamespace(optedIn)), "list Secrets in "+optedIn)
				forbidden(c.List(ctx, &secrets), "list Secrets cluster-wide")
			})

			It("still lets the sidecar do what it does", func(ctx SpecContext) {
				c := sidecar.client()
				var secrets corev1.SecretList
				Expect(c.List(ctx, &secrets, client.InNamespace(optedIn), client.HasLabels{"fleet.ampora.io/enrollment-token"})).To(Succeed())
				lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "ampora-opamp-sec-0",
					Labels: map[string]string{"fleet.ampora.io/opamp-replica": "true"}}}
				Expect(c.Create(ctx, lease)).To(Succeed())
				Expect(c.Get(ctx, client.ObjectKeyFromObject(lease), lease)).To(Succeed())
				lease.Spec.HolderIdentity = ptr.To("sec-0")
				Expect(c.Update(ctx, lease)).To(Succeed())
				Expect(c.List(ctx, &coordinationv1.LeaseList{}, client.InNamespace(in.namespace))).To(Succeed())
				for _, l := range []client.ObjectList{&fleetv1alpha1.RolloutList{}, &fleetv1alpha1.AgentGroupList{},
					&fleetv1alpha1.GatePolicyList{}, &appsv1.ControllerRevisionList{}} {
					Expect(c.List(ctx, l)).To(Succeed())
				}
				Expect(c.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "not-a-token"}})).To(Succeed())
				Expect(c.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: manager.user(),
					ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: optedIn, Verb: "get", Group: "fleet.ampora.io", Resource: "rollouts"}}})).To(Succeed())
				for _, r := range []string{"rollouts/status", "agentgroups/status"} {
					Expect(allowed(ctx, sidecar, optedIn, "patch", "fleet.ampora.io", r, "")).To(BeTrue(), r)
				}
				for _, r := range []string{"list", "watch"} {
					Expect(allowed(ctx, sidecar, optedIn, r, "", "secrets", "")).To(BeTrue(), r)
				}
			})

			It("still lets the manager do what it does", func(ctx SpecContext) {
				c := manager.client()
				lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: in.namespace, Name: "ampora-rollout-engine"}}
				Expect(c.Create(ctx, lease)).To(Succeed())
				lease.Spec.HolderIdentity = ptr.To("sec-0")
				Expect(c.Update(ctx, lease)).To(Succeed())
				Expect(c.List(ctx, &coordinationv1.LeaseList{}, client.InNamespace(in.namespace))).To(Succeed())
				Expect(c.List(ctx, &corev1.ConfigMapList{})).To(Succeed())
				Expect(c.List(ctx, &fleetv1alpha1.RolloutList{})).To(Succeed())
				for _, a := range []struct{ ns, verb, group, resource, name string }{
					{optedIn, "get", "fleet.ampora.io", "rollouts", ""}, // the sidecars' read API checks this
					{optedIn, "patch", "fleet.ampora.io", "rollouts", ""},
					{optedIn, "update", "fleet.ampora.io", "rollouts/status", ""},
					{optedIn, "create", "apps", "controllerrevisions", ""},
					{optedIn, "create", "events.k8s.io", "events", ""},
					{in.namespace, "create", "", "events", ""},
					{in.namespace, "watch", "coordination.k8s.io", "leases", ""},
					{in.namespace, "get", "", "secrets", in.prefix + "-webhook-cert"},
					{in.namespace, "update", "", "secrets", in.prefix + "-webhook-cert"},
					{"", "patch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", in.prefix + "-approvals"},
				} {
					Expect(allowed(ctx, manager, a.ns, a.verb, a.group, a.resource, a.name)).To(BeTrue(), "%+v", a)
				}
			})
		})
	}
})

// rbacOf keeps what decides who may do what: Namespaces, ServiceAccounts, roles and their
// bindings, and the Deployment and Secrets that say whose token each container mounts.
func rbacOf(manifest string) []*unstructured.Unstructured {
	GinkgoHelper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		Expect(err).NotTo(HaveOccurred())
		o := &unstructured.Unstructured{Object: m}
		switch o.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Secret",
			"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			objs = append(objs, o)
		}
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	Fail(fmt.Sprintf("no %s %s", kind, name))
	return nil
}

func typed[T any](o *unstructured.Unstructured) *T {
	GinkgoHelper()
	var t T
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &t)).To(Succeed())
	return &t
}

// run runs a command in the repository with extra environment and returns its stdout.
func run(cmd *exec.Cmd, extraEnv ...string) string {
	GinkgoHelper()
	cmd.Dir = root
	cmd.Env = append(os.Environ(), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	Expect(cmd.Run()).To(Succeed(), errb.String())
	return out.String()
}
