package bounds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("Replica entries", func() {
	ctx := context.Background()

	It("keeps room in status.replicas for a new replica when dead replicas' entries fill it", func() {
		ns, token := h.Namespace("replicas")
		group(ns, "gateways")
		// 64 entries of replicas that are long gone (no Lease): what a group collects over
		// enough restarts and upgrades of the operator's Pods.
		var dead []any
		for i := range 64 {
			dead = append(dead, map[string]any{"replica": fmt.Sprintf("ampora-old-%02d", i), "reportedAt": "2026-01-01T00:00:00Z", "matching": 1})
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"replicas": dead}})
		Expect(env.Client.Status().Patch(ctx, getGroup(ns, "gateways"), client.RawPatch(types.MergePatchType, patch))).To(Succeed())

		sc := h.StartSidecar("replicas-" + ns)
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 2, Seed: 4})

		Eventually(func(g Gomega) {
			st := getGroup(ns, "gateways").Status
			g.Expect(st.ConnectedAgents).To(Equal(int32(2)))
			g.Expect(len(st.Replicas)).To(BeNumerically("<", 64))
		}, 30*time.Second).Should(Succeed())
	})
})
