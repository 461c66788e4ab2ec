// Package crd_test checks Ampora's CRDs against a real kube-apiserver, through the real kubectl:
// the samples are accepted, malformed manifests are refused with the message a user sees, and
// kubectl explain documents the fields.
package crd_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ampora-io/ampora/test/testenv"
)

var env *testenv.Env

func TestCRDs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "CRD suite")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
