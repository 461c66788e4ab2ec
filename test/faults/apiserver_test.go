package faults_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var _ = Describe("API server outage", func() {
	It("keeps the manager and the sidecar running through a 20 s kube-apiserver outage mid-batch, and completes with exact counts", func(ctx SpecContext) {
		bin, tokenFile := h.Operator()
		ports, err := testenv.FreePorts(5)
		Expect(err).NotTo(HaveOccurred())
		addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
		start := func(name string, args ...string) *gexec.Session { return h.Process(bin, name, args...) }

		sc := start("sidecar", "opamp", "--replica=outage-0", "--namespace="+harness.OperatorNamespace,
			"--listen="+addr(0), "--read-api-addr="+addr(1), "--probe-addr="+addr(2),
			"--lease-duration=5s", "--peer-token-file="+tokenFile, harness.AddressCheckFlag)
		Eventually(func() error {
			c, err := net.Dial("tcp", addr(0))
			if err == nil {
				c.Close()
			}
			return err
		}, 30*time.Second).Should(Succeed())
		// Short leader timings, so that the outage certainly outlasts the renew deadline: the
		// manager must step down and campaign again.
		mgr := start("manager", "manager", "--namespace="+harness.OperatorNamespace,
			"--leader-elect-lease-duration=8s", "--leader-elect-renew-deadline=6s", "--leader-elect-retry-period=1s",
			"--metrics-bind-address="+addr(3), "--health-probe-bind-address="+addr(4), "--sidecar-token-file="+tokenFile, "--webhook-port=0", harness.AddressCheckFlag)
		Eventually(mgr.Err, 30*time.Second).Should(gbytes.Say("(?i)successfully acquired lease"))

		ns, tok := h.Namespace("outage")
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{"ws://" + addr(0) + "/v1/opamp"}, Token: tok, Agents: 30, Seed: 33,
			Default: fleetsim.Profile{Behavior: fleetsim.Behavior{ApplyDelay: fleetsim.UniformDelay(500*time.Millisecond, 2*time.Second)}}})
		setupGroup(ns)
		setupRollout(ns, 10)

		// Mid-batch: batch 2 has started and is not finished.
		Eventually(func() bool {
			b := get(ns).Status.CurrentBatch
			return b != nil && b.Number == 2 && b.Phase == fleetv1alpha1.BatchPushing
		}, 60*time.Second, 100*time.Millisecond).Should(BeTrue())
		mgrPID, scPID := mgr.Command.Process.Pid, sc.Command.Process.Pid

		By("stopping kube-apiserver for 20 s, etcd left running")
		Expect(env.StopAPIServer()).To(Succeed())
		// The outage itself: both processes stay up, and the agents keep their sessions.
		Consistently(func(g Gomega) {
			g.Expect(mgr.ExitCode()).To(Equal(-1), "the manager exited")
			g.Expect(sc.ExitCode()).To(Equal(-1), "the sidecar exited")
			g.Expect(fleet.Connected()).To(Equal(30))
		}, 20*time.Second, 500*time.Millisecond).Should(Succeed())
		Expect(env.StartAPIServer()).To(Succeed())
		restarted := time.Now()

		By("the manager steps down and campaigns again in the same process")
		Eventually(mgr.Err, 30*time.Second).Should(gbytes.Say("stepped down, campaigning again"))
		Eventually(mgr.Err, 60*time.Second).Should(gbytes.Say("(?i)successfully acquired lease"))
		GinkgoWriter.Printf("leader again %.1fs after the API server came back\n", time.Since(restarted).Seconds())

		By("the sidecar renews its Lease again")
		Eventually(func() time.Time {
			var l coordinationv1.Lease
			if env.Client.Get(context.Background(), client.ObjectKey{Namespace: harness.OperatorNamespace, Name: readapi.LeaseName("outage-0")}, &l) != nil || l.Spec.RenewTime == nil {
				return time.Time{}
			}
			return l.Spec.RenewTime.Time
		}, 30*time.Second, 200*time.Millisecond).Should(BeTemporally(">", restarted))

		Eventually(func() fleetv1alpha1.RolloutPhase {
			var r fleetv1alpha1.Rollout
			if env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "r"}, &r) != nil {
				return ""
			}
			return r.Status.Phase
		}, 180*time.Second, 500*time.Millisecond).Should(Equal(fleetv1alpha1.RolloutCompleted))
		GinkgoWriter.Printf("completed %.1fs after the API server came back\n", time.Since(restarted).Seconds())
		ro := get(ns)
		Expect(ro.Status.Counts).To(Equal(fleetv1alpha1.AgentCounts{Targeted: 30, Applied: 30}))
		Expect(ro.Status.Plan).To(Equal([]int32{10, 10, 10}))
		var entry *fleetv1alpha1.ReplicaReport
		for i := range ro.Status.Replicas {
			if ro.Status.Replicas[i].Replica == "outage-0" {
				entry = &ro.Status.Replicas[i]
			}
		}
		Expect(entry).NotTo(BeNil())
		Expect(entry.Counts).To(Equal(fleetv1alpha1.AgentCounts{Targeted: 30, Applied: 30}))
		// One offer each, of this revision: nothing pushed twice or from another revision.
		hash := collectorconfig.Hash([]byte(body))
		for _, a := range fleet.Agents {
			Expect(a.Received()).To(ConsistOf(hash), fmt.Sprintf("agent %s got another revision's config", a.UID))
		}
		Expect(fleet.Connected()).To(Equal(30))

		By("both are still the processes started before the outage")
		Expect(mgr.ExitCode()).To(Equal(-1), "the manager exited")
		Expect(sc.ExitCode()).To(Equal(-1), "the sidecar exited")
		Expect(mgr.Command.Process.Pid).To(Equal(mgrPID))
		Expect(sc.Command.Process.Pid).To(Equal(scPID))
		// The new manager bound the probe and metrics addresses the first one held.
		Expect(httpGet("http://" + addr(4) + "/healthz")).To(Equal("ok"))
		Expect(httpGet("http://" + addr(3) + "/metrics")).To(ContainSubstring("ampora_"))
	})
})

// httpGet returns the body at url, which must answer 200.
func httpGet(url string) string {
	GinkgoHelper()
	resp, err := http.Get(url)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK), strings.TrimSpace(string(b)))
	return string(b)
}
