package integrity_test

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("A Rollout's group", func() {
	It("cannot be changed once set: kubectl apply says what to do instead", func(ctx SpecContext) {
		ns, _ := h.Namespace("immutable")
		group(ns, "staging", "otelcol-staging")
		group(ns, "gateways", "otelcol")
		manifest := func(g string) string {
			r := rollout(ns, "web", g, harness.CollectorConfig("immutable"))
			r.APIVersion, r.Kind = fleetv1alpha1.GroupVersion.String(), "Rollout"
			b, err := json.Marshal(r)
			Expect(err).NotTo(HaveOccurred())
			return string(b)
		}
		out, stderr, err := env.Kubectl(ctx, manifest("staging"), "--as=alice", "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred(), stderr)
		Expect(out).To(ContainSubstring("rollout.fleet.ampora.io/web created"))

		_, stderr, err = env.Kubectl(ctx, manifest("gateways"), "--as=alice", "apply", "-f", "-")
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring("spec.agentGroup is immutable: to deliver this config to another group, create a new Rollout for that group"))
		Expect(get(ns, "web").Spec.AgentGroup).To(Equal("staging"))
	})
})
