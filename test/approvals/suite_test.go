// Package approvals_test runs the operator's manager, with its approvals admission webhook
// and a self-signed certificate it makes itself, against a real kube-apiserver, and checks
// four-eyes approvals with two impersonated users: the API server tells the webhook who they
// are.
package approvals_test

import (
	"os/exec"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env    *testenv.Env
	h      *harness.H
	plugin string
	// users are clients that act as alice and bob, who may edit Ampora's kinds.
	users map[string]client.Client
)

const webhookConfiguration = "ampora-approvals"

func TestApprovals(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Approvals suite")
}

var _ = BeforeSuite(func() {
	h = harness.Start()
	env = h.Env

	users = h.Editors("alice", "bob")
	bin, tokenFile := h.Operator()
	var err error
	plugin, err = gexec.Build("github.com/ampora-io/ampora/cmd/kubectl-ampora")
	Expect(err).NotTo(HaveOccurred())
	h.StartWebhookManager(bin, tokenFile, webhookConfiguration)
})

// kubectlAmpora runs the plugin as user, and returns its output and error.
func kubectlAmpora(user string, args ...string) (string, error) {
	cmd := exec.Command(plugin, append([]string{"--kubeconfig", env.Kubeconfig, "--as", user}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
