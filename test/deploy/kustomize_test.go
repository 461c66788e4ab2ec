package deploy_test

import (
	"strings"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var _ = Describe("The kustomize install (config/default)", func() {
	var objs []*unstructured.Unstructured
	var manifest string

	BeforeEach(func(ctx SpecContext) {
		var errOut string
		var err error
		manifest, errOut, err = env.Kubectl(ctx, "", "kustomize", root+"/config/default")
		Expect(err).NotTo(HaveOccurred(), errOut)
		objs, err = parse(manifest)
		Expect(err).NotTo(HaveOccurred())
	})

	It("builds objects the API server accepts (server-side dry run)", func(ctx SpecContext) {
		out, _ := dryRun(ctx, manifest)
		expectAllApplied(out, objs)

		find(objs, "Namespace", "ampora-system")
		Expect(ofKind(objs, "CustomResourceDefinition")).To(HaveLen(3))
		for _, o := range objs {
			switch o.GetKind() {
			case "Namespace", "CustomResourceDefinition":
			case "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration":
				Expect(o.GetName()).To(HavePrefix("ampora-"))
			default:
				Expect(o.GetName()).To(HavePrefix("ampora-"))
				Expect(o.GetNamespace()).To(Equal("ampora-system"), "%s/%s", o.GetKind(), o.GetName())
			}
		}
		expectRoles(objs, "ampora")
		expectWebhookRoles(objs, "ampora")
		expectBindings(objs, "ampora-manager", "ampora-opamp", "ampora-system")
		d := deployment(objs)
		Expect(d.Spec.Template.Spec.ServiceAccountName).To(Equal("ampora-opamp"))
		expectTokens(objs, d, "ampora-manager", "ampora-opamp")
		Expect(readAPIAudience(d)).To(Equal(readapi.DefaultAudience))
		Expect(container(d, "opamp").Args).To(ContainElement("--token-namespaces="), "no namespace opts in to enrollment tokens")
		for _, name := range []string{"ampora-opamp", "ampora-webhook"} {
			svc := typed[corev1.Service](find(objs, "Service", name))
			for k, v := range svc.Spec.Selector {
				Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v), name)
			}
		}
		expectWebhook(objs, webhookWant{configuration: "ampora-approvals", service: "ampora-webhook", secret: "ampora-webhook-cert",
			namespace: "ampora-system", failurePolicy: "Fail", timeoutSeconds: 10})
	})

	It("runs the same Pod as the Helm chart's defaults", func(ctx SpecContext) {
		_, chartObjs := render(ctx, releaseNS, nil)
		chart, kust := deployment(chartObjs), deployment(objs)

		Expect(kust.Spec.Replicas).To(Equal(chart.Spec.Replicas))
		Expect(kust.Spec.Strategy).To(Equal(chart.Spec.Strategy))
		cp, kp := chart.Spec.Template.Spec, kust.Spec.Template.Spec
		Expect(kp.SecurityContext).To(Equal(cp.SecurityContext))
		Expect(kp.TerminationGracePeriodSeconds).To(Equal(cp.TerminationGracePeriodSeconds))
		Expect(kp.AutomountServiceAccountToken).To(Equal(cp.AutomountServiceAccountToken))
		Expect(kp.Containers).To(HaveLen(len(cp.Containers)))
		for i, k := range kp.Containers {
			c := cp.Containers[i]
			Expect(k.Name).To(Equal(c.Name))
			Expect(k.Ports).To(Equal(c.Ports), k.Name)
			Expect(k.Env).To(Equal(c.Env), k.Name)
			Expect(k.StartupProbe).To(Equal(c.StartupProbe), k.Name)
			Expect(k.LivenessProbe).To(Equal(c.LivenessProbe), k.Name)
			Expect(k.ReadinessProbe).To(Equal(c.ReadinessProbe), k.Name)
			Expect(k.SecurityContext).To(Equal(c.SecurityContext), k.Name)
			Expect(k.Resources).To(Equal(c.Resources), k.Name)
			Expect(k.VolumeMounts).To(Equal(c.VolumeMounts), k.Name)
			// The chart spells out more flags (their defaults); every flag kustomize passes, the
			// chart passes with the same value (kustomize names the namespace by the downward API).
			var args []string
			for _, a := range k.Args {
				args = append(args, strings.ReplaceAll(a, "$(POD_NAMESPACE)", "ampora-system"))
			}
			Expect(c.Args).To(ContainElements(args), k.Name)
		}
		Expect(kp.Volumes).To(Equal(cp.Volumes))
		Expect(kp.Containers[0].Image).To(Equal(cp.Containers[0].Image))

		chartSvc := typed[corev1.Service](find(chartObjs, "Service", "ampora-opamp"))
		kustSvc := typed[corev1.Service](find(objs, "Service", "ampora-opamp"))
		Expect(kustSvc.Spec.Ports).To(Equal(chartSvc.Spec.Ports))
		Expect(kustSvc.Spec.SessionAffinity).To(Equal(chartSvc.Spec.SessionAffinity))
		Expect(kustSvc.Spec.SessionAffinityConfig).To(Equal(chartSvc.Spec.SessionAffinityConfig))
		Expect(typed[corev1.Service](find(objs, "Service", "ampora-webhook")).Spec.Ports).To(
			Equal(typed[corev1.Service](find(chartObjs, "Service", "ampora-webhook")).Spec.Ports))

		// Both spread the replicas over nodes (their selectors differ: the chart's names the release).
		term := func(d *appsv1.Deployment) string {
			return d.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey
		}
		Expect(term(kust)).To(Equal(term(chart)))
	})
})
