// Package approvals_test runs the operator's manager, with its approvals admission webhook
// and a self-signed certificate it makes itself, against a real kube-apiserver, and checks
// four-eyes approvals with two impersonated users: the API server tells the webhook who they
// are.
package approvals_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env    *testenv.Env
	h      *harness.H
	plugin string
	// users are clients that act as alice and bob, who may edit Ampora's kinds.
	users = map[string]client.Client{}
)

const webhookConfiguration = "ampora-approvals"

func TestApprovals(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Approvals suite")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
	h = &harness.H{Env: env}
	h.Setup()
	ctx := context.Background()

	editors()
	ports, err := testenv.FreePorts(1)
	Expect(err).NotTo(HaveOccurred())
	port := ports[0]
	Expect(testenv.InstallWebhook(ctx, env.Client, webhookConfiguration, port)).To(Succeed())

	bin, err := gexec.Build("github.com/ampora-io/ampora/cmd/ampora")
	Expect(err).NotTo(HaveOccurred())
	plugin, err = gexec.Build("github.com/ampora-io/ampora/cmd/kubectl-ampora")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(gexec.CleanupBuildArtifacts)

	token, err := h.Token()
	Expect(err).NotTo(HaveOccurred())
	dir := GinkgoT().TempDir()
	tokenFile := filepath.Join(dir, "token")
	Expect(os.WriteFile(tokenFile, []byte(token), 0o600)).To(Succeed())
	cmd := exec.Command(bin, "manager", "--namespace="+harness.OperatorNamespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--sidecar-token-file="+tokenFile,
		"--webhook-host=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port), "--webhook-cert-dir="+filepath.Join(dir, "certs"),
		"--webhook-cert-secret=ampora-webhook-cert", "--webhook-configuration="+webhookConfiguration, "--webhook-cert-hosts=127.0.0.1",
		harness.AddressCheckFlag)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
	mgr, err := gexec.Start(cmd, gexec.NewPrefixedWriter("[manager] ", GinkgoWriter), gexec.NewPrefixedWriter("[manager] ", GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { mgr.Terminate().Wait(20 * time.Second) })

	// The manager put its CA into the configuration; the API server then reaches the webhook.
	Expect(testenv.WaitWebhookCA(ctx, env.Client, webhookConfiguration, 60*time.Second)).To(Succeed())
})

// editors lets alice and bob edit Ampora's kinds, and makes their clients.
func editors() {
	GinkgoHelper()
	Expect(testenv.Editors(context.Background(), env.Client, "alice", "bob")).To(Succeed())
	for _, name := range []string{"alice", "bob"} {
		cfg := rest.CopyConfig(env.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: name}
		c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
		Expect(err).NotTo(HaveOccurred())
		users[name] = c
	}
}

// kubectlAmpora runs the plugin as user, and returns its output and error.
func kubectlAmpora(user string, args ...string) (string, error) {
	cmd := exec.Command(plugin, append([]string{"--kubeconfig", env.Kubeconfig, "--as", user}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
