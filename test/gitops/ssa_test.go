package gitops_test

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/fleetsim"
)

// gitOpsManager is the field manager a GitOps tool applies with.
const gitOpsManager = "argocd-controller"

var _ = Describe("The engine and spec", func() {
	It("never writes spec: the GitOps field manager keeps every spec field through pause, resume and completion", func(ctx SpecContext) {
		sc := h.StartSidecar("ssa-0")
		h.StartManager()
		s := newScenario(sc, "ssa", fleetsim.Behavior{FailWith: "boom"})
		apply := func(maxFailure int64) {
			GinkgoHelper()
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": fleetv1alpha1.GroupVersion.String(), "kind": "Rollout",
				"metadata": map[string]any{"name": "r", "namespace": s.ns},
				"spec": map[string]any{"agentGroup": "gateways", "config": map[string]any{"inline": validConfig},
					"strategy": map[string]any{"batchSize": "50%"}, "gates": map[string]any{"maxFailurePercent": maxFailure}},
			}}
			Expect(env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(gitOpsManager), client.ForceOwnership)).To(Succeed())
		}
		apply(10)
		Eventually(phaseOf(s.ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		apply(100) // the user loosens the gate in Git
		_, errOut, err := env.Kubectl(ctx, "", "-n", s.ns, "annotate", "rollout", "r", "fleet.ampora.io/action=resume")
		Expect(err).NotTo(HaveOccurred(), errOut)
		Eventually(phaseOf(s.ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))

		var r fleetv1alpha1.Rollout
		Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: "r"}, &r)).To(Succeed())
		owners := map[string]bool{}
		for _, mf := range r.ManagedFields {
			owners[mf.Manager+"/"+mf.Subresource] = true
			fields := string(mf.FieldsV1.Raw)
			if mf.Manager == gitOpsManager {
				Expect(mf.Subresource).To(BeEmpty())
				continue
			}
			Expect(fields).NotTo(ContainSubstring(`"f:spec"`), "manager %q (%s) owns spec fields: %s", mf.Manager, mf.Subresource, fields)
		}
		// The engine did write: status, and the removal of the action annotation.
		Expect(owners).To(HaveKey(ContainSubstring("/status")))
		var spec map[string]any
		raw, _ := json.Marshal(r.Spec)
		Expect(json.Unmarshal(raw, &spec)).To(Succeed())
		Expect(spec["gates"]).To(Equal(map[string]any{"maxFailurePercent": float64(100)}))
		Expect(r.Annotations).NotTo(HaveKey(fleetv1alpha1.AnnotationAction))
		GinkgoWriter.Println("field managers:", strings.Join(keys(owners), ", "))
	})
})

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
