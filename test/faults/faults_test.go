// Package faults_test breaks things while rollouts run, against a real kube-apiserver: a
// sidecar killed mid-batch, agents that flap.
package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
)

func TestFaults(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fault suite")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	h = &harness.H{Env: env}
	h.Setup()
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

const body = "receivers:\n  otlp:\n    protocols:\n      grpc: {}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"

func setupGroup(ns string) {
	GinkgoHelper()
	Expect(env.Client.Create(context.Background(), &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gateways"},
		Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}}})).To(Succeed())
}

func setupRollout(ns string, batch int) {
	GinkgoHelper()
	ctx := context.Background()
	b := body
	bs := fleetv1alpha1.FromInt(batch)
	Expect(env.Client.Create(ctx, &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r"},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "gateways", Config: fleetv1alpha1.RolloutConfig{Inline: &b},
			Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs}}})).To(Succeed())
}

func get(ns string) *fleetv1alpha1.Rollout {
	GinkgoHelper()
	r := &fleetv1alpha1.Rollout{}
	Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "r"}, r)).To(Succeed())
	return r
}

// proxy stands in for the operator's Service: it forwards each connection to a backend that
// accepts it, so that agents of a dead replica reconnect to a live one.
type proxy struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []string
	next     int
}

func newProxy(backends ...string) *proxy {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	p := &proxy{ln: ln, backends: backends}
	go p.serve()
	DeferCleanup(ln.Close)
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	defer c.Close()
	p.mu.Lock()
	start := p.next
	p.next++
	p.mu.Unlock()
	for i := range p.backends {
		b, err := net.DialTimeout("tcp", p.backends[(start+i)%len(p.backends)], time.Second)
		if err != nil {
			continue
		}
		defer b.Close()
		go func() { _, _ = io.Copy(b, c); _ = b.Close() }()
		_, _ = io.Copy(c, b)
		return
	}
}

var _ = Describe("Faults", func() {
	It("completes a rollout with exact counts when a sidecar is SIGKILLed mid-batch: its agents move, its entry stops counting", func(ctx SpecContext) {
		bin, tokenFile := h.Operator()

		var sidecars []*gexec.Session
		var addrs []string
		for i := range 2 {
			ports, err := testenv.FreePorts(2)
			Expect(err).NotTo(HaveOccurred())
			s := h.Process(bin, fmt.Sprintf("kill-%d", i), "opamp", fmt.Sprintf("--replica=kill-%d", i), "--namespace="+harness.OperatorNamespace,
				fmt.Sprintf("--listen=127.0.0.1:%d", ports[0]), "--probe-addr=127.0.0.1:0",
				fmt.Sprintf("--read-api-addr=127.0.0.1:%d", ports[1]), "--lease-duration=5s", "--peer-token-file="+tokenFile, harness.AddressCheckFlag)
			sidecars = append(sidecars, s)
			addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
			Eventually(func() error {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
				}
				return err
			}, 20*time.Second).Should(Succeed())
			addrs = append(addrs, addr)
		}
		h.StartManager()
		px := newProxy(addrs...)

		ns, tok := h.Namespace("kill")
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{"ws://" + px.ln.Addr().String() + "/v1/opamp"}, Token: tok, Agents: 30, Seed: 31,
			Default: fleetsim.Profile{Behavior: fleetsim.Behavior{ApplyDelay: fleetsim.UniformDelay(500*time.Millisecond, 2*time.Second)}}})
		setupGroup(ns)
		setupRollout(ns, 10)

		Eventually(func() bool {
			b := get(ns).Status.CurrentBatch
			return b != nil && b.Number == 2 && b.Phase == fleetv1alpha1.BatchPushing
		}, 60*time.Second, 100*time.Millisecond).Should(BeTrue())
		sidecars[0].Kill()
		Eventually(sidecars[0], 10*time.Second).Should(gexec.Exit())

		Eventually(func() fleetv1alpha1.RolloutPhase { return get(ns).Status.Phase }, 120*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro := get(ns)
		Expect(ro.Status.Counts).To(Equal(fleetv1alpha1.AgentCounts{Targeted: 30, Applied: 30}))
		hash := collectorconfig.Hash([]byte(body))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hash })).To(Equal(30))
		// The dead replica's last entry is still there, but no longer counts.
		var dead *fleetv1alpha1.ReplicaReport
		for i := range ro.Status.Replicas {
			if ro.Status.Replicas[i].Replica == "kill-0" {
				dead = &ro.Status.Replicas[i]
			}
		}
		Expect(dead).NotTo(BeNil())
		Expect(dead.Counts.Targeted).To(BeNumerically(">", 0))
	})

	It("keeps counts exact with 20 % of the agents flapping, reports them as flapping, and trips no gate", func(ctx SpecContext) {
		sc := h.StartSidecar("flap-0")
		h.StartManager()
		ns, tok := h.Namespace("flap")
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: tok, Agents: 30, Seed: 32,
			Profiles: []fleetsim.Profile{{Name: "flapping", Fraction: 0.2, Behavior: fleetsim.Behavior{FlapEvery: 1500 * time.Millisecond}}},
			Default:  fleetsim.Profile{Behavior: fleetsim.Behavior{ApplyDelay: fleetsim.UniformDelay(200*time.Millisecond, time.Second)}}})
		setupGroup(ns)
		// Let the flapping agents flap a few times before the rollout starts.
		Eventually(func() int { return flapping(sc, tok, ns) }, 30*time.Second).Should(Equal(6))
		setupRollout(ns, 10)

		Eventually(func() fleetv1alpha1.RolloutPhase { return get(ns).Status.Phase }, 120*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro := get(ns)
		Expect(ro.Status.Counts).To(Equal(fleetv1alpha1.AgentCounts{Targeted: 30, Applied: 30}))
		Expect(ro.Status.Pause).To(BeNil())
		hash := collectorconfig.Hash([]byte(body))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hash })).To(Equal(30))
	})
})

// flapping counts the agents of ns the sidecar's read API reports as flapping.
func flapping(sc *harness.Sidecar, _ string, ns string) int {
	GinkgoHelper()
	token, err := h.Token()
	Expect(err).NotTo(HaveOccurred())
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v1/namespaces/%s/agentgroups/gateways/agents", sc.Srv.ReadAPIAddr(), ns), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var list readapi.AgentList
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return -1
	}
	n := 0
	for _, a := range list.Items {
		if a.Flapping {
			n++
		}
	}
	return n
}
