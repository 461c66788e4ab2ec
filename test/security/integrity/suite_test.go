// Package integrity_test attacks the operator's integrity as a namespace editor would: it runs
// the real `ampora manager` (with its approvals webhook) and an OpAMP sidecar against a real
// kube-apiserver, acts through impersonated users, and checks that only approved, valid config
// reaches an agent. docs/security.md maps each test to the threat it answers.
package integrity_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
	// users act as namespace editors: alice writes rollouts, bob reviews them.
	users map[string]client.Client
)

const webhookConfiguration = "ampora-integrity"

func TestIntegrity(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Integrity attacks suite")
}

var _ = BeforeSuite(func() {
	h = harness.Start()
	env = h.Env
	users = h.Editors("alice", "bob")
	bin, tokenFile := h.Operator()
	h.StartWebhookManager(bin, tokenFile, webhookConfiguration)
})
