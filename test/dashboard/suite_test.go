// Package dashboard_test runs `kubectl ampora dashboard` against a real kube-apiserver, with
// the real `ampora manager` and `ampora opamp` processes and a simulated fleet of which some
// agents fail to apply, and checks the page in headless Chromium.
package dashboard_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
	// chromium is the browser the page is checked in.
	chromium string
	// ampora and plugin are the built binaries; tokenFile holds the operator's token.
	ampora, plugin, tokenFile string
)

func TestDashboard(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubectl ampora dashboard suite")
}

var _ = BeforeSuite(func() {
	// Without a browser the dashboard is not tested: that is a failure, not a skip.
	chromium = findChromium()
	Expect(chromium).NotTo(BeEmpty(), "headless Chromium is needed to test the dashboard and none was found "+
		"(looked for $CHROMIUM, else /usr/bin/chromium, chromium, chromium-browser and google-chrome); "+
		"on Debian: apt-get install -y chromium")

	logf.SetLogger(GinkgoLogr)
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	h = &harness.H{Env: env}
	h.Setup()

	ampora, err = gexec.Build("github.com/ampora-io/ampora/cmd/ampora")
	Expect(err).NotTo(HaveOccurred())
	plugin, err = gexec.Build("github.com/ampora-io/ampora/cmd/kubectl-ampora")
	Expect(err).NotTo(HaveOccurred())
	token, err := h.ReadAPIToken()
	Expect(err).NotTo(HaveOccurred())
	tokenFile = filepath.Join(GinkgoT().TempDir(), "operator-token")
	Expect(os.WriteFile(tokenFile, []byte(token), 0o600)).To(Succeed())
})

var _ = AfterSuite(func() {
	gexec.CleanupBuildArtifacts()
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// findChromium returns the browser to drive: $CHROMIUM, else Debian's, else one on PATH; ""
// when there is none.
func findChromium() string {
	candidates := []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}
	if p := os.Getenv("CHROMIUM"); p != "" {
		candidates = []string{p}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// startOperator runs one `ampora opamp` replica and the `ampora manager` as processes, with
// the admin kubeconfig, until the spec ends. It returns the replica's OpAMP URL.
func startOperator() string {
	GinkgoHelper()
	ports, err := testenv.FreePorts(2)
	Expect(err).NotTo(HaveOccurred())
	start := func(name string, args ...string) {
		cmd := exec.Command(ampora, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
		w := gexec.NewPrefixedWriter("["+name+"] ", GinkgoWriter)
		s, err := gexec.Start(cmd, w, w)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { s.Kill().Wait(10 * time.Second) })
	}
	start("opamp", "opamp", "--replica=dashboard-0", "--namespace="+harness.OperatorNamespace,
		fmt.Sprintf("--listen=127.0.0.1:%d", ports[0]), fmt.Sprintf("--read-api-addr=127.0.0.1:%d", ports[1]),
		"--probe-addr=127.0.0.1:0", "--lease-duration=5s", "--peer-token-file="+tokenFile, harness.AddressCheckFlag)
	start("manager", "manager", "--namespace="+harness.OperatorNamespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--sidecar-token-file="+tokenFile, "--webhook-port=0", harness.AddressCheckFlag)
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	Eventually(func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err
	}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
	return "ws://" + addr + "/v1/opamp"
}

// demoNamespace creates the namespace demo, as the demo names it, with an enrollment token
// for the fleet, and returns the token.
func demoNamespace() string {
	GinkgoHelper()
	ctx := context.Background()
	const ns, token = "demo", "demo-enrollment-token"
	Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "enrollment", Labels: map[string]string{readapi.LabelEnrollmentToken: "true"}},
		Data:       map[string][]byte{readapi.TokenKey: []byte(token)},
	})).To(Succeed())
	return token
}

// viewer creates a ServiceAccount that may only read, in namespace ns, what the dashboard
// shows (rollouts, their AgentGroups and Events) and the sidecars' Leases, and returns a
// kubeconfig that presents its token: the dashboard runs with a user's own credentials.
func viewer(ns string) string {
	GinkgoHelper()
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(testenv.Viewer(context.Background(), env.Client, env.Config, ns, harness.OperatorNamespace, path)).To(Succeed())
	return path
}
