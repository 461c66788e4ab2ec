// Package plugin_test runs the kubectl-ampora binary against a real kube-apiserver, with an
// OpAMP sidecar, the rollout engine and simulated agents in-process, as a user who
// authenticates with a ServiceAccount bearer token.
package plugin_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
	// bin is the built plugin; kubeconfig authenticates as the harness ServiceAccount with a
	// bearer token.
	bin, kubeconfig string
)

// user is how the API server names the harness ServiceAccount.
const user = "system:serviceaccount:" + harness.OperatorNamespace + ":" + harness.ServiceAccount

func TestPlugin(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubectl-ampora suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(GinkgoLogr)
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	h = &harness.H{Env: env}
	h.Setup()
	grantPluginUser()

	bin, err = gexec.Build("github.com/ampora-io/ampora/cmd/kubectl-ampora")
	Expect(err).NotTo(HaveOccurred())

	token, err := h.Token()
	Expect(err).NotTo(HaveOccurred())
	kubeconfig = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	writeKubeconfig(kubeconfig, token)
})

var _ = AfterSuite(func() {
	gexec.CleanupBuildArtifacts()
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// grantPluginUser lets the harness ServiceAccount do what the plugin does beyond reading
// rollouts: watch and annotate them, read AgentGroups and Leases, and ask who it is.
func grantPluginUser() {
	ctx := context.Background()
	for _, obj := range []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ampora-plugin-user"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"fleet.ampora.io"}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch", "patch"}},
			{APIGroups: []string{"fleet.ampora.io"}, Resources: []string{"agentgroups"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}, Verbs: []string{"create"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ampora-plugin-user"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "ampora-plugin-user"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: harness.OperatorNamespace, Name: harness.ServiceAccount}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
}

// writeKubeconfig writes a kubeconfig for the test API server whose user presents token.
func writeKubeconfig(path, token string) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	kc.AuthInfos["ampora"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "ampora", Namespace: "default"}
	kc.CurrentContext = "envtest"
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
}

// result is one run of the plugin.
type result struct {
	out, err string
	code     int
}

// plugin runs kubectl-ampora with the token kubeconfig and waits for it to exit.
func plugin(args ...string) result {
	GinkgoHelper()
	return pluginWith(kubeconfig, args...)
}

func pluginWith(kc string, args ...string) result {
	GinkgoHelper()
	// The harness's sidecar runs on 127.0.0.1, not in a Pod: see harness.NoAddressCheck.
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kc, harness.AddressCheckFlag}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+GinkgoT().TempDir())
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s, 2*time.Minute).Should(gexec.Exit())
	return result{out: string(s.Out.Contents()), err: string(s.Err.Contents()), code: s.ExitCode()}
}

// events lists "Reason: note" of the Events about a Rollout, oldest first.
func events(ns, name string) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(env.Client.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp) })
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}
