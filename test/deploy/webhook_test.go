package deploy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// webhookWant is how an install should wire the approvals webhook.
type webhookWant struct {
	configuration, service, secret, namespace, failurePolicy string
	timeoutSeconds                                           int32
	// exempt is the namespace whose default GatePolicy is created without the webhook ("":
	// none is).
	exempt string
}

// generatedWebhooks is config/webhook/manifests.yaml, as controller-gen generates it.
func generatedWebhooks() *admissionregistrationv1.MutatingWebhookConfiguration {
	GinkgoHelper()
	objs := parseFile("config/webhook/manifests.yaml")
	Expect(objs).To(HaveLen(1))
	return typed[admissionregistrationv1.MutatingWebhookConfiguration](objs[0])
}

// managerFlag returns the value of one of the manager container's flags.
func managerFlag(c corev1.Container, name string) string {
	GinkgoHelper()
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	Fail("the manager has no --" + name)
	return ""
}

// expectWebhook checks the MutatingWebhookConfiguration against the generated one, and that the
// Service, the manager's flags and its certificate directory line up with it.
func expectWebhook(objs []*unstructured.Unstructured, want webhookWant) {
	GinkgoHelper()
	Expect(ofKind(objs, "MutatingWebhookConfiguration")).To(HaveLen(1))
	cfg := typed[admissionregistrationv1.MutatingWebhookConfiguration](find(objs, "MutatingWebhookConfiguration", want.configuration))
	gen := generatedWebhooks()
	Expect(cfg.Webhooks).To(HaveLen(len(gen.Webhooks)))
	for i, w := range cfg.Webhooks {
		g := gen.Webhooks[i]
		Expect(w.Name).To(Equal(g.Name))
		Expect(w.Rules).To(Equal(g.Rules), w.Name)
		Expect(w.SideEffects).To(Equal(g.SideEffects), w.Name)
		Expect(w.AdmissionReviewVersions).To(Equal(g.AdmissionReviewVersions), w.Name)
		Expect(w.NamespaceSelector).To(Equal(g.NamespaceSelector), w.Name)
		Expect(w.ObjectSelector).To(Equal(g.ObjectSelector), w.Name)
		Expect(w.ReinvocationPolicy).To(Equal(g.ReinvocationPolicy), w.Name)
		Expect(string(*w.FailurePolicy)).To(Equal(want.failurePolicy), w.Name)
		Expect(*w.TimeoutSeconds).To(Equal(want.timeoutSeconds), w.Name)

		cc := w.ClientConfig
		Expect(cc.CABundle).To(BeEmpty(), "%s: the manager puts its CA in", w.Name)
		Expect(cc.URL).To(BeNil(), w.Name)
		Expect(cc.Service.Name).To(Equal(want.service), w.Name)
		Expect(cc.Service.Namespace).To(Equal(want.namespace), w.Name)
		Expect(*cc.Service.Path).To(Equal(*g.ClientConfig.Service.Path), w.Name)
		if cc.Service.Port != nil {
			Expect(*cc.Service.Port).To(Equal(int32(443)), w.Name)
		}

		if want.exempt != "" && w.Rules[0].Resources[0] == "gatepolicies" {
			Expect(w.MatchConditions).To(HaveLen(1), w.Name)
			Expect(w.MatchConditions[0].Expression).To(ContainSubstring("request.namespace == '"+want.exempt+"'"), w.Name)
		} else {
			Expect(w.MatchConditions).To(BeEmpty(), w.Name)
		}
	}

	d := deployment(objs)
	mgr := container(d, "manager")
	svc := typed[corev1.Service](find(objs, "Service", want.service))
	Expect(svc.Namespace).To(Equal(want.namespace))
	Expect(svc.Spec.Ports).To(HaveLen(1))
	Expect(svc.Spec.Ports[0].Port).To(Equal(int32(443)))
	Expect(fmt.Sprint(portOf(mgr, svc.Spec.Ports[0].TargetPort.StrVal))).To(Equal(managerFlag(mgr, "webhook-port")))
	for k, v := range svc.Spec.Selector {
		Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v))
	}

	Expect(managerFlag(mgr, "webhook-configuration")).To(Equal(cfg.Name))
	Expect(managerFlag(mgr, "webhook-cert-secret")).To(Equal(want.secret))
	hosts := strings.ReplaceAll(managerFlag(mgr, "webhook-cert-hosts"), "$(POD_NAMESPACE)", want.namespace)
	s := want.service + "." + want.namespace
	Expect(strings.Split(hosts, ",")).To(Equal([]string{want.service, s, s + ".svc", s + ".svc.cluster.local"}))

	// The root filesystem is read-only: the certificate directory is a volume of its own.
	Expect(*mgr.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	dir := managerFlag(mgr, "webhook-cert-dir")
	var volume string
	for _, m := range mgr.VolumeMounts {
		if m.MountPath == dir {
			Expect(m.ReadOnly).To(BeFalse())
			volume = m.Name
		}
	}
	Expect(volume).NotTo(BeEmpty(), "nothing is mounted at --webhook-cert-dir=%s", dir)
	var emptyDir *corev1.EmptyDirVolumeSource
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == volume {
			emptyDir = v.EmptyDir
		}
	}
	Expect(emptyDir).NotTo(BeNil(), "volume %s is no emptyDir", volume)
	Expect(emptyDir.Medium).To(Equal(corev1.StorageMediumMemory), "the private key stays off the node's disk")
	Expect(emptyDir.SizeLimit.String()).To(Equal("1Mi"))
}

// selfSignedCA returns a CA certificate in PEM, as the manager puts into the configuration.
func selfSignedCA() []byte {
	GinkgoHelper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploy-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// refusedByWebhook says that err is the API server's refusal to write without the named webhook.
func refusedByWebhook(err error, webhook string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(err.Error()).To(ContainSubstring(`failed calling webhook "` + webhook + `"`))
}

var _ = Describe("The approvals webhook", func() {
	It("is installed by the chart as config/webhook generates it, pointed at the release's Service", func(ctx SpecContext) {
		_, objs := render(ctx, releaseNS, nil)
		expectWebhook(objs, webhookWant{configuration: "ampora-approvals", service: "ampora-webhook", secret: "ampora-webhook-cert",
			namespace: releaseNS, failurePolicy: "Fail", timeoutSeconds: 10, exempt: releaseNS})

		_, objs = render(ctx, releaseNS, []string{"everything.yaml"})
		expectWebhook(objs, webhookWant{configuration: "ampora-operator-approvals", service: "ampora-operator-webhook",
			secret: "ampora-operator-webhook-cert", namespace: releaseNS, failurePolicy: "Ignore", timeoutSeconds: 5, exempt: releaseNS})
		Expect(managerFlag(container(deployment(objs), "manager"), "webhook-port")).To(Equal("10443"))

		// Without the default GatePolicy no creation skips the webhook.
		_, objs = render(ctx, releaseNS, nil, "defaultGatePolicy.create=false")
		expectWebhook(objs, webhookWant{configuration: "ampora-approvals", service: "ampora-webhook", secret: "ampora-webhook-cert",
			namespace: releaseNS, failurePolicy: "Fail", timeoutSeconds: 10})
	})

	It("is left out, and turned off in the manager, when webhook.enabled is false", func(ctx SpecContext) {
		manifest, objs := render(ctx, releaseNS, []string{"nowebhook.yaml"})
		out, _ := dryRun(ctx, manifest)
		expectAllApplied(out, objs)
		Expect(ofKind(objs, "MutatingWebhookConfiguration")).To(BeEmpty())
		Expect(lookup(objs, "Service", "ampora-webhook")).To(BeNil())
		Expect(lookup(objs, "ClusterRole", "ampora-webhook")).To(BeNil())
		Expect(lookup(objs, "Role", "ampora-webhook-cert")).To(BeNil())
		d := deployment(objs)
		mgr := container(d, "manager")
		var flags []string
		for _, a := range mgr.Args {
			if strings.HasPrefix(a, "--webhook-") {
				flags = append(flags, a)
			}
		}
		Expect(flags).To(Equal([]string{"--webhook-port=0"}))
		for _, p := range mgr.Ports {
			Expect(p.Name).NotTo(Equal("webhook"))
		}
		for _, m := range mgr.VolumeMounts {
			Expect(m.Name).NotTo(Equal("webhook-cert"))
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			Expect(v.Name).NotTo(Equal("webhook-cert"))
		}
	})

	// A real helm against the API server, where no Pod ever runs: the webhook never answers.
	Describe("installed and upgraded with helm", Ordered, func() {
		const (
			ns       = "ampora-helm"
			install  = "first"  // default values
			upgraded = "second" // without the default GatePolicy, so that upgrades need no webhook
		)
		helmIn := func(ctx context.Context, args ...string) {
			GinkgoHelper()
			out, errOut, err := runHelm(ctx, append(args, "-n", ns, "--kubeconfig", env.Kubeconfig)...)
			Expect(err).NotTo(HaveOccurred(), "helm %s\n%s%s", strings.Join(args, " "), out, errOut)
		}
		webhooks := func(ctx context.Context, name string) []admissionregistrationv1.MutatingWebhook {
			GinkgoHelper()
			var cfg admissionregistrationv1.MutatingWebhookConfiguration
			Expect(env.Client.Get(ctx, client.ObjectKey{Name: name}, &cfg)).To(Succeed())
			Expect(cfg.Webhooks).To(HaveLen(len(generatedWebhooks().Webhooks)))
			return cfg.Webhooks
		}

		BeforeAll(func(ctx SpecContext) {
			Expect(ensureNamespace(ctx, ns, nil)).To(Succeed())
			home := GinkgoT().TempDir()
			DeferCleanup(func(ctx SpecContext) {
				removeWebhookConfigurations(ctx, install+"-ampora-approvals", upgraded+"-ampora-approvals")
				for _, r := range []string{install, upgraded} {
					_, errOut, err := runHelmIn(ctx, home, "uninstall", r, "-n", ns, "--kubeconfig", env.Kubeconfig)
					Expect(err).NotTo(HaveOccurred(), errOut)
				}
			})
		})

		It("installs, creating the default GatePolicy although no replica answers", func(ctx SpecContext) {
			helmIn(ctx, "install", install, "charts/ampora", "--set", "webhook.timeoutSeconds=3")
			webhooks(ctx, install+"-ampora-approvals")
			var gp fleetv1alpha1.GatePolicy
			Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: fleetv1alpha1.DefaultGatePolicyName}, &gp)).To(Succeed())
			Expect(gp.Annotations).NotTo(HaveKey(fleetv1alpha1.AnnotationAuthor))
		})

		It("refuses every other write of a Rollout, AgentGroup or GatePolicy while no replica answers", func(ctx SpecContext) {
			const gatepolicies, rollouts = "gatepolicies.approvals.fleet.ampora.io", "rollouts.approvals.fleet.ampora.io"
			// The webhook sees the configuration once the API server has caught up.
			Eventually(func() error {
				return env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other"}}, client.DryRunAll)
			}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(MatchError(ContainSubstring(gatepolicies)))

			var gp fleetv1alpha1.GatePolicy
			Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: fleetv1alpha1.DefaultGatePolicyName}, &gp)).To(Succeed())
			By("a change of the default GatePolicy")
			changed := gp.DeepCopy()
			changed.Labels = map[string]string{"changed": "true"}
			refusedByWebhook(env.Client.Update(ctx, changed), gatepolicies)
			By("its deletion")
			refusedByWebhook(env.Client.Delete(ctx, &gp), gatepolicies)
			By("a default GatePolicy that carries Ampora's annotations")
			forged := &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default",
				Annotations: map[string]string{fleetv1alpha1.AnnotationApprovals: "[]"}}}
			refusedByWebhook(env.Client.Create(ctx, forged, client.DryRunAll), gatepolicies)
			By("a default GatePolicy in another namespace")
			refusedByWebhook(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{
				Namespace: "payments", Name: "default"}}, client.DryRunAll), gatepolicies)
			By("a Rollout")
			ro := parseFile("config/samples/fleet_v1alpha1_rollout.yaml")[0]
			ro.SetNamespace(ns)
			refusedByWebhook(env.Client.Create(ctx, ro, client.DryRunAll), rollouts)
			By("an AgentGroup")
			g := parseFile("config/samples/fleet_v1alpha1_agentgroup.yaml")[0]
			g.SetNamespace(ns)
			refusedByWebhook(env.Client.Create(ctx, g, client.DryRunAll), "agentgroups.approvals.fleet.ampora.io")

			By("but not the creation of the default GatePolicy as Helm installs it: it gets as far as the store")
			again := &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: gp.Name,
				Labels: gp.Labels, Annotations: gp.Annotations}, Spec: gp.Spec}
			Expect(gp.Annotations).To(HaveKey("meta.helm.sh/release-name"))
			err := env.Client.Create(ctx, again, client.DryRunAll)
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "%v", err)
		})

		It("keeps the CA the manager put in through helm upgrades, server-side and client-side", func(ctx SpecContext) {
			cfgName := upgraded + "-ampora-approvals"
			helmIn(ctx, "install", upgraded, "charts/ampora", "--set", "defaultGatePolicy.create=false")
			// As the manager does: a merge patch of every webhook's caBundle, under its own name.
			var cfg admissionregistrationv1.MutatingWebhookConfiguration
			Expect(env.Client.Get(ctx, client.ObjectKey{Name: cfgName}, &cfg)).To(Succeed())
			patch := client.MergeFrom(cfg.DeepCopy())
			ca := selfSignedCA()
			for i := range cfg.Webhooks {
				cfg.Webhooks[i].ClientConfig.CABundle = ca
			}
			Expect(env.Client.Patch(ctx, &cfg, patch, client.FieldOwner("ampora"))).To(Succeed())

			for i, serverSide := range []string{"auto", "false", "true"} {
				timeout := int32(11 + i)
				helmIn(ctx, "upgrade", upgraded, "charts/ampora", "--reuse-values", "--server-side="+serverSide,
					"--set", fmt.Sprintf("webhook.timeoutSeconds=%d", timeout))
				for _, w := range webhooks(ctx, cfgName) {
					Expect(*w.TimeoutSeconds).To(Equal(timeout), "the upgrade (server-side %s) changed the configuration", serverSide)
					Expect(w.ClientConfig.CABundle).To(Equal(ca), "the upgrade (server-side %s) dropped the CA of %s", serverSide, w.Name)
				}
			}
		})
	})
})
