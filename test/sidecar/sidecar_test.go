package sidecar_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"github.com/prometheus/client_golang/prometheus"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/fleetsim"
)

var _ = Describe("OpAMP sidecar", func() {
	BeforeEach(ensureOperatorNamespace)

	It("refuses agents without a valid token, and binds each agent to its token's namespace", func(ctx SpecContext) {
		nsA, tokenA := namespace("tenant-a")
		nsB, tokenB := namespace("tenant-b")
		reg := prometheus.NewRegistry()
		sc := startSidecar("auth-0", func(o *opampserver.Options) { o.Registry = reg })

		for _, tok := range []string{"", "not-a-token"} {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, sc.HTTPURL(), strings.NewReader(""))
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Content-Type", "application/x-protobuf")
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
		}
		Expect(metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "unauthenticated")).To(Equal(1.0))
		Expect(metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "invalid_token")).To(Equal(1.0))

		// Both tenants have a group that would match the other's agents, and a rollout.
		engA := newEngine(nsA, collectorConfig, nil)
		engB := newEngine(nsB, collectorConfig+"# b\n", nil)
		fleetA := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: tokenA, Agents: 6, UIDPrefix: "a"})
		fleetB := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: tokenB, Agents: 4, UIDPrefix: "b"})

		// B's rollout admits every agent B could possibly see (the cutoff covers A's ranks too).
		all := append(uidsOf(fleetA), uidsOf(fleetB)...)
		engB.startBatch(1, all, 0, len(all))
		Eventually(func() int32 { return engB.report("auth-0").Counts.Targeted }, 10*time.Second).Should(Equal(int32(4)))
		Eventually(func() int32 { return engB.report("auth-0").Counts.Applied }, 10*time.Second).Should(Equal(int32(4)))
		for _, a := range fleetA.Agents {
			Expect(received(a, engB.hash)).To(BeFalse(), "agent of namespace A got namespace B's config")
		}
		Expect(fleetB.Count(func(a *fleetsim.Agent) bool { return received(a, engB.hash) })).To(Equal(4))
		Expect(engA.report("auth-0").Counts.Targeted).To(BeZero())
	})

	It("pushes to the agents of a started batch and to no other", func(ctx SpecContext) {
		ns, token := namespace("batch")
		sc := startSidecar("batch-0")
		eng := newEngine(ns, collectorConfig, nil)
		fleet := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20})

		first := eng.startBatch(1, uidsOf(fleet), 0, 8)
		Eventually(func() int32 { return eng.report("batch-0").Counts.Applied }, 10*time.Second).Should(Equal(int32(8)))
		got := fleet.Count(func(a *fleetsim.Agent) bool { return received(a, eng.hash) })
		Expect(got).To(Equal(8))
		for _, uid := range first {
			Expect(agentByUID(fleet, uid).EffectiveHash()).To(Equal(eng.hash))
		}
		rep := eng.report("batch-0")
		Expect(rep.BatchCounts.Applied).To(Equal(int32(8)))
		Expect(rep.Connected).To(Equal(int32(20)))

		second := eng.startBatch(2, uidsOf(fleet), 8, 15)
		Expect(second).To(HaveLen(7))
		Eventually(func() int32 { return eng.report("batch-0").Counts.Applied }, 10*time.Second).Should(Equal(int32(15)))
		Eventually(func() int32 { return eng.report("batch-0").BatchCounts.Applied }, 10*time.Second).Should(Equal(int32(7)))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return received(a, eng.hash) })).To(Equal(15))
		// Nobody was offered the config twice on a steady session.
		for _, a := range fleet.Agents {
			Expect(len(a.Received())).To(BeNumerically("<=", 1))
		}
	})

	It("gives a session lost after the push its disconnect grace: a collector back with APPLIED within it counts as applied", func(ctx SpecContext) {
		ns, token := namespace("grace")
		sc := startSidecar("grace-0")
		eng := newEngine(ns, collectorConfig, nil)
		const grace = 4 * time.Second
		eng.setStatus(func(st *fleetv1alpha1.RolloutStatus) {
			st.EffectiveGates = &fleetv1alpha1.EffectiveGates{GateThresholds: fleetv1alpha1.GateThresholds{DisconnectGrace: &metav1.Duration{Duration: grace}}}
		})
		fleet := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 4,
			Profiles: []fleetsim.Profile{
				{Name: "restarter", Fraction: 0.5, Behavior: fleetsim.Behavior{RestartOnApply: time.Second}},
				{Name: "dropper", Fraction: 0.5, Behavior: fleetsim.Behavior{DisconnectAfterPush: true}},
			}})
		eng.startBatch(1, uidsOf(fleet), 0, 4)
		pushed := time.Now()

		By("the restarters apply, the droppers stay applying within the grace")
		Eventually(func() string { return describeCounts(eng.report("grace-0").Counts) }, 15*time.Second).
			Should(Equal(describeCounts(fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 2, Applying: 2})))
		Expect(time.Since(pushed)).To(BeNumerically("<", grace), "the restarters took longer than the grace to come back: nothing was shown")
		By("past the grace the droppers count as disconnected; the restarters never did")
		Eventually(func() string { return describeCounts(eng.report("grace-0").Counts) }, 15*time.Second).
			Should(Equal(describeCounts(fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 2, Disconnected: 2})))
		Expect(time.Since(pushed)).To(BeNumerically(">=", grace))
		for _, a := range fleet.Agents {
			if a.Profile == "restarter" {
				Expect(a.IsConnected()).To(BeTrue())
			}
		}
	})

	It("counts every verified state right", func(ctx SpecContext) {
		ns, token := namespace("states")
		sc := startSidecar("states-0")
		eng := newEngine(ns, collectorConfig, nil)
		// A push policy that denies the "frozen" agents.
		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{
			ObjectMeta: objMeta(ns, fleetv1alpha1.DefaultGatePolicyName),
			Spec: fleetv1alpha1.GatePolicySpec{PushPolicies: []fleetv1alpha1.PushPolicy{{
				Name:     "frozen",
				Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"frozen": "true"}},
				Deny:     fleetv1alpha1.DenyAlways,
			}}},
		})).To(Succeed())

		fleet := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 16,
			Profiles: []fleetsim.Profile{
				{Name: "failing", Fraction: 2.0 / 16, Behavior: fleetsim.Behavior{FailWith: `unknown exporter "otlp"`}},
				{Name: "no-rcs", Fraction: 2.0 / 16, Behavior: fleetsim.Behavior{NoRemoteConfigStatus: true}},
				{Name: "unhealthy", Fraction: 2.0 / 16, Behavior: fleetsim.Behavior{UnhealthyAfterApply: "exporter otlp: connection refused"}},
				{Name: "dropper", Fraction: 2.0 / 16, Behavior: fleetsim.Behavior{DisconnectAfterPush: true}},
				{Name: "lacking", Fraction: 2.0 / 16, Behavior: fleetsim.Behavior{MissingComponents: []string{"exporters/otlp"}}},
				{Name: "frozen", Fraction: 2.0 / 16, Attributes: map[string]string{"frozen": "true"}},
				{Name: "slow", Fraction: 1.0 / 16, Behavior: fleetsim.Behavior{ApplyDelay: func(*rand.Rand) time.Duration { return time.Hour }}},
			},
			Default: fleetsim.Profile{Name: "ok"},
		})
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.Profile == "ok" })).To(Equal(3))

		// No disconnect grace: a dropped session counts at once.
		eng.setStatus(func(st *fleetv1alpha1.RolloutStatus) {
			st.EffectiveGates = &fleetv1alpha1.EffectiveGates{GateThresholds: fleetv1alpha1.GateThresholds{DisconnectGrace: &metav1.Duration{}}}
		})
		eng.startBatch(1, uidsOf(fleet), 0, 16)
		want := fleetv1alpha1.AgentCounts{Targeted: 16, Applied: 3 + 2, Failed: 2, Unhealthy: 2,
			Disconnected: 2, Incompatible: 2, Denied: 2, Applying: 1}
		Eventually(func() string { return describeCounts(eng.report("states-0").Counts) }, 15*time.Second).
			Should(Equal(describeCounts(want)))

		rep := eng.report("states-0")
		Expect(rep.FailedAgents).NotTo(BeEmpty())
		Expect(rep.FailedAgents[0].State).To(Equal(fleetv1alpha1.AgentFailed))
		Expect(rep.FailedAgents[0].Message).To(Equal(`unknown exporter "otlp"`))
		// Neither the denied nor the incompatible agents were offered anything.
		for _, a := range fleet.Agents {
			if a.Profile == "frozen" || a.Profile == "lacking" {
				Expect(a.Received()).To(BeEmpty(), a.Profile)
			}
		}
	})

	It("counts an agent that reports APPLIED for its old hash after FAILED for the new one as failed, and never re-offers it", func(ctx SpecContext) {
		ns, token := namespace("stale")
		sc := startSidecar("stale-0")
		eng := newEngine(ns, collectorConfig, nil)
		fleet := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 2,
			Default: fleetsim.Profile{Name: "failing", Behavior: fleetsim.Behavior{FailWith: "bad pipeline"}}})

		eng.startBatch(1, uidsOf(fleet), 0, 2)
		Eventually(func() int32 { return eng.report("stale-0").Counts.Failed }, 10*time.Second).Should(Equal(int32(2)))

		// The agents fall back to their old config and report it APPLIED; a reconnect makes
		// them send their full state again.
		for _, a := range fleet.Agents {
			a.RevertToPrevious()
			Expect(a.Reconnect(ctx, "")).To(Succeed())
		}
		Eventually(fleet.Connected, 10*time.Second).Should(Equal(2))
		Consistently(func() int32 { return eng.report("stale-0").Counts.Failed }, 3*time.Second).Should(Equal(int32(2)))
		for _, a := range fleet.Agents {
			Expect(a.Received()).To(HaveLen(1), "a FAILED hash was offered again")
		}

		// A retry offers it once more.
		eng.setStatus(func(st *fleetv1alpha1.RolloutStatus) {
			st.LastAction = &fleetv1alpha1.ActionRecord{Action: fleetv1alpha1.ActionRetry, HandledAt: *ptrTime(time.Now())}
		})
		offers := func() []int { return []int{len(fleet.Agents[0].Received()), len(fleet.Agents[1].Received())} }
		Eventually(offers, 10*time.Second).Should(Equal([]int{2, 2}))
		Consistently(offers, 3*time.Second).Should(Equal([]int{2, 2}))
		Eventually(func() int32 { return eng.report("stale-0").Counts.Failed }, 10*time.Second).Should(Equal(int32(2)))
	})

	It("loses no count when the sidecar restarts: agents re-report", func(ctx SpecContext) {
		ns, token := namespace("restart")
		sc := startSidecar("restart-0")
		addr := sc.srv.Addr().String()
		eng := newEngine(ns, collectorConfig, nil)
		fleet := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 10,
			Profiles: []fleetsim.Profile{{Name: "failing", Fraction: 0.3, Behavior: fleetsim.Behavior{FailWith: "boom"}}}})
		eng.startBatch(1, uidsOf(fleet), 0, 10)
		want := fleetv1alpha1.AgentCounts{Targeted: 10, Applied: 7, Failed: 3}
		Eventually(func() string { return describeCounts(eng.report("restart-0").Counts) }, 10*time.Second).Should(Equal(describeCounts(want)))

		sc.Stop()
		Eventually(fleet.Connected, 10*time.Second).Should(BeZero(), "agents still hold a session on the stopped replica")
		startSidecar("restart-0", func(o *opampserver.Options) { o.ListenAddr = addr })
		Eventually(fleet.Connected, 60*time.Second).Should(Equal(10))
		Eventually(func() string { return describeCounts(eng.report("restart-0").Counts) }, 20*time.Second).Should(Equal(describeCounts(want)))
	})

	It("lets an agent that reconnects to a second replica carry on", func(ctx SpecContext) {
		ns, token := namespace("handover")
		first := startSidecar("handover-0")
		second := startSidecar("handover-1")
		eng := newEngine(ns, collectorConfig, nil)
		fleet := startFleet(fleetsim.Options{URLs: []string{first.URL()}, Token: token, Agents: 6,
			Default: fleetsim.Profile{Behavior: fleetsim.Behavior{ApplyDelay: func(*rand.Rand) time.Duration { return 2 * time.Second }}}})
		eng.startBatch(1, uidsOf(fleet), 0, 6)
		Eventually(func() int32 { return eng.report("handover-0").Counts.Applying }, 10*time.Second).Should(Equal(int32(6)))

		// Half the agents move to the second replica while applying.
		for _, a := range fleet.Agents[:3] {
			Expect(a.Reconnect(ctx, second.URL())).To(Succeed())
		}
		Eventually(func() int32 { return eng.report("handover-1").Counts.Applied }, 15*time.Second).Should(Equal(int32(3)))
		// Every agent counts once: the first replica forgot the three it handed over.
		want := fleetv1alpha1.AgentCounts{Targeted: 6, Applied: 6}
		Eventually(func() string { return describeCounts(eng.counts("handover-0", "handover-1")) }, 15*time.Second).
			Should(Equal(describeCounts(want)))
		Expect(eng.report("handover-0").Counts.Targeted).To(Equal(int32(3)))
		for _, a := range fleet.Agents {
			Expect(a.EffectiveHash()).To(Equal(eng.hash))
		}
	})

	It("writes its entry at most once per second per rollout, with 500 agents changing state", func(ctx SpecContext) {
		ns, token := namespace("coalesce")
		sc := startSidecar("coalesce-0")
		eng := newEngine(ns, collectorConfig, nil)
		fleet := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 500,
			Default: fleetsim.Profile{Behavior: fleetsim.Behavior{ApplyDelay: func(r *rand.Rand) time.Duration {
				return time.Duration(r.IntN(6000)) * time.Millisecond
			}}}})

		w := watchRollout(ctx, ns, eng.rollout, "coalesce-0")
		start := time.Now()
		eng.startBatch(1, uidsOf(fleet), 0, 500)
		Eventually(func() int32 { return eng.report("coalesce-0").Counts.Applied }, 30*time.Second).Should(Equal(int32(500)))
		elapsed := time.Since(start)
		writes := w.stop()
		GinkgoWriter.Printf("%d status writes by the replica in %.1fs\n", writes, elapsed.Seconds())
		Expect(writes).To(BeNumerically(">=", 3), "the counts should have moved in several steps")
		Expect(float64(writes)).To(BeNumerically("<=", elapsed.Seconds()+1))
	})

	It("holds no more WebSocket sessions than MaxConnections, and counts the refused ones", func(ctx SpecContext) {
		_, token := namespace("overload")
		reg := prometheus.NewRegistry()
		sc := startSidecar("overload-0", func(o *opampserver.Options) {
			o.MaxConnections = 3
			o.Registry = reg
		})
		fleet, err := fleetsim.Start(ctx, fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 5,
			Seed: uint64(GinkgoRandomSeed()), UIDPrefix: "overload"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(fleet.Stop)

		// The two refused agents were told to come back in 30 s: no more than 3 get in meanwhile.
		refused := func() int {
			return fleet.Count(func(a *fleetsim.Agent) bool { return !a.IsConnected() && a.LastConnectError() != nil })
		}
		Eventually(fleet.Connected, 10*time.Second).Should(Equal(3))
		Eventually(refused, 10*time.Second).Should(Equal(2))
		Consistently(fleet.Connected, 2*time.Second).Should(Equal(3))
		Expect(metricValue(reg, "ampora_opamp_connected_agents")).To(Equal(3.0))
		Expect(metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "overloaded")).To(BeNumerically(">=", 2))
	})

	It("counts a plain-HTTP agent once when its polls move to another replica, and back", func(ctx SpecContext) {
		ns, token := namespace("http-move")
		first := startSidecar("http-move-0")
		second := startSidecar("http-move-1")
		eng := newEngine(ns, collectorConfig, nil)
		fleet := startFleet(fleetsim.Options{URLs: []string{first.HTTPURL()}, Token: token, Agents: 6,
			HTTP: true, PollInterval: 200 * time.Millisecond})
		eng.startBatch(1, uidsOf(fleet), 0, 6)
		Eventually(func() int32 { return eng.report("http-move-0").Counts.Applied }, 10*time.Second).Should(Equal(int32(6)))

		counted := func(replica string) int32 { return eng.report(replica).Counts.Targeted }
		all := describeCounts(fleetv1alpha1.AgentCounts{Targeted: 6, Applied: 6})
		By("three agents poll the second replica: the first stops counting them at once, not after its HTTP timeout")
		for _, a := range fleet.Agents[:3] {
			Expect(a.Reconnect(ctx, second.HTTPURL())).To(Succeed())
		}
		Eventually(func() []int32 { return []int32{counted("http-move-0"), counted("http-move-1")} }, 15*time.Second).
			Should(Equal([]int32{3, 3}))
		Expect(describeCounts(eng.counts("http-move-0", "http-move-1"))).To(Equal(all))

		By("they poll the first again: the second keeps no record of them")
		for _, a := range fleet.Agents[:3] {
			Expect(a.Reconnect(ctx, first.HTTPURL())).To(Succeed())
		}
		Eventually(func() []int32 { return []int32{counted("http-move-0"), counted("http-move-1")} }, 15*time.Second).
			Should(Equal([]int32{6, 0}))
		Consistently(func() string { return describeCounts(eng.counts("http-move-0", "http-move-1")) }, 3*time.Second).Should(Equal(all))
	})

	It("gives plain-HTTP agents the config of a started batch in the reply to their next poll", func(ctx SpecContext) {
		ns, token := namespace("http")
		sc := startSidecar("http-0")
		eng := newEngine(ns, collectorConfig, nil)
		fleet := startFleet(fleetsim.Options{URLs: []string{sc.HTTPURL()}, Token: token, Agents: 6,
			HTTP: true, PollInterval: 200 * time.Millisecond})

		admitted := eng.startBatch(1, uidsOf(fleet), 0, 4)
		Eventually(func() int32 { return eng.report("http-0").Counts.Applied }, 10*time.Second).Should(Equal(int32(4)))
		for _, uid := range admitted {
			a := agentByUID(fleet, uid)
			Expect(a.Received()).To(Equal([]string{eng.hash}))
			Expect(a.EffectiveHash()).To(Equal(eng.hash))
		}
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return received(a, eng.hash) })).To(Equal(4))
		rep := eng.report("http-0")
		Expect(rep.Counts).To(Equal(fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 4}))
		Expect(rep.Connected).To(Equal(int32(6)))
	})
})

var _ = Describe("ampora opamp, as a process", Ordered, func() {
	var bin string
	BeforeAll(func() {
		var err error
		bin, err = gexec.Build("github.com/ampora-io/ampora/cmd/ampora")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(gexec.CleanupBuildArtifacts)
	})
	BeforeEach(ensureOperatorNamespace)

	// start runs "ampora opamp" with the given flags until the spec ends.
	start := func(args ...string) *gexec.Session {
		GinkgoHelper()
		cmd := exec.Command(bin, append([]string{"opamp", "--namespace=" + operatorNamespace}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { session.Kill().Wait(10 * time.Second) })
		return session
	}

	It("serves agents, reports, and stops cleanly on SIGTERM", func(ctx SpecContext) {
		ns, token := namespace("process")
		eng := newEngine(ns, collectorConfig, nil)
		port := freePort()
		session := start("--replica=proc-0", fmt.Sprintf("--listen=127.0.0.1:%d", port),
			"--probe-addr=127.0.0.1:0", "--read-api-addr=127.0.0.1:0")

		url := fmt.Sprintf("ws://127.0.0.1:%d/v1/opamp", port)
		Eventually(func() error { _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); return err }, 20*time.Second).Should(Succeed())
		fleet := startFleet(fleetsim.Options{URLs: []string{url}, Token: token, Agents: 5})
		eng.startBatch(1, uidsOf(fleet), 0, 5)
		Eventually(func() int32 { return eng.report("proc-0").Counts.Applied }, 15*time.Second).Should(Equal(int32(5)))

		session.Terminate()
		Eventually(session, 15*time.Second).Should(gexec.Exit(0))
		Eventually(fleet.Connected, 10*time.Second).Should(BeZero())
	})

	It("answers /healthz and /readyz on its probe address while it runs", func(ctx SpecContext) {
		probes := fmt.Sprintf("http://127.0.0.1:%d", freePort())
		session := start("--replica=probes-0", "--listen=127.0.0.1:0", "--read-api-addr=127.0.0.1:0",
			"--probe-addr="+strings.TrimPrefix(probes, "http://"))

		status := func(path string) func() (int, error) {
			return func() (int, error) {
				code, _, err := httpGet(ctx, probes+path)
				return code, err
			}
		}
		// Ready once its caches synced; alive from the start.
		Eventually(status("/readyz"), 20*time.Second, 100*time.Millisecond).Should(Equal(http.StatusOK))
		Expect(status("/healthz")()).To(Equal(http.StatusOK))
		Consistently(func(g Gomega) {
			for _, path := range []string{"/healthz", "/readyz"} {
				code, err := status(path)()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(code).To(Equal(http.StatusOK), path)
			}
		}, time.Second, 200*time.Millisecond).Should(Succeed())
		code, body, err := httpGet(ctx, probes+"/metrics")
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK))
		Expect(string(body)).To(ContainSubstring("ampora_opamp_connected_agents 0"))
		Expect(session).NotTo(gexec.Exit())

		session.Terminate()
		Eventually(session, 15*time.Second).Should(gexec.Exit(0))
	})
})

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
