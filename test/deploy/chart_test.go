package deploy_test

import (
	"context"
	"regexp"
	"strings"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// valuesFiles are the non-default values the chart is checked with (test/deploy/testdata).
var valuesFiles = []string{"tls.yaml", "mtls.yaml", "replicas3.yaml", "replicas1.yaml",
	"servicemonitor.yaml", "tokens.yaml", "gatepolicy.yaml", "everything.yaml", "nowebhook.yaml"}

// container returns a container of the operator Pod by name.
func container(d *appsv1.Deployment, name string) corev1.Container {
	GinkgoHelper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	Fail("no container " + name)
	return corev1.Container{}
}

// portOf resolves a named container port.
func portOf(c corev1.Container, name string) int32 {
	GinkgoHelper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	Fail("container " + c.Name + " has no port " + name)
	return 0
}

// readAPIAudience is the audience of the tokens the manager presents to the sidecars' read
// API: --sidecar-token-audience, which it requests them for. It is also the sidecar's
// --read-api-audience.
func readAPIAudience(d *appsv1.Deployment) string {
	GinkgoHelper()
	audience := ""
	for _, a := range container(d, "manager").Args {
		if v, ok := strings.CutPrefix(a, "--sidecar-token-audience="); ok {
			audience = v
		}
		Expect(a).NotTo(HavePrefix("--sidecar-token-file="), "a token file too")
	}
	Expect(audience).NotTo(BeEmpty(), "the manager's --sidecar-token-audience")
	want := readapi.DefaultAudience
	for _, a := range container(d, "opamp").Args {
		if v, ok := strings.CutPrefix(a, "--read-api-audience="); ok {
			want = v
		}
	}
	Expect(audience).To(Equal(want), "the sidecar's --read-api-audience")
	return audience
}

func deployment(objs []*unstructured.Unstructured) *appsv1.Deployment {
	GinkgoHelper()
	ds := ofKind(objs, "Deployment")
	Expect(ds).To(HaveLen(1))
	return typed[appsv1.Deployment](ds[0])
}

// opampToken is where the opamp container mounts its ServiceAccount's token.
var opampToken = corev1.VolumeMount{Name: "opamp-token", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}

var _ = Describe("The Helm chart", func() {
	It("passes helm lint --strict with the default values and with every test values file", func(ctx SpecContext) {
		out, errOut, err := runHelm(ctx, "lint", "--strict", "charts/ampora")
		Expect(err).NotTo(HaveOccurred(), out+errOut)
		for _, f := range valuesFiles {
			out, errOut, err := runHelm(ctx, append([]string{"lint", "--strict", "charts/ampora"}, valuesArgs([]string{f})...)...)
			Expect(err).NotTo(HaveOccurred(), "%s:\n%s%s", f, out, errOut)
			Expect(out).To(ContainSubstring("1 chart(s) linted, 0 chart(s) failed"), f)
		}
	})

	DescribeTable("renders objects the API server accepts (server-side dry run), as configured",
		func(ctx context.Context, files []string, check func([]*unstructured.Unstructured)) {
			manifest, objs := render(ctx, releaseNS, files)
			out, _ := dryRun(ctx, manifest)
			expectAllApplied(out, objs)
			for _, o := range objs {
				switch o.GetKind() {
				case "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
				default:
					Expect(o.GetNamespace()).NotTo(BeEmpty(), "%s/%s has no namespace", o.GetKind(), o.GetName())
				}
			}
			Expect(readAPIAudience(deployment(objs))).To(Equal(readapi.DefaultAudience))
			check(objs)
		},
		Entry("default values", nil, func(objs []*unstructured.Unstructured) {
			d := deployment(objs)
			Expect(d.Name).To(Equal("ampora"))
			Expect(d.Namespace).To(Equal(releaseNS))
			Expect(*d.Spec.Replicas).To(Equal(int32(2)))
			Expect(d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue()).To(Equal(0))
			pod := d.Spec.Template.Spec
			Expect(pod.Containers).To(HaveLen(2))
			expectTokens(objs, d, "ampora", "ampora-opamp")
			Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
			Expect(*pod.SecurityContext.RunAsUser).To(Equal(int64(65532)))
			Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
			// Each container's token, and the manager's webhook certificate directory (the root
			// filesystem is read-only).
			Expect(pod.Volumes).To(HaveLen(3))
			Expect(pod.Volumes[2].Name).To(Equal("webhook-cert"))
			Expect(*pod.TerminationGracePeriodSeconds).To(BeNumerically(">", 10), "above the OpAMP server's shutdown grace")

			downward := []corev1.EnvVar{
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
				{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			}
			for _, c := range pod.Containers {
				Expect(c.Image).To(Equal("ghcr.io/ampora-io/ampora:0.1.0"))
				Expect(c.Env).To(Equal(downward), c.Name)
				sc := c.SecurityContext
				Expect(*sc.RunAsNonRoot).To(BeTrue(), c.Name)
				Expect(*sc.ReadOnlyRootFilesystem).To(BeTrue(), c.Name)
				Expect(*sc.AllowPrivilegeEscalation).To(BeFalse(), c.Name)
				Expect(sc.Capabilities.Drop).To(Equal([]corev1.Capability{"ALL"}), c.Name)
				Expect(sc.Capabilities.Add).To(BeEmpty(), c.Name)
				Expect(sc.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault), c.Name)
				Expect(c.Resources.Requests).NotTo(BeEmpty(), c.Name)
				Expect(c.Resources.Limits).To(HaveKey(corev1.ResourceMemory), c.Name)
			}

			mgr := container(d, "manager")
			Expect(mgr.Args[0]).To(Equal("manager"))
			Expect(mgr.Args).To(ContainElements("--leader-elect=true", "--health-probe-bind-address=:8081",
				"--webhook-port=9443", "--webhook-cert-dir=/tmp/ampora-webhook", "--webhook-cert-secret=ampora-webhook-cert",
				"--webhook-configuration=ampora-approvals", "--approval-key-secret=ampora-approval-key",
				"--webhook-cert-hosts=ampora-webhook,ampora-webhook."+releaseNS+",ampora-webhook."+releaseNS+".svc,ampora-webhook."+releaseNS+".svc.cluster.local"))
			Expect(portOf(mgr, "webhook")).To(Equal(int32(9443)))
			Expect(mgr.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "webhook-cert", MountPath: "/tmp/ampora-webhook"}))
			Expect(mgr.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
			Expect(portOf(mgr, mgr.LivenessProbe.HTTPGet.Port.StrVal)).To(Equal(int32(8081)))
			Expect(mgr.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
			Expect(portOf(mgr, mgr.ReadinessProbe.HTTPGet.Port.StrVal)).To(Equal(int32(8081)))

			op := container(d, "opamp")
			Expect(op.Args[0]).To(Equal("opamp"))
			Expect(op.Args).To(ContainElements("--listen=:4320", "--read-api-addr=:8443",
				"--read-api-url=http://$(POD_IP):8443", "--probe-addr=:8082", "--token-namespaces=", "--max-agents-per-token=50000"))
			for _, a := range op.Args {
				Expect(a).NotTo(HavePrefix("--tls-"))
				Expect(a).NotTo(HavePrefix("--client-ca-file"))
				Expect(a).NotTo(HavePrefix("--allow-unauthenticated-into"))
			}
			for _, p := range []*corev1.Probe{op.StartupProbe, op.LivenessProbe} {
				Expect(p.HTTPGet.Path).To(Equal("/healthz"))
				Expect(portOf(op, p.HTTPGet.Port.StrVal)).To(Equal(int32(8082)))
			}
			Expect(op.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
			Expect(portOf(op, op.ReadinessProbe.HTTPGet.Port.StrVal)).To(Equal(int32(8082)))

			svc := typed[corev1.Service](find(objs, "Service", "ampora-opamp"))
			Expect(svc.Spec.SessionAffinity).To(Equal(corev1.ServiceAffinityClientIP))
			Expect(*svc.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds).To(BeNumerically(">", 0))
			Expect(svc.Spec.Ports).To(HaveLen(1))
			Expect(svc.Spec.Ports[0].Port).To(Equal(int32(4320)))
			Expect(portOf(op, svc.Spec.Ports[0].TargetPort.StrVal)).To(Equal(int32(4320)))
			Expect(svc.Spec.Selector).To(Equal(d.Spec.Selector.MatchLabels))

			pdb := typed[policyv1.PodDisruptionBudget](find(objs, "PodDisruptionBudget", "ampora"))
			Expect(pdb.Spec.MinAvailable.IntValue()).To(Equal(1))
			Expect(pdb.Spec.Selector.MatchLabels).To(Equal(d.Spec.Selector.MatchLabels))

			gp := find(objs, "GatePolicy", fleetv1alpha1.DefaultGatePolicyName)
			Expect(gp.GetNamespace()).To(Equal(releaseNS))

			Expect(ofKind(objs, "Secret")).To(HaveLen(1), "the manager's token only: the manager makes the webhook's certificate Secret")
			Expect(ofKind(objs, "ServiceMonitor")).To(BeEmpty())
			expectBindings(objs, "ampora", "ampora-opamp", releaseNS)
			Expect(lookup(objs, "RoleBinding", "ampora-opamp-tokens")).To(BeNil(), "no namespace opts in to enrollment tokens")
			Expect(find(objs, "Role", "ampora-leases").GetNamespace()).To(Equal(releaseNS))
			Expect(find(objs, "Role", "ampora-opamp-leases").GetNamespace()).To(Equal(releaseNS))
			Expect(find(objs, "Role", "ampora-webhook-cert").GetNamespace()).To(Equal(releaseNS))
			find(objs, "Service", "ampora-webhook")
			find(objs, "MutatingWebhookConfiguration", "ampora-approvals")
		}),
		Entry("TLS", []string{"tls.yaml"}, func(objs []*unstructured.Unstructured) {
			d := deployment(objs)
			op := container(d, "opamp")
			Expect(op.Args).To(ContainElements("--tls-cert-file=/etc/ampora/tls/tls.crt", "--tls-key-file=/etc/ampora/tls/tls.key"))
			Expect(strings.Join(op.Args, " ")).NotTo(ContainSubstring("--client-ca-file"))
			Expect(op.VolumeMounts).To(ConsistOf(opampToken, corev1.VolumeMount{Name: "tls", MountPath: "/etc/ampora/tls", ReadOnly: true}))
			Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(corev1.Volume{Name: "tls",
				VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "ampora-opamp-tls"}}}))
			Expect(d.Spec.Template.Spec.Volumes).To(HaveLen(4), "tls, the webhook's certificate directory and each container's token")
			for _, m := range container(d, "manager").VolumeMounts {
				Expect(m.Name).NotTo(Equal("tls"), "the manager does not mount the OpAMP certificate")
			}
		}),
		Entry("mTLS", []string{"mtls.yaml"}, func(objs []*unstructured.Unstructured) {
			d := deployment(objs)
			op := container(d, "opamp")
			Expect(op.Args).To(ContainElements("--tls-cert-file=/etc/ampora/tls/tls.crt", "--tls-key-file=/etc/ampora/tls/tls.key",
				"--client-ca-file=/etc/ampora/client-ca/bundle.pem"))
			Expect(op.VolumeMounts).To(ConsistOf(opampToken,
				corev1.VolumeMount{Name: "tls", MountPath: "/etc/ampora/tls", ReadOnly: true},
				corev1.VolumeMount{Name: "client-ca", MountPath: "/etc/ampora/client-ca", ReadOnly: true}))
			Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(corev1.Volume{Name: "client-ca",
				VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "agents-ca",
					Items: []corev1.KeyToPath{{Key: "bundle.pem", Path: "bundle.pem"}}}}}))
		}),
		Entry("three replicas", []string{"replicas3.yaml"}, func(objs []*unstructured.Unstructured) {
			d := deployment(objs)
			Expect(*d.Spec.Replicas).To(Equal(int32(3)))
			anti := d.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
			Expect(anti).To(HaveLen(1))
			Expect(anti[0].LabelSelector.MatchLabels).To(Equal(d.Spec.Selector.MatchLabels))
			pdb := typed[policyv1.PodDisruptionBudget](find(objs, "PodDisruptionBudget", "ampora"))
			Expect(pdb.Spec.MinAvailable.IntValue()).To(Equal(2))
		}),
		Entry("one replica, without a PodDisruptionBudget that would block drains", []string{"replicas1.yaml"},
			func(objs []*unstructured.Unstructured) {
				Expect(*deployment(objs).Spec.Replicas).To(Equal(int32(1)))
				Expect(ofKind(objs, "PodDisruptionBudget")).To(BeEmpty())
			}),
		Entry("ServiceMonitor", []string{"servicemonitor.yaml"}, func(objs []*unstructured.Unstructured) {
			d := deployment(objs)
			sm := find(objs, "ServiceMonitor", "ampora")
			Expect(sm.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
			metrics := typed[corev1.Service](find(objs, "Service", "ampora-metrics"))
			sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			for k, v := range sel {
				Expect(metrics.Labels).To(HaveKeyWithValue(k, v))
			}
			// The opamp Service must not be selected too, or its port would be scraped.
			Expect(sel).NotTo(BeEmpty())
			opampSvc := typed[corev1.Service](find(objs, "Service", "ampora-opamp"))
			Expect(opampSvc.Labels).NotTo(HaveKeyWithValue("app.kubernetes.io/component", "metrics"))

			endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			Expect(endpoints).To(HaveLen(2))
			byName := map[string]corev1.ServicePort{}
			for _, p := range metrics.Spec.Ports {
				byName[p.Name] = p
			}
			want := map[string]struct {
				container string
				port      int32
			}{"mgr-metrics": {"manager", 8080}, "opamp-metrics": {"opamp", 8082}}
			for _, e := range endpoints {
				ep := e.(map[string]any)
				Expect(ep["path"]).To(Equal("/metrics"))
				Expect(ep["interval"]).To(Equal("15s"))
				p, ok := byName[ep["port"].(string)]
				Expect(ok).To(BeTrue(), "the metrics Service has no port %v", ep["port"])
				w := want[p.Name]
				Expect(portOf(container(d, w.container), p.TargetPort.StrVal)).To(Equal(w.port))
			}
		}),
		Entry("enrollment tokens", []string{"tokens.yaml"}, func(objs []*unstructured.Unstructured) {
			var secrets []*unstructured.Unstructured
			for _, o := range ofKind(objs, "Secret") {
				if o.GetName() != "ampora-manager-token" {
					secrets = append(secrets, o)
				}
			}
			Expect(secrets).To(HaveLen(2))
			// Each token's namespace opts in, with enrollment.namespaces': a RoleBinding each,
			// and the sidecar watches just those.
			Expect(container(deployment(objs), "opamp").Args).To(ContainElement("--token-namespaces=checkout,payments,tenant-a"))
			var bound []string
			for _, b := range ofKind(objs, "RoleBinding") {
				if b.GetName() == "ampora-opamp-tokens" {
					bound = append(bound, b.GetNamespace())
				}
			}
			Expect(bound).To(ConsistOf("checkout", "payments", "tenant-a"))
			tokens := map[string]string{}
			for _, o := range secrets {
				s := typed[corev1.Secret](o)
				Expect(s.Labels).To(HaveKeyWithValue("fleet.ampora.io/enrollment-token", "true"))
				Expect(s.Data).To(HaveLen(1))
				Expect(s.Data).To(HaveKey("token"))
				tokens[s.Namespace+"/"+s.Name] = string(s.Data["token"])
			}
			Expect(tokens).To(HaveKeyWithValue("payments/payments-agents", "payments-enrollment-token-0123456789"))
			Expect(tokens).To(HaveKey("checkout/checkout-agents"))
			Expect(tokens["checkout/checkout-agents"]).To(MatchRegexp(`^ampora:checkout:[A-Za-z0-9]{48}$`), "a generated token, bound to its namespace")
		}),
		Entry("the operator's default GatePolicy", []string{"gatepolicy.yaml"}, func(objs []*unstructured.Unstructured) {
			gp := typed[fleetv1alpha1.GatePolicy](find(objs, "GatePolicy", "default"))
			Expect(gp.Namespace).To(Equal(releaseNS))
			Expect(gp.Spec.Gates.MaxFailurePercent).To(Equal(ptr.To(int32(5))))
			Expect(gp.Spec.Gates.OnFailure).To(Equal(fleetv1alpha1.GateFailureRollback))
			Expect(gp.Spec.PushPolicies).To(HaveLen(2))
			Expect(gp.Spec.PushPolicies[1].Windows[0].TimeZone).To(Equal("Europe/Berlin"))
		}),
		Entry("every value away from its default", []string{"everything.yaml"}, func(objs []*unstructured.Unstructured) {
			d := deployment(objs)
			Expect(d.Name).To(Equal("ampora-operator"))
			Expect(*d.Spec.Replicas).To(Equal(int32(3)))
			for _, c := range d.Spec.Template.Spec.Containers {
				Expect(c.Image).To(HaveSuffix("@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
			}
			op := container(d, "opamp")
			Expect(op.Args).To(ContainElements("--listen=:4443", "--path=/opamp", "--read-api-url=http://$(POD_IP):9443",
				"--max-message-bytes=8388608", "--max-agents-per-token=2000", "--client-ca-file=/etc/ampora/client-ca/ca.crt", "--report-interval=2s"))
			Expect(d.Spec.Template.Spec.Affinity).To(BeNil(), "podAntiAffinity: none")
			expectTokens(objs, d, "ampora-sa", "ampora-sa-opamp")
			svc := typed[corev1.Service](find(objs, "Service", "ampora-operator-opamp"))
			Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeLoadBalancer))
			Expect(svc.Spec.Ports[0].NodePort).To(Equal(int32(30443)))
			Expect(svc.Spec.ExternalTrafficPolicy).To(Equal(corev1.ServiceExternalTrafficPolicyLocal))
			find(objs, "ServiceMonitor", "ampora-operator")
			Expect(lookup(objs, "GatePolicy", "default")).NotTo(BeNil())
		}),
	)

	It("creates no default GatePolicy when told not to", func(ctx SpecContext) {
		_, objs := render(ctx, releaseNS, nil, "defaultGatePolicy.create=false")
		Expect(ofKind(objs, "GatePolicy")).To(BeEmpty())
	})

	DescribeTable("refuses values that cannot work, saying why",
		func(ctx context.Context, want string, sets ...string) {
			args := append([]string{"template", "ampora", "charts/ampora", "-n", releaseNS}, valuesArgs(nil, sets...)...)
			_, errOut, err := runHelm(ctx, args...)
			Expect(err).To(HaveOccurred())
			Expect(errOut).To(MatchRegexp(regexp.QuoteMeta(want)))
		},
		Entry("mTLS without TLS", "opamp.tls.clientCASecretName (mTLS) needs opamp.tls.secretName (TLS)",
			"opamp.tls.clientCASecretName=agents-ca"),
		Entry("a value the schema does not know", "additional properties 'replicas' not allowed", "replicas=3"),
		Entry("a gate the GatePolicy CRD refuses", "maximum: got 150, want 100",
			"defaultGatePolicy.spec.gates.maxFailurePercent=150"),
		Entry("no replica", "minimum: got 0, want 1", "replicaCount=0"),
		Entry("several managers without leader election", "manager.leaderElection.enabled=false needs replicaCount 1",
			"manager.leaderElection.enabled=false"),
		Entry("a port twice in the Pod", "opamp.readAPIPort and webhook.port are both port 8443", "webhook.port=8443"),
		Entry("a webhook timeout the API server refuses", "maximum: got 60, want 30", "webhook.timeoutSeconds=60"),
		Entry("an unknown failure policy", "at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'",
			"webhook.failurePolicy=Retry"),
		Entry("a token in the release namespace", "enrollment tokens in the release namespace "+releaseNS,
			"enrollmentTokens[0].name=a"),
		Entry("the release namespace opted in", "enrollment tokens in the release namespace "+releaseNS,
			"enrollment.namespaces={"+releaseNS+"}"),
		Entry("one ServiceAccount for both processes", "serviceAccount.name and serviceAccount.opampName are the same ServiceAccount",
			"serviceAccount.name=ampora-sa", "serviceAccount.opampName=ampora-sa"),
		Entry("a token Secret twice", "enrollmentTokens: payments/a appears twice",
			"enrollmentTokens[0].name=a", "enrollmentTokens[0].namespace=payments",
			"enrollmentTokens[1].name=a", "enrollmentTokens[1].namespace=payments"),
	)

	It("runs under the restricted Pod Security Standard", func(ctx SpecContext) {
		const ns = "ampora-restricted"
		Expect(ensureNamespace(ctx, ns, map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		})).To(Succeed())
		manifest, objs := render(ctx, ns, nil)
		out, warnings := dryRun(ctx, manifest)
		expectAllApplied(out, objs)
		Expect(warnings).NotTo(ContainSubstring("PodSecurity"))

		// The check bites: a privilege escalation is reported for the Deployment.
		manifest, _ = render(ctx, ns, nil, "securityContext.allowPrivilegeEscalation=true")
		_, warnings = dryRun(ctx, manifest)
		Expect(warnings).To(ContainSubstring(`would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false`))
	})
})
