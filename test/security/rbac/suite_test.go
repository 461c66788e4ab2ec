// Package rbac_test attacks the operator's RBAC, as installed by the Helm chart and by
// kustomize, on a real kube-apiserver: it impersonates the ServiceAccount whose token each
// container of the operator Pod mounts and tries what a compromised process would try (the
// OpAMP sidecar faces the internet). Each attempt must be Forbidden; what each process needs
// must still be allowed.
//
// helm is built by hack/helm.sh when missing (cached; `make test` builds it first).
package rbac_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env  *testenv.Env
	helm string // path of the helm binary
	root = testenv.Root()
)

func TestRBAC(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "RBAC attack suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "helm.sh"))
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, GinkgoWriter
	Expect(cmd.Run()).To(Succeed(), "building helm")
	helm = strings.TrimSpace(out.String())

	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(20*time.Minute))

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
