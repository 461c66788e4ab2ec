// Package bounds_test checks, against a real kube-apiserver, that nothing an agent or a
// namespace editor supplies can make the operator's status writes exceed a bound of the CRDs
// (MaxItems, MaxLength): the API server would refuse such a write, and refuse it again on every
// pass, wedging the object for good. It runs the manager and OpAMP sidecars in-process.
package bounds_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
)

func TestBounds(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Status bounds suite")
}

var _ = BeforeSuite(func() {
	h = harness.Start()
	env = h.Env
	h.StartManager()
})
