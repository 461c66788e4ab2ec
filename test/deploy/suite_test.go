// Package deploy_test checks what ships, against a real kube-apiserver, through the real helm
// and kubectl: the Helm chart (lint, render, server-side dry run of every object, RBAC that
// holds every generated rule and lets both processes run), the kustomize install, and the
// image that `make image` assembles without a container engine.
//
// helm and the image are built by hack/helm.sh and hack/image.sh when missing (cached; `make
// test` builds them first).
package deploy_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ampora-io/ampora/test/testenv"
)

// releaseNS is where the chart is rendered and dry-run applied, as `helm install -n` would.
const releaseNS = "ampora-system"

var (
	env  *testenv.Env
	helm string // path of the helm binary
	root = testenv.Root()
)

func TestDeploy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Deploy suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	helm, err = script(ctx, "hack/helm.sh")
	Expect(err).NotTo(HaveOccurred(), "building helm")

	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())

	// The namespaces the rendered objects land in (tokens.yaml and everything.yaml put
	// enrollment tokens into payments and checkout, and tokens.yaml opts in tenant-a). A dry
	// run does not create them.
	for _, ns := range []string{releaseNS, "payments", "checkout", "tenant-a"} {
		Expect(ensureNamespace(ctx, ns, nil)).To(Succeed())
	}
	// The Prometheus Operator's ServiceMonitor CRD does not exist on a bare API server; a
	// minimal stand-in lets the chart's ServiceMonitor go through the same dry run as the rest.
	_, err = envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		Paths:              []string{filepath.Join(root, "test", "deploy", "testdata", "servicemonitor-crd.yaml")},
		ErrorIfPathMissing: true,
	})
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(20*time.Minute))

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// ensureNamespace creates a namespace with labels unless it exists.
func ensureNamespace(ctx context.Context, name string, labels map[string]string) error {
	err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	return client.IgnoreAlreadyExists(err)
}
