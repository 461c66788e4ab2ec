// Package sidecar_test performs attacks on the OpAMP sidecar: replicas run in-process against
// a real kube-apiserver, and the attacker speaks raw WebSocket, raw HTTP or the real opamp-go
// client over real sockets. Each spec fails when the defence it names is taken out.
package sidecar_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
)

func TestSidecarSecurity(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "OpAMP sidecar attack suite")
}

var _ = BeforeSuite(func() {
	ctrllog.SetLogger(GinkgoLogr)
	h = harness.Start()
	env = h.Env
})
