// Package harness starts the operator's parts in-process against the test control plane, for
// the envtest suites: OpAMP sidecar replicas, the manager, simulated fleets, and tenant
// namespaces with enrollment tokens.
package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/controllers"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/testenv"
	"github.com/ampora-io/ampora/webhooks"
)

// OperatorNamespace is where the tests run the operator: its Leases and ServiceAccount.
const OperatorNamespace = "ampora-system"

// ServiceAccount is the operator's identity in the tests.
const ServiceAccount = "ampora"

// NoAddressCheck is the --replica-address-check of the replicas the tests run. They run as
// processes of this machine, not in Pods, and their Leases publish 127.0.0.1 addresses that no
// Pod has; in a cluster the check stays on (pod), and test/security/discovery covers it.
const NoAddressCheck = readapi.AddressCheckNone

// AddressCheckFlag is NoAddressCheck as the flag of ampora manager and ampora opamp.
const AddressCheckFlag = "--replica-address-check=" + NoAddressCheck

// H holds the control plane the parts run against.
type H struct {
	Env *testenv.Env
}

// Sidecar is one in-process OpAMP replica.
type Sidecar struct {
	Srv     *opampserver.Server
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// URL is the replica's WebSocket endpoint.
func (s *Sidecar) URL() string { return "ws://" + s.Srv.Addr().String() + "/v1/opamp" }

// Stop stops the replica and waits for it; stopping twice is fine.
func (s *Sidecar) Stop() {
	GinkgoHelper()
	if s.stopped {
		return
	}
	s.stopped = true
	s.cancel()
	Eventually(s.done, 20*time.Second).Should(Receive(BeNil()))
}

// Setup creates the operator namespace, its ServiceAccount and the RBAC the operator needs to
// read rollouts through the sidecars' read API. It is idempotent.
func (h *H) Setup() {
	GinkgoHelper()
	Expect(testenv.OperatorAccess(context.Background(), h.Env.Client, OperatorNamespace, ServiceAccount, "ampora-test-reader")).To(Succeed())
}

// Token mints a token of the operator's ServiceAccount, as its Pod would have mounted.
func (h *H) Token() (string, error) {
	return testenv.AccountToken(context.Background(), h.Env.Client, OperatorNamespace, ServiceAccount, 3600)
}

// ReadAPIToken is the token the manager presents to the sidecars' read API, as the chart
// mounts it: the operator ServiceAccount's, bound to the read API's audience, which the API
// server refuses.
func (h *H) ReadAPIToken() (string, error) {
	return testenv.AccountToken(context.Background(), h.Env.Client, OperatorNamespace, ServiceAccount, 3600, readapi.DefaultAudience)
}

// StartSidecar runs a replica until the spec ends (or Stop).
func (h *H) StartSidecar(replica string, mutate ...func(*opampserver.Options)) *Sidecar {
	GinkgoHelper()
	opts := opampserver.Options{
		Replica:        replica,
		Namespace:      OperatorNamespace,
		ListenAddr:     "127.0.0.1:0",
		ReadAPIAddr:    "127.0.0.1:0",
		ReportInterval: time.Second,
		LeaseDuration:  5 * time.Second,
		Logger:         logr.Discard(),
		ShutdownGrace:  5 * time.Second,
		PeerToken:      h.ReadAPIToken,
		// Local processes, no Pods: see NoAddressCheck.
		ReplicaAddressCheck: NoAddressCheck,
	}
	for _, m := range mutate {
		m(&opts)
	}
	srv, err := opampserver.New(h.Env.Config, h.Env.Scheme, opts)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sidecar{Srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Run(ctx) }()
	Eventually(srv.Ready, 20*time.Second).Should(BeTrue())
	DeferCleanup(s.Stop)
	return s
}

// StartManager runs the engine in-process, without leader election, until the spec ends;
// options change its settings (its clock, say).
func (h *H) StartManager(options ...func(*controllers.Options)) {
	GinkgoHelper()
	mgr, err := ctrl.NewManager(h.Env.Config, ctrl.Options{
		Scheme:                 h.Env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(OperatorNamespace),
		Controller:             ctrlConfig(),
	})
	Expect(err).NotTo(HaveOccurred())
	// The key the webhook (an `ampora manager` process, see StartWebhookManager) seals
	// approvals with: the Secret in the operator namespace that either of them makes first.
	key, err := webhooks.LoadKey(context.Background(), h.Env.Client, OperatorNamespace, webhooks.DefaultKeySecret)
	Expect(err).NotTo(HaveOccurred())
	o := controllers.Options{OperatorNamespace: OperatorNamespace, SidecarToken: h.ReadAPIToken,
		ReplicaAddressCheck: NoAddressCheck, ApprovalKey: key}
	for _, set := range options {
		set(&o)
	}
	Expect(controllers.Setup(mgr, o)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done, 20*time.Second).Should(Receive(BeNil()))
	})
}

// Namespace creates a fresh namespace with an enrollment-token Secret; it returns both.
func (h *H) Namespace(prefix string) (string, string) {
	GinkgoHelper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	Expect(h.Env.Client.Create(ctx, ns)).To(Succeed())
	token := "tok-" + ns.Name
	Expect(h.Env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "enroll",
			Labels: map[string]string{readapi.LabelEnrollmentToken: "true"}},
		Data: map[string][]byte{readapi.TokenKey: []byte(token)},
	})).To(Succeed())
	return ns.Name, token
}

// StartFleet starts simulated agents and waits until all are connected.
func StartFleet(o fleetsim.Options) *fleetsim.Fleet {
	GinkgoHelper()
	if o.UIDPrefix == "" {
		o.UIDPrefix = CurrentSpecReport().FullText()
	}
	f, err := fleetsim.Start(context.Background(), o)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(f.Stop)
	Eventually(f.Connected, 30*time.Second).Should(Equal(o.Agents))
	return f
}

// ctrlConfig lets several managers run in one test process: controller names repeat.
func ctrlConfig() config.Controller {
	return config.Controller{SkipNameValidation: ptr.To(true)}
}

// CollectorConfig returns a valid collector config; the marker makes each one distinct.
func CollectorConfig(marker string) string {
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {}
processors:
  batch: {}
exporters:
  otlp:
    endpoint: backend:4317
    headers: {x-revision: %q}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
`, marker)
}

// Operator builds the ampora binary and writes a token of the operator's ServiceAccount to a
// file, for tests that run the operator's processes: it returns both paths.
func (h *H) Operator() (bin, tokenFile string) {
	GinkgoHelper()
	bin, err := gexec.Build("github.com/ampora-io/ampora/cmd/ampora")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(gexec.CleanupBuildArtifacts)
	token, err := h.ReadAPIToken()
	Expect(err).NotTo(HaveOccurred())
	tokenFile = filepath.Join(GinkgoT().TempDir(), "token")
	Expect(os.WriteFile(tokenFile, []byte(token), 0o600)).To(Succeed())
	return bin, tokenFile
}

// Process runs bin with args against the control plane, its output prefixed with name, and
// kills it when the spec ends.
func (h *H) Process(bin, name string, args ...string) *gexec.Session {
	GinkgoHelper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.Env.Kubeconfig)
	out := gexec.NewPrefixedWriter("["+name+"] ", GinkgoWriter)
	s, err := gexec.Start(cmd, out, out)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { s.Kill().Wait(10 * time.Second) })
	return s
}

// StartWebhookManager installs a MutatingWebhookConfiguration named configuration and runs
// the `ampora manager` binary bin with its approvals webhook on a free local port (it makes
// its own self-signed certificate), until the spec or suite that calls it ends. It returns
// once the API server can reach the webhook.
func (h *H) StartWebhookManager(bin, tokenFile, configuration string, extra ...string) *gexec.Session {
	GinkgoHelper()
	ctx := context.Background()
	ports, err := testenv.FreePorts(1)
	Expect(err).NotTo(HaveOccurred())
	Expect(testenv.InstallWebhook(ctx, h.Env.Client, configuration, ports[0])).To(Succeed())
	dir := GinkgoT().TempDir()
	args := append([]string{"manager", "--namespace=" + OperatorNamespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--sidecar-token-file=" + tokenFile,
		"--webhook-host=127.0.0.1", fmt.Sprintf("--webhook-port=%d", ports[0]), "--webhook-cert-dir=" + filepath.Join(dir, "certs"),
		"--webhook-cert-secret=" + configuration + "-cert", "--webhook-configuration=" + configuration, "--webhook-cert-hosts=127.0.0.1",
		AddressCheckFlag}, extra...)
	s := h.Process(bin, "manager", args...)
	// The manager puts its CA into the configuration; the API server then reaches the webhook.
	Expect(testenv.WaitWebhookCA(ctx, h.Env.Client, configuration, 60*time.Second)).To(Succeed())
	return s
}

// Editors lets each named user edit Ampora's kinds and ConfigMaps, and returns a client per
// user that impersonates them: the API server authenticates each request as that user.
func (h *H) Editors(names ...string) map[string]client.Client {
	GinkgoHelper()
	Expect(testenv.Editors(context.Background(), h.Env.Client, names...)).To(Succeed())
	users := make(map[string]client.Client, len(names))
	for _, name := range names {
		users[name] = h.As(rest.ImpersonationConfig{UserName: name})
	}
	return users
}

// As is a client that impersonates who.
func (h *H) As(who rest.ImpersonationConfig) client.Client {
	GinkgoHelper()
	cfg := rest.CopyConfig(h.Env.Config)
	cfg.Impersonate = who
	c, err := client.New(cfg, client.Options{Scheme: h.Env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// Rollout reads a Rollout as the cluster admin.
func (h *H) Rollout(ns, name string) *fleetv1alpha1.Rollout {
	GinkgoHelper()
	r := &fleetv1alpha1.Rollout{}
	Expect(h.Env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, r)).To(Succeed())
	return r
}

// Start starts the control plane for a suite (call it from BeforeSuite), stops it when the
// suite ends, and sets up the operator namespace and ServiceAccount.
func Start() *H {
	GinkgoHelper()
	env, err := testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
	h := &H{Env: env}
	h.Setup()
	return h
}

// BypassWebhook takes the approvals webhook's MutatingWebhookConfiguration out of the API
// server's path, as failurePolicy Ignore with no replica answering would, until restore is
// called (or the spec ends). Each waits until the API server acts on it, probing with obj, an
// object the webhook records: the webhook replaces a forged seal, so a forged one stays only
// while the webhook is out of the path.
func (h *H) BypassWebhook(configuration string, obj client.Object) (restore func()) {
	GinkgoHelper()
	ctx := context.Background()
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	Expect(h.Env.Client.Get(ctx, client.ObjectKey{Name: configuration}, &cfg)).To(Succeed())
	answers := func() bool {
		probe := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationSeal + `":"probe"}}}`)
		Expect(h.Env.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, probe))).To(Succeed())
		return obj.GetAnnotations()[fleetv1alpha1.AnnotationSeal] != "probe"
	}
	Expect(h.Env.Client.Delete(ctx, &cfg)).To(Succeed())
	Eventually(answers, 20*time.Second, 200*time.Millisecond).Should(BeFalse(), "the API server still calls the webhook")
	restored := false
	restore = func() {
		GinkgoHelper()
		if restored {
			return
		}
		restored = true
		saved := cfg.DeepCopy()
		saved.ResourceVersion, saved.UID = "", ""
		Expect(client.IgnoreAlreadyExists(h.Env.Client.Create(ctx, saved))).To(Succeed())
		Eventually(answers, 20*time.Second, 200*time.Millisecond).Should(BeTrue(), "the API server does not call the webhook again")
	}
	DeferCleanup(restore)
	return restore
}
