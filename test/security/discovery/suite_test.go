// Package discovery_test attacks the way the plugin, the manager and the sidecars find the
// sidecars' read API, against a real kube-apiserver and the real binaries: a Lease that a
// less-trusted user writes must never get a bearer token sent to the URL on it.
package discovery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
	// plugin is the built kubectl-ampora.
	plugin string
)

func TestDiscovery(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "replica discovery security suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(GinkgoLogr)
	h = harness.Start()
	env = h.Env
	built, err := gexec.Build("github.com/ampora-io/ampora/cmd/kubectl-ampora")
	Expect(err).NotTo(HaveOccurred())
	// Moved out of gexec's artifacts, which h.Operator cleans up when its spec ends.
	plugin = filepath.Join(GinkgoT().TempDir(), "kubectl-ampora")
	Expect(os.Rename(built, plugin)).To(Succeed())
})

var _ = AfterSuite(func() { gexec.CleanupBuildArtifacts() })

// trap is an HTTP listener on 127.0.0.1 that records the Authorization header of every request.
type trap struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
}

func newTrap() *trap {
	GinkgoHelper()
	t := &trap{}
	t.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		t.auth = append(t.auth, r.Header.Get("Authorization"))
		t.mu.Unlock()
		// A well-formed empty answer, so that a caller that trusts it goes on calling.
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"replica":"trap","items":[],"ranks":[]}`))
	}))
	DeferCleanup(t.srv.Close)
	return t
}

// URL is the trap's address, as a Lease annotation would carry it.
func (t *trap) URL() string { return t.srv.URL }

// Authorizations lists the Authorization headers received so far ("" for none).
func (t *trap) Authorizations() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.auth...)
}

// tokens returns the non-empty Authorization headers received so far.
func (t *trap) tokens() []string {
	var out []string
	for _, a := range t.Authorizations() {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// impersonating returns a client that acts as user, as the API server's impersonation does.
func impersonating(user string) client.Client {
	GinkgoHelper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// create creates objects as the administrator, tolerating ones that exist.
func create(objs ...client.Object) {
	GinkgoHelper()
	for _, obj := range objs {
		if err := env.Client.Create(context.Background(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
}

// leaseEditor lets user write Leases, and nothing else, in namespace ns: what a namespace
// editor may do.
func leaseEditor(user, ns string) {
	GinkgoHelper()
	name := "lease-editor-" + user
	create(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "create", "update"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}},
	)
}

// forgeLease creates, as user, a live replica Lease in ns that publishes url as its read API.
func forgeLease(user, ns, replica, url string) {
	GinkgoHelper()
	forgeLeaseNamed(user, ns, readapi.LeaseName(replica), replica, url)
}

// forgeLeaseNamed creates, as user, a live replica Lease name in ns held by holder that
// publishes url as its read API.
func forgeLeaseNamed(user, ns, name, holder, url string) {
	GinkgoHelper()
	now := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels:      map[string]string{readapi.LabelReplicaLease: "true"},
			Annotations: map[string]string{readapi.AnnotationReadAPI: url}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(int32(3600)),
			AcquireTime: &now, RenewTime: &now},
	}
	Expect(impersonating(user).Create(context.Background(), l)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(env.Client.Delete(context.Background(), l))).To(Succeed()) })
}

// podAccount is the ServiceAccount the operator's Pods run as by default (the sidecar's): the
// address check looks their IPs up.
var podAccount = readapi.DefaultReplicaServiceAccounts[0]

// runningPod creates a Pod of ServiceAccount sa in the operator namespace and gives it phase
// and the Pod IP ip, as a kubelet would report them; it is deleted when the spec ends.
func runningPod(name, sa string, phase corev1.PodPhase, ip string) {
	GinkgoHelper()
	ctx := context.Background()
	create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: harness.OperatorNamespace, Name: sa}})
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: harness.OperatorNamespace, Name: name},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "c", Image: "ampora:test"}}}}
	Expect(env.Client.Create(ctx, p)).To(Succeed())
	DeferCleanup(func() {
		Expect(client.IgnoreNotFound(env.Client.Delete(ctx, p, client.GracePeriodSeconds(0)))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(p), &corev1.Pod{}))
		}, 30*time.Second).Should(BeTrue())
	})
	p.Status = corev1.PodStatus{Phase: phase, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	Expect(env.Client.Status().Update(ctx, p)).To(Succeed())
}

// victim is a user who reads rollouts cluster-wide, as the plugin's users do, and signs in with
// a bearer token: the token an attacker wants. It returns a kubeconfig and the token.
func victim() (string, string) {
	GinkgoHelper()
	ctx := context.Background()
	const ns, name = "victims", "victim"
	create(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"fleet.ampora.io"}, Resources: []string{"rollouts", "agentgroups"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"pods", "events"}, Verbs: []string{"get", "list"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}},
	)
	token, err := testenv.AccountToken(ctx, env.Client, ns, name, 3600)
	Expect(err).NotTo(HaveOccurred())
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	kc.AuthInfos["victim"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "victim", Namespace: ns}
	kc.CurrentContext = "envtest"
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
	return path, token
}

// runPlugin runs kubectl-ampora with kubeconfig and args until it exits, and returns its
// combined output.
func runPlugin(kubeconfig string, args ...string) string {
	GinkgoHelper()
	cmd := exec.Command(plugin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+GinkgoT().TempDir())
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s, 2*time.Minute).Should(gexec.Exit())
	return string(s.Out.Contents()) + string(s.Err.Contents())
}

// The attacker: a user who may write Leases in the namespaces they are given, nothing more.
const mallory = "mallory"

// loopback is the trap's host, given to the Pods the specs make as their Pod IP.
const loopback = "127.0.0.1"

// rolloutIn creates an AgentGroup and a Rollout of it in a new namespace, and returns the
// namespace.
func rolloutIn(prefix string) string {
	GinkgoHelper()
	ns, _ := h.Namespace(prefix)
	body := harness.CollectorConfig(prefix)
	bs := fleetv1alpha1.FromInt(10)
	create(
		&fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"},
			Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}}},
		&fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw"},
			Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "gateways", Config: fleetv1alpha1.RolloutConfig{Inline: &body},
				Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs}}},
	)
	return ns
}
