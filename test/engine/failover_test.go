package engine_test

import (
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("Leader failover", func() {
	It("lets the other replica take the Lease when the leader's manager is killed mid-batch, and completes with exact counts", func(ctx SpecContext) {
		bin, tokenFile := h.Operator()

		sc := h.StartSidecar("failover-0")
		start := func(name string) *gexec.Session {
			return h.Process(bin, name, "manager", "--namespace="+harness.OperatorNamespace,
				"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s",
				"--metrics-bind-address=0", "--health-probe-bind-address=0", "--sidecar-token-file="+tokenFile,
				"--webhook-port=0", harness.AddressCheckFlag) // no webhook configuration here; two managers would also share a port
		}
		managers := []*gexec.Session{start("a"), start("b")}
		var leader, other *gexec.Session
		Eventually(func() bool {
			for i, m := range managers {
				if strings.Contains(strings.ToLower(string(m.Err.Contents())), "successfully acquired lease") {
					leader, other = m, managers[1-i]
					return true
				}
			}
			return false
		}, 30*time.Second, 200*time.Millisecond).Should(BeTrue())

		ns, tok := h.Namespace("failover")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: tok, Agents: 30, Seed: 11,
			Default: fleetsim.Profile{Behavior: fleetsim.Behavior{ApplyDelay: fleetsim.UniformDelay(500*time.Millisecond, 1500*time.Millisecond)}}})
		body := config("failover")
		rollout(ns, "r", "gateways", body)

		// Mid-batch: batch 2 has started and is not finished.
		Eventually(func() bool {
			b := get(ns, "r").Status.CurrentBatch
			return b != nil && b.Number == 2 && b.Phase == fleetv1alpha1.BatchPushing
		}, 60*time.Second, 100*time.Millisecond).Should(BeTrue())
		killed := time.Now()
		leader.Signal(os.Kill)
		Eventually(leader, 10*time.Second).Should(gexec.Exit())

		Eventually(other.Err, 20*time.Second).Should(gbytes.Say("(?i)successfully acquired lease"))
		GinkgoWriter.Printf("takeover after %.1fs\n", time.Since(killed).Seconds())
		Eventually(phase(ns, "r"), 90*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro := get(ns, "r")
		Expect(ro.Status.Counts).To(Equal(fleetv1alpha1.AgentCounts{Targeted: 30, Applied: 30}))
		Expect(ro.Status.Plan).To(Equal([]int32{10, 10, 10}))
		for _, a := range fleet.Agents {
			Expect(a.Received()).To(ConsistOf(hashOf(body)), fmt.Sprintf("agent %s got another revision's config", a.UID))
		}
	})
})
