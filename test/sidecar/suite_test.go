// Package sidecar_test runs the OpAMP sidecar in-process against a real kube-apiserver, with
// simulated agents on the real opamp-go client over real sockets. The tests play the engine's
// part: they store config revisions and write the Rollout status fields the manager writes.
package sidecar_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ampora-io/ampora/test/testenv"
)

var env *testenv.Env

func TestSidecar(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "OpAMP sidecar suite")
}

var _ = BeforeSuite(func() {
	// The replicas' Kubernetes clients log through controller-runtime; shown when a spec fails.
	ctrllog.SetLogger(GinkgoLogr)
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
