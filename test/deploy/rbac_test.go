package deploy_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
)

// access is one thing a rule allows: a verb on a resource of a group.
type access struct{ group, resource, verb string }

func (a access) String() string { return a.verb + " " + a.resource + "." + a.group }

// accesses expands rules into the set of accesses they grant.
func accesses(rules []rbacv1.PolicyRule) map[access]bool {
	set := map[access]bool{}
	for _, r := range rules {
		Expect(r.ResourceNames).To(BeEmpty())
		Expect(r.NonResourceURLs).To(BeEmpty())
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					set[access{g, res, v}] = true
				}
			}
		}
	}
	return set
}

// rulesOf returns the rules of a ClusterRole or Role object.
func rulesOf(o *unstructured.Unstructured) []rbacv1.PolicyRule {
	GinkgoHelper()
	Expect(o.GetKind()).To(BeElementOf("ClusterRole", "Role"))
	return typed[rbacv1.ClusterRole](o).Rules
}

func sorted(set map[access]bool) []string {
	var out []string
	for a := range set {
		out = append(out, a.String())
	}
	sort.Strings(out)
	return out
}

// expectRoles checks that the roles of an install whose names start with prefix hold exactly
// the rules of config/rbac: the generated ClusterRole of the manager, and the hand-written ones
// of its Leases and of the sidecar. Exactly: a missing rule breaks a process, an extra one is
// privilege nobody asked for.
func expectRoles(objs []*unstructured.Unstructured, prefix string) {
	GinkgoHelper()
	for _, c := range []struct{ file, kind, name string }{
		{"config/rbac/role.yaml", "ClusterRole", prefix + "-manager"},
		{"config/rbac/opamp_role.yaml", "ClusterRole", prefix + "-opamp-sidecar"},
		{"config/rbac/opamp_leases_role.yaml", "Role", prefix + "-opamp-leases"},
		{"config/rbac/opamp_tokens_role.yaml", "ClusterRole", prefix + "-opamp-tokens"},
	} {
		src := parseFile(c.file)
		Expect(src).To(HaveLen(1))
		want := accesses(rulesOf(src[0]))
		Expect(want).NotTo(BeEmpty())
		got := accesses(rulesOf(find(objs, c.kind, c.name)))
		Expect(sorted(got)).To(Equal(sorted(want)), "%s %s against %s", c.kind, c.name, c.file)
	}
	for _, o := range append(ofKind(objs, "ClusterRole"), ofKind(objs, "Role")...) {
		for _, r := range rulesOf(o) {
			for _, f := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
				Expect(f).NotTo(ContainElement("*"), "%s %s grants a wildcard", o.GetKind(), o.GetName())
			}
		}
	}
}

// expectBindings checks that each binding of an install names a role of the install and the
// ServiceAccount of the process the role is for: the sidecar's roles (named *-opamp-*) are
// bound to the sidecar's account, every other to the manager's.
func expectBindings(objs []*unstructured.Unstructured, managerSA, opampSA, ns string) {
	GinkgoHelper()
	bindings := append(ofKind(objs, "ClusterRoleBinding"), ofKind(objs, "RoleBinding")...)
	Expect(bindings).NotTo(BeEmpty())
	for _, b := range bindings {
		ref, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
		kind, _, _ := unstructured.NestedString(b.Object, "roleRef", "kind")
		Expect(lookup(objs, kind, ref)).NotTo(BeNil(), "%s %s refers to a missing role %s", b.GetKind(), b.GetName(), ref)
		want := managerSA
		if strings.Contains(ref, "-opamp-") {
			want = opampSA
		}
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		Expect(subjects).To(Equal([]any{map[string]any{"kind": "ServiceAccount", "name": want, "namespace": ns}}), "%s %s", b.GetKind(), b.GetName())
		if strings.HasSuffix(ref, "-opamp-tokens") {
			Expect(b.GetKind()).To(Equal("RoleBinding"), "enrollment tokens are granted per namespace, never cluster-wide")
		}
	}
}

// expectTokens checks that each container mounts its own ServiceAccount's token, and the Pod
// none: the sidecar the Pod's (projected, rotated, bound to the Pod, whose name tells replicas
// apart), the manager its account's token Secret.
func expectTokens(objs []*unstructured.Unstructured, d *appsv1.Deployment, managerSA, opampSA string) {
	GinkgoHelper()
	pod := d.Spec.Template.Spec
	Expect(pod.ServiceAccountName).To(Equal(opampSA))
	Expect(pod.AutomountServiceAccountToken).To(Equal(ptr.To(false)))
	find(objs, "ServiceAccount", managerSA)
	find(objs, "ServiceAccount", opampSA)
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount"
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounted := func(c corev1.Container) corev1.Volume {
		GinkgoHelper()
		var found []corev1.Volume
		for _, m := range c.VolumeMounts {
			if m.MountPath == dir {
				Expect(m.ReadOnly).To(BeTrue(), c.Name)
				found = append(found, volumes[m.Name])
			}
		}
		Expect(found).To(HaveLen(1), "%s mounts one token", c.Name)
		return found[0]
	}
	op := mounted(container(d, "opamp"))
	Expect(op.Projected).NotTo(BeNil())
	Expect(op.Projected.Sources[0].ServiceAccountToken).NotTo(BeNil())
	Expect(op.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds).To(Equal(ptr.To(int64(3600))))
	Expect(op.Projected.Sources[0].ServiceAccountToken.Audience).To(BeEmpty(), "the API server's audience")
	// What it presents to its peers: a second token of the volume, bound to the read API's
	// audience, which the API server refuses (a peer it is sent to cannot act as it).
	peer := ""
	for _, src := range op.Projected.Sources {
		if t := src.ServiceAccountToken; t != nil && t.Audience != "" {
			Expect(t.Audience).To(Equal(readAPIAudience(d)))
			peer = dir + "/" + t.Path
		}
	}
	Expect(peer).NotTo(BeEmpty(), "the sidecar's token for its peers")
	Expect(container(d, "opamp").Args).To(ContainElement("--peer-token-file=" + peer))
	mgr := mounted(container(d, "manager"))
	Expect(mgr.Secret).NotTo(BeNil())
	s := typed[corev1.Secret](find(objs, "Secret", mgr.Secret.SecretName))
	Expect(s.Type).To(Equal(corev1.SecretTypeServiceAccountToken))
	Expect(s.Annotations).To(HaveKeyWithValue(corev1.ServiceAccountNameKey, managerSA))
	for _, name := range []string{"manager", "opamp"} {
		Expect(container(d, name).Args).To(ContainElement("--replica-service-account="+opampSA),
			"%s looks replicas' addresses up among the Pods of the account they run as", name)
	}
}

// namedAccess is an access to one object by name ("" for any).
type namedAccess struct{ group, resource, verb, name string }

func (a namedAccess) String() string {
	if a.name == "" {
		return a.verb + " " + a.resource + "." + a.group
	}
	return a.verb + " " + a.resource + "." + a.group + "/" + a.name
}

// namedAccesses expands rules into what they grant, by name, renaming resourceNames.
func namedAccesses(rules []rbacv1.PolicyRule, rename map[string]string) []string {
	set := map[string]bool{}
	for _, r := range rules {
		Expect(r.NonResourceURLs).To(BeEmpty())
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						if to, ok := rename[n]; ok {
							n = to
						}
						set[namedAccess{g, res, v, n}.String()] = true
					}
				}
			}
		}
	}
	var out []string
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// expectWebhookRoles checks the approvals webhook's roles against the hand-written ones of
// config/rbac, whose resourceNames are the kustomize install's (prefix "ampora"): rule for
// rule, each name narrowed to the install's own configuration and Secret.
func expectWebhookRoles(objs []*unstructured.Unstructured, prefix string) {
	GinkgoHelper()
	rename := map[string]string{"ampora-approvals": prefix + "-approvals", "ampora-webhook-cert": prefix + "-webhook-cert",
		"ampora-approval-key": prefix + "-approval-key"}
	for _, c := range []struct{ file, kind, name string }{
		{"config/rbac/webhook_role.yaml", "ClusterRole", prefix + "-webhook"},
		{"config/rbac/webhook_cert_role.yaml", "Role", prefix + "-webhook-cert"},
		{"config/rbac/approval_key_role.yaml", "Role", prefix + "-approval-key"},
		{"config/rbac/leases_role.yaml", "Role", prefix + "-leases"}, // names the leader Lease
	} {
		src := parseFile(c.file)
		Expect(src).To(HaveLen(1))
		want := namedAccesses(rulesOf(src[0]), rename)
		Expect(want).NotTo(BeEmpty())
		Expect(namedAccesses(rulesOf(find(objs, c.kind, c.name)), nil)).To(Equal(want), "%s %s against %s", c.kind, c.name, c.file)
	}
	// Each right on the configuration and on the Secret names them, but for create, which
	// cannot.
	named := namedAccesses(rulesOf(find(objs, "ClusterRole", prefix+"-webhook")), nil)
	named = append(named, namedAccesses(rulesOf(find(objs, "Role", prefix+"-webhook-cert")), nil)...)
	named = append(named, namedAccesses(rulesOf(find(objs, "Role", prefix+"-approval-key")), nil)...)
	for _, a := range named {
		if strings.HasPrefix(a, "create ") || strings.Contains(a, " namespaces.") {
			continue
		}
		Expect(a).To(Or(HaveSuffix("/"+prefix+"-approvals"), HaveSuffix("/"+prefix+"-webhook-cert"), HaveSuffix("/"+prefix+"-approval-key")), a)
	}
}

var _ = Describe("RBAC", func() {
	It("renders the generated ClusterRole and the hand-written roles rule for rule", func(ctx SpecContext) {
		for _, files := range [][]string{nil, {"everything.yaml"}} {
			_, objs := render(ctx, releaseNS, files)
			prefix := "ampora"
			if len(files) > 0 {
				prefix = "ampora-operator"
			}
			expectRoles(objs, prefix)
			expectWebhookRoles(objs, prefix)
		}
	})

	It("keeps the chart's copies of the generated files identical to config/", func() {
		for dst, src := range map[string]string{
			"charts/ampora/files/rbac/role.yaml":              "config/rbac/role.yaml",
			"charts/ampora/files/rbac/leases_role.yaml":       "config/rbac/leases_role.yaml",
			"charts/ampora/files/rbac/opamp_role.yaml":        "config/rbac/opamp_role.yaml",
			"charts/ampora/files/rbac/opamp_leases_role.yaml": "config/rbac/opamp_leases_role.yaml",
			"charts/ampora/files/rbac/opamp_tokens_role.yaml": "config/rbac/opamp_tokens_role.yaml",
			"charts/ampora/files/webhook.yaml":                "config/webhook/manifests.yaml",
			"charts/ampora/files/sidecar_status_policy.yaml":  "config/policy/sidecar_status_policy.yaml",
			"charts/ampora/files/sidecar_leases_policy.yaml":  "config/policy/sidecar_leases_policy.yaml",
		} {
			Expect(read(dst)).To(Equal(read(src)), "%s is stale: run make manifests", dst)
		}
		bases, err := filepath.Glob(filepath.Join(root, "config/crd/bases/*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(bases).NotTo(BeEmpty())
		copies, err := filepath.Glob(filepath.Join(root, "charts/ampora/crds/*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(copies).To(HaveLen(len(bases)), "charts/ampora/crds is stale: run make manifests")
		for _, b := range bases {
			rel := "charts/ampora/crds/" + filepath.Base(b)
			Expect(read(rel)).To(Equal(read("config/crd/bases/"+filepath.Base(b))), "%s is stale: run make manifests", rel)
		}
	})

	Describe("installed by the chart", Ordered, func() {
		const (
			ns       = "ampora-rbac"       // the release namespace
			fleetNS  = "rbac-fleet"        // where the team's Rollouts and AgentGroups live, and its tokens
			sa       = "rbac-ampora"       // the manager's ServiceAccount of the release "rbac"
			opampSA  = "rbac-ampora-opamp" // the sidecar's
			replica  = "rbac-test-0"
			otherNS  = "rbac-other" // a namespace that did not opt in to enrollment tokens
			manager_ = "manager"
			opamp_   = "opamp"
		)
		users := map[string]string{manager_: "system:serviceaccount:" + ns + ":" + sa, opamp_: "system:serviceaccount:" + ns + ":" + opampSA}
		groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
		var objs []*unstructured.Unstructured // what the chart rendered

		BeforeAll(func(ctx SpecContext) {
			for _, n := range []string{ns, fleetNS, otherNS} {
				Expect(ensureNamespace(ctx, n, nil)).To(Succeed())
			}
			out, errOut, err := runHelm(ctx, "template", "rbac", "charts/ampora", "-n", ns, "--set", "enrollment.namespaces={"+fleetNS+"}")
			Expect(err).NotTo(HaveOccurred(), errOut)
			objs, err = parse(out)
			Expect(err).NotTo(HaveOccurred())
			// The webhook configuration stays until the end: while it exists, every write of a
			// Rollout or GatePolicy in the cluster needs the webhook.
			DeferCleanup(removeWebhookConfigurations, "rbac-ampora-approvals")
			// No replica runs yet, and the chart's default GatePolicy is created all the same.
			_, errOut, err = env.Kubectl(ctx, out, "apply", "--server-side", "--field-manager=ampora-deploy-test", "-f", "-")
			Expect(err).NotTo(HaveOccurred(), errOut)
		})

		sar := func(ctx context.Context, who string, allowed bool, namespace, verb, group, resource, name string) {
			GinkgoHelper()
			sub := ""
			if r, s, ok := strings.Cut(resource, "/"); ok {
				resource, sub = r, s
			}
			user := users[who]
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb,
					Group: group, Resource: resource, Subresource: sub, Name: name},
			}}
			Expect(env.Client.Create(ctx, sar)).To(Succeed())
			Expect(sar.Status.Allowed).To(Equal(allowed), "%s %s %s/%s %q in %q: %s", user, verb, group, resource, name, namespace, sar.Status.Reason)
		}

		DescribeTable("lets each process's ServiceAccount do what the process does, and nothing else",
			func(ctx context.Context, who string, allowed bool, namespace, verb, group, resource string) {
				sar(ctx, who, allowed, namespace, verb, group, resource, "")
			},
			// The sidecar: enrollment tokens in the namespaces that opted in only.
			Entry(nil, opamp_, true, fleetNS, "list", "", "secrets"),
			Entry(nil, opamp_, true, fleetNS, "watch", "", "secrets"),
			Entry(nil, opamp_, true, "", "create", "authentication.k8s.io", "tokenreviews"),
			Entry(nil, opamp_, true, "", "create", "authorization.k8s.io", "subjectaccessreviews"),
			Entry(nil, opamp_, true, "", "watch", "fleet.ampora.io", "rollouts"),
			Entry(nil, opamp_, true, "", "watch", "fleet.ampora.io", "agentgroups"),
			Entry(nil, opamp_, true, "", "watch", "fleet.ampora.io", "gatepolicies"),
			Entry(nil, opamp_, true, "", "watch", "apps", "controllerrevisions"),
			Entry(nil, opamp_, true, fleetNS, "patch", "fleet.ampora.io", "rollouts/status"),
			Entry(nil, opamp_, true, fleetNS, "patch", "fleet.ampora.io", "agentgroups/status"),
			Entry(nil, opamp_, true, ns, "create", "coordination.k8s.io", "leases"),
			Entry(nil, opamp_, true, ns, "update", "coordination.k8s.io", "leases"),
			Entry(nil, opamp_, true, ns, "list", "coordination.k8s.io", "leases"),
			Entry(nil, opamp_, false, "", "list", "", "secrets"),
			Entry(nil, opamp_, false, otherNS, "list", "", "secrets"),
			Entry(nil, opamp_, false, ns, "list", "", "secrets"),
			Entry(nil, opamp_, false, fleetNS, "get", "", "secrets"),
			Entry(nil, opamp_, false, "kube-system", "create", "coordination.k8s.io", "leases"),
			Entry(nil, opamp_, false, ns, "create", "", "events"),
			Entry(nil, opamp_, false, fleetNS, "get", "fleet.ampora.io", "rollouts"),
			Entry(nil, opamp_, false, fleetNS, "patch", "fleet.ampora.io", "rollouts"),
			Entry(nil, opamp_, false, fleetNS, "create", "apps", "controllerrevisions"),
			Entry(nil, opamp_, false, fleetNS, "get", "", "configmaps"),
			// The manager: its Leases and leader-election events in the release namespace.
			Entry(nil, manager_, true, ns, "create", "coordination.k8s.io", "leases"),
			Entry(nil, manager_, true, ns, "watch", "coordination.k8s.io", "leases"),
			Entry(nil, manager_, true, ns, "create", "", "events"),
			Entry(nil, manager_, true, fleetNS, "get", "", "configmaps"),
			Entry(nil, manager_, true, fleetNS, "create", "apps", "controllerrevisions"),
			Entry(nil, manager_, true, fleetNS, "patch", "fleet.ampora.io", "rollouts"),
			Entry(nil, manager_, true, fleetNS, "update", "fleet.ampora.io", "gatepolicies/status"),
			Entry(nil, manager_, true, fleetNS, "create", "events.k8s.io", "events"),
			Entry(nil, manager_, false, "kube-system", "create", "coordination.k8s.io", "leases"),
			Entry(nil, manager_, false, "kube-system", "update", "coordination.k8s.io", "leases"),
			Entry(nil, manager_, false, fleetNS, "list", "", "secrets"),
			Entry(nil, manager_, false, "", "create", "authentication.k8s.io", "tokenreviews"),
			// Neither.
			Entry(nil, manager_, false, fleetNS, "get", "", "secrets"),
			Entry(nil, manager_, false, fleetNS, "create", "", "secrets"),
			Entry(nil, manager_, false, fleetNS, "update", "", "secrets"),
			Entry(nil, manager_, false, fleetNS, "delete", "fleet.ampora.io", "rollouts"),
			Entry(nil, manager_, false, fleetNS, "update", "fleet.ampora.io", "agentgroups"),
			Entry(nil, manager_, false, fleetNS, "create", "fleet.ampora.io", "gatepolicies"),
			Entry(nil, manager_, false, fleetNS, "update", "", "configmaps"),
			Entry(nil, manager_, false, fleetNS, "list", "", "pods"),
			Entry(nil, manager_, false, ns, "create", "apps", "deployments"),
			Entry(nil, manager_, false, ns, "delete", "coordination.k8s.io", "leases"),
			Entry(nil, opamp_, false, ns, "delete", "coordination.k8s.io", "leases"),
			Entry(nil, manager_, false, fleetNS, "create", "", "events"),
			Entry(nil, manager_, false, "", "create", "rbac.authorization.k8s.io", "clusterrolebindings"),
			Entry(nil, opamp_, false, "", "create", "rbac.authorization.k8s.io", "clusterrolebindings"),
		)

		const (
			certSecret = "rbac-ampora-webhook-cert"
			webhookCfg = "rbac-ampora-approvals"
			admissionG = "admissionregistration.k8s.io"
		)
		DescribeTable("lets the webhook reach its own certificate Secret and configuration, and no other",
			func(ctx context.Context, allowed bool, namespace, verb, group, resource, name string) {
				sar(ctx, manager_, allowed, namespace, verb, group, resource, name)
			},
			// Of the Leases, it writes only its leader Lease, and reads the approval key.
			Entry(nil, true, ns, "update", "coordination.k8s.io", "leases", "ampora-rollout-engine"),
			Entry(nil, false, ns, "update", "coordination.k8s.io", "leases", "ampora-opamp-"+replica),
			Entry(nil, true, ns, "get", "", "secrets", "rbac-ampora-approval-key"),
			Entry(nil, true, ns, "get", "", "secrets", certSecret),
			Entry(nil, true, ns, "update", "", "secrets", certSecret),
			Entry(nil, true, ns, "create", "", "secrets", ""),
			Entry(nil, true, "", "get", admissionG, "mutatingwebhookconfigurations", webhookCfg),
			Entry(nil, true, "", "patch", admissionG, "mutatingwebhookconfigurations", webhookCfg),
			Entry(nil, true, "", "get", "", "namespaces", fleetNS),
			Entry(nil, true, fleetNS, "get", "", "configmaps", "gateway-collector-config"),
			Entry(nil, false, ns, "get", "", "secrets", "other"),
			Entry(nil, false, ns, "update", "", "secrets", "other"),
			Entry(nil, false, ns, "delete", "", "secrets", certSecret),
			Entry(nil, false, fleetNS, "get", "", "secrets", certSecret),
			Entry(nil, false, "", "get", admissionG, "mutatingwebhookconfigurations", "other"),
			Entry(nil, false, "", "patch", admissionG, "mutatingwebhookconfigurations", "other"),
			Entry(nil, false, "", "update", admissionG, "mutatingwebhookconfigurations", webhookCfg),
			Entry(nil, false, "", "delete", admissionG, "mutatingwebhookconfigurations", webhookCfg),
			Entry(nil, false, "", "create", admissionG, "mutatingwebhookconfigurations", ""),
			Entry(nil, false, "", "list", admissionG, "mutatingwebhookconfigurations", ""),
			Entry(nil, false, "", "patch", admissionG, "validatingwebhookconfigurations", webhookCfg),
			Entry(nil, false, "", "list", "", "namespaces", ""),
			Entry(nil, false, "", "update", "", "namespaces", fleetNS),
		)

		It("lets the manager request tokens of its own account, and of no other", func(ctx SpecContext) {
			sar(ctx, manager_, true, ns, "create", "", "serviceaccounts/token", sa)
			sar(ctx, manager_, false, ns, "create", "", "serviceaccounts/token", opampSA)
			sar(ctx, manager_, false, ns, "create", "", "serviceaccounts/token", "default")
			sar(ctx, manager_, false, fleetNS, "create", "", "serviceaccounts/token", sa)
			sar(ctx, opamp_, false, ns, "create", "", "serviceaccounts/token", opampSA)
			sar(ctx, opamp_, false, ns, "create", "", "serviceaccounts/token", sa)
		})

		It("runs ampora manager and ampora opamp as the ServiceAccount without a single refusal", func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			bin := filepath.Join(dir, "ampora")
			build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ampora")
			build.Dir = root
			out, err := build.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))

			// Each process as its own ServiceAccount, with a token file and a kubeconfig of its own.
			accountEnv := func(name, account string, flags ...string) (token, tokenFile string, environ []string) {
				token = serviceAccountToken(ctx, ns, account, flags...)
				tokenFile = filepath.Join(dir, name+"-token")
				Expect(os.WriteFile(tokenFile, []byte(token), 0o600)).To(Succeed())
				kubeconfig := filepath.Join(dir, name+"-kubeconfig")
				Expect(clientcmd.WriteToFile(clientcmdapi.Config{
					Clusters:       map[string]*clientcmdapi.Cluster{"test": {Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}},
					AuthInfos:      map[string]*clientcmdapi.AuthInfo{"sa": {Token: token}},
					Contexts:       map[string]*clientcmdapi.Context{"test": {Cluster: "test", AuthInfo: "sa"}},
					CurrentContext: "test",
				}, kubeconfig)).To(Succeed())
				return token, tokenFile, append(os.Environ(), "KUBECONFIG="+kubeconfig, "POD_NAMESPACE="+ns, "POD_NAME="+replica)
			}
			token, _, processEnv := accountEnv(manager_, sa)
			// The sidecar's token as the kubelet mounts it: bound to its Pod, which runs as the
			// sidecar's account (no kubelet runs it here: the object is enough to bind a token
			// to).
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: replica},
				Spec: corev1.PodSpec{ServiceAccountName: opampSA, AutomountServiceAccountToken: ptr.To(false),
					Containers: []corev1.Container{{Name: "opamp", Image: "ampora"}}}}
			Expect(env.Client.Create(ctx, pod)).To(Succeed())
			// Running at the address its read API listens on, so that the manager may call it.
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
			Expect(env.Client.Status().Update(ctx, pod)).To(Succeed())
			bound := []string{"--bound-object-kind=Pod", "--bound-object-name=" + replica, "--bound-object-uid=" + string(pod.UID)}
			opampToken, _, opampEnv := accountEnv(opamp_, opampSA, bound...)
			// What it presents to its peers, as the chart mounts it beside: bound to the read
			// API's audience, which the API server refuses.
			peerTokenFile := filepath.Join(dir, "opamp-peer-token")
			Expect(os.WriteFile(peerTokenFile, []byte(serviceAccountToken(ctx, ns, opampSA,
				append(bound, "--audience="+readAPIAudience(deployment(objs)))...)), 0o600)).To(Succeed())
			review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: opampToken}}
			Expect(env.Client.Create(ctx, review)).To(Succeed())
			Expect(review.Status.User.Extra).To(HaveKeyWithValue(readapi.PodNameKey, authenticationv1.ExtraValue{replica}))
			// What the manager presents to the sidecars, as it requests it (the chart's
			// --sidecar-token-audience): a token of its ServiceAccount bound to the read API's
			// audience, which the API server refuses.
			readAPIToken := serviceAccountToken(ctx, ns, sa, "--audience="+readAPIAudience(deployment(objs)))
			refused := rest.AnonymousClientConfig(env.Config)
			refused.BearerToken = readAPIToken
			asManager, err := client.New(refused, client.Options{Scheme: env.Scheme})
			Expect(err).NotTo(HaveOccurred())
			err = asManager.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
			Expect(apierrors.IsUnauthorized(err)).To(BeTrue(), "the read API's token acts as the manager at the API server: %v", err)

			// The chart's token namespaces: the sidecar's informer watches Secrets there only.
			var tokenNamespaces string
			for _, a := range container(deployment(objs), "opamp").Args {
				if v, ok := strings.CutPrefix(a, "--token-namespaces="); ok {
					tokenNamespaces = v
				}
			}
			Expect(tokenNamespaces).To(Equal(fleetNS))
			readAPI := freeAddr()
			opamp := start(bin, opampEnv, "opamp", "--listen=127.0.0.1:0", "--probe-addr=127.0.0.1:0",
				"--read-api-addr="+readAPI, "--read-api-url=http://"+readAPI, "--report-interval=200ms",
				"--peer-token-file="+peerTokenFile, "--token-namespaces="+tokenNamespaces, "--replica-service-account="+opampSA)
			// The chart's webhook flags, but for where it listens and keeps its certificate: the
			// test's API server has no cluster network and reaches it on 127.0.0.1.
			webhookAddr := freeAddr()
			_, webhookPort, _ := net.SplitHostPort(webhookAddr)
			managerArgs := []string{"manager", "--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0",
				"--webhook-host=127.0.0.1"}
			var hosts []string
			for _, a := range container(deployment(objs), "manager").Args {
				flag, value, _ := strings.Cut(a, "=")
				switch flag {
				case "--webhook-port":
					value = webhookPort
				case "--webhook-cert-dir":
					value = filepath.Join(dir, "webhook")
				case "--webhook-cert-hosts":
					hosts = strings.Split(value, ",")
					value += ",127.0.0.1"
				case "--webhook-cert-secret", "--webhook-configuration", "--approval-key-secret", "--sidecar-token-audience", "--replica-service-account":
				default:
					continue
				}
				managerArgs = append(managerArgs, flag+"="+value)
			}
			Expect(managerArgs).To(ContainElements("--webhook-cert-secret="+certSecret, "--webhook-configuration="+webhookCfg))
			Expect(hosts).To(ContainElement("rbac-ampora-webhook." + ns + ".svc"))
			manager := start(bin, processEnv, managerArgs...)

			By("the sidecar syncs its informers and takes its Lease")
			Eventually(func(g Gomega) {
				var l coordinationv1.Lease
				g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ampora-opamp-" + replica}, &l)).To(Succeed())
				g.Expect(*l.Spec.HolderIdentity).To(Equal(replica))
			}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
			By("the manager becomes the leader")
			Eventually(func(g Gomega) {
				manager.mustRun()
				var l coordinationv1.Lease
				g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ampora-rollout-engine"}, &l)).To(Succeed())
				g.Expect(l.Spec.HolderIdentity).NotTo(BeNil())
				g.Expect(*l.Spec.HolderIdentity).NotTo(BeEmpty())
			}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())

			By("the manager makes the webhook's certificate, for the Service's names, and puts its CA into the chart's configuration")
			var sec corev1.Secret
			var cfg admissionregistrationv1.MutatingWebhookConfiguration
			Eventually(func(g Gomega) {
				g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: certSecret}, &sec)).To(Succeed())
				g.Expect(sec.Data).To(HaveKey("ca.crt"))
				g.Expect(env.Client.Get(ctx, client.ObjectKey{Name: webhookCfg}, &cfg)).To(Succeed())
				g.Expect(cfg.Webhooks).To(HaveLen(len(generatedWebhooks().Webhooks)))
				for _, w := range cfg.Webhooks {
					g.Expect(w.ClientConfig.CABundle).To(Equal(sec.Data["ca.crt"]), w.Name)
				}
			}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
			block, _ := pem.Decode(sec.Data[corev1.TLSCertKey])
			Expect(block).NotTo(BeNil())
			cert, err := x509.ParseCertificate(block.Bytes)
			Expect(err).NotTo(HaveOccurred())
			for _, h := range hosts {
				Expect(cert.VerifyHostname(h)).To(Succeed())
			}

			By("the API server has the webhook record the team's writes")
			// Pointed at 127.0.0.1 instead of the Service; the CA stays.
			var ops []map[string]any
			for i, w := range cfg.Webhooks {
				url := "https://" + webhookAddr + *w.ClientConfig.Service.Path
				ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("/webhooks/%d/clientConfig/service", i)},
					map[string]any{"op": "add", "path": fmt.Sprintf("/webhooks/%d/clientConfig/url", i), "value": url})
			}
			patch, err := json.Marshal(ops)
			Expect(err).NotTo(HaveOccurred())
			Expect(env.Client.Patch(ctx, &cfg, client.RawPatch(types.JSONPatchType, patch))).To(Succeed())
			Eventually(func() error {
				_, errOut, err := env.Kubectl(ctx, "", "apply", "-n", fleetNS, "-k", filepath.Join(root, "config", "samples"))
				if err != nil {
					return fmt.Errorf("%w: %s", err, errOut)
				}
				return nil
			}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

			By("both write the statuses of a team's objects")
			Eventually(func(g Gomega) {
				var ag fleetv1alpha1.AgentGroup
				g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: fleetNS, Name: "payments-gateways"}, &ag)).To(Succeed())
				g.Expect(ag.Status.ObservedGeneration).To(Equal(ag.Generation), "the manager's status patch")
				var reporters []string
				for _, r := range ag.Status.Replicas {
					reporters = append(reporters, r.Replica)
				}
				g.Expect(reporters).To(ContainElement(replica), "the sidecar's server-side apply")

				var ro fleetv1alpha1.Rollout
				g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: fleetNS, Name: "gateways-batching"}, &ro)).To(Succeed())
				// A pass that concludes has read the agents' ranks from the sidecar's read API,
				// with a token the manager requested for the read API's audience.
				g.Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation), "the manager's status patch, after the sidecar's ranks")
				g.Expect(ro.Annotations).To(HaveKey(fleetv1alpha1.AnnotationAuthor), "the webhook's record")
			}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())

			By("the read API authenticates callers with TokenReview and authorizes them with SubjectAccessReview")
			ranks := "http://" + readAPI + "/v1/namespaces/" + fleetNS + "/agentgroups/payments-gateways/ranks?hash=abc"
			Expect(get(ctx, ranks, token)).To(Equal(http.StatusOK))
			Expect(get(ctx, ranks, "")).To(Equal(http.StatusUnauthorized))
			Expect(ensureServiceAccount(ctx, fleetNS, "intruder")).To(Succeed())
			Expect(get(ctx, ranks, serviceAccountToken(ctx, fleetNS, "intruder"))).To(Equal(http.StatusForbidden))
			// The sidecar's own identity reads no rollout: the manager's token is what the read
			// API admits.
			Expect(get(ctx, ranks, opampToken)).To(Equal(http.StatusForbidden))

			opampLog, managerLog := opamp.stop(), manager.stop()
			for name, log := range map[string]string{"ampora opamp": opampLog, "ampora manager": managerLog} {
				Expect(strings.ToLower(log)).NotTo(ContainSubstring("forbidden"), "%s was refused something:\n%s", name, log)
			}
		})
	})
})

// removeWebhookConfigurations deletes MutatingWebhookConfigurations and waits until the API
// server no longer calls their webhooks, so that later specs can write Rollouts and
// GatePolicies.
func removeWebhookConfigurations(ctx SpecContext, names ...string) {
	for _, name := range names {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
		Expect(client.IgnoreNotFound(env.Client.Delete(ctx, cfg))).To(Succeed())
	}
	Eventually(func() error {
		probe := &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: releaseNS, Name: "webhook-probe"}}
		return env.Client.Create(ctx, probe, client.DryRunAll)
	}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
}

func read(rel string) string {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// serviceAccountToken asks the API server for a token of a ServiceAccount (TokenRequest).
func serviceAccountToken(ctx context.Context, ns, name string, flags ...string) string {
	GinkgoHelper()
	out, errOut, err := env.Kubectl(ctx, "", append([]string{"create", "token", name, "-n", ns, "--duration=1h"}, flags...)...)
	Expect(err).NotTo(HaveOccurred(), errOut)
	return strings.TrimSpace(out)
}

func ensureServiceAccount(ctx context.Context, ns, name string) error {
	_, errOut, err := env.Kubectl(ctx, "", "create", "serviceaccount", name, "-n", ns)
	if err != nil && !strings.Contains(errOut, "AlreadyExists") {
		return fmt.Errorf("%w: %s", err, errOut)
	}
	return nil
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return addr
}

// get returns the status code of a GET with an optional bearer token.
func get(ctx context.Context, url, token string) int {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	_, _ = io.Copy(io.Discard, resp.Body)
	Expect(resp.Body.Close()).To(Succeed())
	return resp.StatusCode
}

// process is a running ampora command whose output is kept.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	once sync.Once
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs bin with args; the process is stopped when the spec ends, if not before.
func start(bin string, env []string, args ...string) *process {
	GinkgoHelper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p := &process{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	Expect(cmd.Start()).To(Succeed())
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	DeferCleanup(func() { p.stop() })
	return p
}

// mustRun stops an Eventually at once when the process has exited.
func (p *process) mustRun() {
	select {
	case <-p.done:
		StopTrying(strings.Join(p.cmd.Args, " ") + " exited:\n" + p.out.String()).Now()
	default:
	}
}

// stop sends SIGTERM, waits for the exit (killing the process if it outlives its shutdown
// grace by far) and returns everything it printed.
func (p *process) stop() string {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		GinkgoWriter.Printf("--- %s\n%s\n", strings.Join(p.cmd.Args, " "), p.out.String())
	})
	return p.out.String()
}
