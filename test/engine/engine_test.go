package engine_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/revision"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("Rollout engine", func() {
	var sc *harness.Sidecar

	BeforeEach(func() {
		sc = h.StartSidecar("engine-0")
		h.StartManager()
	})

	It("completes a 3-batch rollout with exact batch sizes", func(ctx SpecContext) {
		ns, token := h.Namespace("three")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 30, Seed: 1})
		body := config("three")
		rollout(ns, "r", "gateways", body)

		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro := get(ns, "r")
		Expect(ro.Status.Plan).To(Equal([]int32{10, 10, 10}))
		Expect(ro.Status.Counts.Applied).To(Equal(int32(30)))
		Expect(ro.Status.Counts.Targeted).To(Equal(int32(30)))
		Expect(ro.Status.BatchProgress).To(Equal("3/3"))
		Expect(meta.IsStatusConditionTrue(ro.Status.Conditions, fleetv1alpha1.ConditionReady)).To(BeTrue())
		Expect(meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionReconciling)).To(BeNil())
		Expect(ro.Status.ObservedGeneration).To(Equal(ro.Generation))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hashOf(body) })).To(Equal(30))

		Eventually(func() []string { return events(ns, "r") }, 10*time.Second).Should(ContainElements(
			"BatchStarted: batch 1 of 3 started: 10 agents",
			"BatchStarted: batch 2 of 3 started: 10 agents",
			"BatchStarted: batch 3 of 3 started: 10 agents",
			fmt.Sprintf("Completed: revision %s rolled out in 3 batches: 30 applied, 0 failed, 0 timed out", revision.Short(hashOf(body))),
		))
		var g fleetv1alpha1.AgentGroup
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)).To(Succeed())
		Expect(g.Status.CurrentRevision).To(Equal(revision.Short(hashOf(body))))
		// The group was released before the status said Completed, and no pass from a stale
		// copy of the rollout claims it again or repeats a step.
		Expect(g.Status.ActiveRollout).To(BeEmpty())
		Consistently(func() string {
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)
			return g.Status.ActiveRollout
		}, 3*time.Second, 200*time.Millisecond).Should(BeEmpty())
		var list eventsv1.EventList
		Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, e := range list.Items {
			Expect(e.Series).To(BeNil(), "Event %s %q was recorded more than once", e.Reason, e.Note)
		}
		Eventually(func() int32 {
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)
			return g.Status.ConnectedAgents
		}, 15*time.Second).Should(Equal(int32(30)))
	})

	It("pauses a failing batch with the exact gate message, and completes on resume after the threshold is edited", func(ctx SpecContext) {
		ns, token := h.Namespace("gate")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20, Seed: 7,
			Profiles: []fleetsim.Profile{{Name: "failing", Fraction: 0.5, Behavior: fleetsim.Behavior{FailWith: `exporter "otlp": connection refused`}}}})
		body := config("gate")
		failing := 0
		for _, a := range firstByRank(fleet, hashOf(body), 10) {
			if a.Profile == "failing" {
				failing++
			}
		}
		Expect(failing).To(BeNumerically(">=", 2), "the seed must put failing agents in batch 1")
		rollout(ns, "r", "gateways", body, func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(10))}
		})

		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		ro := get(ns, "r")
		want := fmt.Sprintf("failure-ratio: %d %% > 10 %%", failing*10)
		Expect(ro.Status.Pause.Message).To(Equal(want))
		Expect(ro.Status.Pause.Gate).To(Equal(fleetv1alpha1.GateFailureRatio))
		Expect(ro.Status.Pause.Batch).To(Equal(int32(1)))
		stalled := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionStalled)
		Expect(stalled).NotTo(BeNil())
		Expect(stalled.Reason).To(Equal(fleetv1alpha1.ReasonGateBreach))
		Expect(stalled.Message).To(HavePrefix(want))
		Expect(meta.IsStatusConditionTrue(ro.Status.Conditions, fleetv1alpha1.ConditionPaused)).To(BeTrue())
		Expect(ro.Status.FailedAgents).NotTo(BeEmpty())
		Expect(ro.Status.FailedAgents[0].Message).To(Equal(`exporter "otlp": connection refused`))
		// Paused: batch 2 does not start.
		Consistently(func() int32 { return get(ns, "r").Status.CurrentBatch.Number }, 3*time.Second).Should(Equal(int32(1)))

		// The user raises the threshold (a spec edit, not a new revision) and resumes.
		patched := get(ns, "r")
		orig := patched.DeepCopy()
		patched.Spec.Gates.MaxFailurePercent = new(int32(100))
		Expect(env.Client.Patch(ctx, patched, client.MergeFrom(orig))).To(Succeed())
		annotate(ns, "r", fleetv1alpha1.ActionResume)

		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro = get(ns, "r")
		Expect(ro.Status.Counts.Failed).To(Equal(int32(10)))
		Expect(ro.Status.Counts.Applied).To(Equal(int32(10)))
		Expect(ro.Status.LastAction.Action).To(Equal(fleetv1alpha1.ActionResume))
		Expect(ro.Status.LastAction.RequestedBy).To(Equal("alice"))
		Expect(ro.Annotations).NotTo(HaveKey(fleetv1alpha1.AnnotationAction))
		Expect(events(ns, "r")).To(ContainElements("Paused: batch 1: "+want, "Resumed: resume requested by alice"))
	})

	It("stops pushing on abort", func(ctx SpecContext) {
		ns, token := h.Namespace("abort")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20, Seed: 3})
		body := config("abort")
		rollout(ns, "r", "gateways", body, func(r *fleetv1alpha1.Rollout) {
			bs := fleetv1alpha1.FromInt(5)
			r.Spec.Strategy.BatchSize = &bs
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{BakeTime: durationPtr(time.Hour)}
		})
		Eventually(func() int32 { return get(ns, "r").Status.Counts.Applied }, 30*time.Second).Should(Equal(int32(5)))
		annotate(ns, "r", fleetv1alpha1.ActionAbort)
		Eventually(phase(ns, "r"), 15*time.Second).Should(Equal(fleetv1alpha1.RolloutAborted))
		Consistently(func() int {
			return fleet.Count(func(a *fleetsim.Agent) bool { return receivedHash(a, hashOf(body)) })
		}, 4*time.Second).Should(Equal(5))
		ro := get(ns, "r")
		Expect(meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionStalled).Reason).To(Equal(fleetv1alpha1.ReasonAborted))
		Expect(events(ns, "r")).To(ContainElement("Aborted: abort requested by alice"))
		var g fleetv1alpha1.AgentGroup
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)).To(Succeed())
		// The group was released before the status said Completed, and no pass from a stale
		// copy of the rollout claims it again or repeats a step.
		Expect(g.Status.ActiveRollout).To(BeEmpty())
		Consistently(func() string {
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)
			return g.Status.ActiveRollout
		}, 3*time.Second, 200*time.Millisecond).Should(BeEmpty())
		var list eventsv1.EventList
		Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, e := range list.Items {
			Expect(e.Series).To(BeNil(), "Event %s %q was recorded more than once", e.Reason, e.Note)
		}
	})

	It("starts a new revision from batch 1 when the config is edited", func(ctx SpecContext) {
		ns, token := h.Namespace("edit")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20, Seed: 4})
		first, second := config("first"), config("second")
		rollout(ns, "r", "gateways", first, func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{BakeTime: durationPtr(time.Hour)}
		})
		Eventually(func() int32 { return get(ns, "r").Status.Counts.Applied }, 30*time.Second).Should(Equal(int32(10)))

		ro := get(ns, "r")
		orig := ro.DeepCopy()
		ro.Spec.Config.Inline = &second
		ro.Spec.Gates = nil
		Expect(env.Client.Patch(ctx, ro, client.MergeFrom(orig))).To(Succeed())

		Eventually(phase(ns, "r"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro = get(ns, "r")
		Expect(ro.Status.Revision).To(Equal(revision.Short(hashOf(second))))
		Expect(ro.Status.Counts.Applied).To(Equal(int32(20)))
		// The group had no revision yet: the diff is against nothing.
		Expect(ro.Status.Diff.FromRevision).To(BeEmpty())
		Expect(ro.Status.Diff.Added).To(ContainElements("exporters/otlp", "pipelines/traces"))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hashOf(second) })).To(Equal(20))
		Expect(events(ns, "r")).To(ContainElement(fmt.Sprintf("NewRevision: config changed: revision %s replaces %s, starting again from batch 1",
			revision.Short(hashOf(second)), revision.Short(hashOf(first)))))
	})

	It("never pushes an invalid config, and says which component and pipeline are wrong", func(ctx SpecContext) {
		ns, token := h.Namespace("invalid")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 5, Seed: 5})
		bad := "receivers:\n  otlp: {}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/backend]\n"
		rollout(ns, "r", "gateways", bad)

		Eventually(phase(ns, "r"), 20*time.Second).Should(Equal(fleetv1alpha1.RolloutFailed))
		ro := get(ns, "r")
		stalled := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionStalled)
		Expect(stalled.Reason).To(Equal(fleetv1alpha1.ReasonInvalidConfig))
		Expect(stalled.Message).To(ContainSubstring(`pipeline "traces": exporter "otlp/backend" is not defined`))
		Consistently(func() int { return fleet.Count(func(a *fleetsim.Agent) bool { return len(a.Received()) > 0 }) }, 3*time.Second).Should(BeZero())
		var crs appsv1.ControllerRevisionList
		Expect(env.Client.List(ctx, &crs, client.InNamespace(ns))).To(Succeed())
		Expect(crs.Items).To(BeEmpty())
		Expect(events(ns, "r")).To(ContainElement(HavePrefix("ConfigInvalid: invalid config: ")))
	})

	It("skips agents that lack a component the config needs, counting them incompatible", func(ctx SpecContext) {
		ns, token := h.Namespace("incompat")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 10, Seed: 6,
			Profiles: []fleetsim.Profile{{Name: "old", Fraction: 0.3, Behavior: fleetsim.Behavior{MissingComponents: []string{"processors/batch"}}}},
			Default:  fleetsim.Profile{Behavior: fleetsim.Behavior{ReportComponents: true}}})
		rollout(ns, "r", "gateways", config("incompat"), func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(0))}
		})
		Eventually(phase(ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro := get(ns, "r")
		Expect(ro.Status.Counts.Incompatible).To(Equal(int32(3)))
		Expect(ro.Status.Counts.Applied).To(Equal(int32(7)))
		for _, a := range fleet.Agents {
			if a.Profile == "old" {
				Expect(a.Received()).To(BeEmpty())
			}
		}
	})

	// frozenHosts gives ns a default policy whose push policy frozen-hosts denies every push to
	// agents with frozen=true.
	frozenHosts := func(ctx context.Context, ns string) {
		GinkgoHelper()
		Expect(env.Client.Create(ctx, &fleetv1alpha1.GatePolicy{
			ObjectMeta: objectMeta(ns, "default"),
			Spec: fleetv1alpha1.GatePolicySpec{PushPolicies: []fleetv1alpha1.PushPolicy{{Name: "frozen-hosts", Deny: fleetv1alpha1.DenyAlways,
				Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"frozen": "true"}}}}},
		})).To(Succeed())
	}

	It("denies pushes by push policy, counting and naming them", func(ctx SpecContext) {
		ns, token := h.Namespace("deny")
		group(ns, "gateways", nil)
		frozenHosts(ctx, ns)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 10, Seed: 8,
			Profiles: []fleetsim.Profile{{Name: "frozen", Fraction: 0.2, Attributes: map[string]string{"frozen": "true"}}}})
		rollout(ns, "r", "gateways", config("deny"))
		Eventually(phase(ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro := get(ns, "r")
		Expect(ro.Status.Counts.Denied).To(Equal(int32(2)))
		Expect(ro.Status.Counts.Applied).To(Equal(int32(8)))
		var frozen []string
		for _, a := range fleet.Agents {
			if a.Profile == "frozen" {
				Expect(a.Received()).To(BeEmpty())
				frozen = append(frozen, a.UID.String())
			}
		}
		sort.Strings(frozen)
		Eventually(func() []string { return events(ns, "r") }, 10*time.Second).Should(ContainElement(
			"PushDenied: push policy frozen-hosts denies the push to 2 agents: " + strings.Join(frozen, ", ")))
	})

	It("counts denied agents in full, past the ten the failed-agent sample keeps", func(ctx SpecContext) {
		ns, token := h.Namespace("deny-many")
		group(ns, "gateways", nil)
		frozenHosts(ctx, ns)
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 16, Seed: 9,
			Profiles: []fleetsim.Profile{{Name: "frozen", Fraction: 0.75, Attributes: map[string]string{"frozen": "true"}}}})
		rollout(ns, "r", "gateways", config("deny-many"))
		Eventually(phase(ns, "r"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		ro := get(ns, "r")
		Expect(ro.Status.Counts.Denied).To(Equal(int32(12)))
		Expect(ro.Status.FailedAgents).To(HaveLen(10))
		Eventually(func() []string { return events(ns, "r") }, 10*time.Second).Should(ContainElement(
			And(HavePrefix("PushDenied: push policy frozen-hosts denies the push to 12 agents: "), HaveSuffix(" and 2 more"))))
	})

	// table runs kubectl get with args in ns and returns its rows, each cut into columns where
	// the header's names start (an empty cell stays an empty string).
	table := func(ctx SpecContext, ns string, args ...string) [][]string {
		GinkgoHelper()
		out, errOut, err := env.Kubectl(ctx, "", append([]string{"get", "-n", ns}, args...)...)
		Expect(err).NotTo(HaveOccurred(), errOut)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		var starts []int
		for i := range lines[0] {
			if lines[0][i] != ' ' && (i == 0 || lines[0][i-1] == ' ') {
				starts = append(starts, i)
			}
		}
		var rows [][]string
		for _, line := range lines {
			var row []string
			for j, from := range starts {
				to := len(line)
				if j+1 < len(starts) {
					to = min(starts[j+1], len(line))
				}
				row = append(row, strings.TrimSpace(line[min(from, len(line)):to]))
			}
			rows = append(rows, row)
		}
		return rows
	}

	It("shows each kind's printer columns, wide ones with -o wide, and every kind under the ampora category", func(ctx SpecContext) {
		ns, token := h.Namespace("columns")
		group(ns, "gateways", nil)
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 4, Seed: 12})
		frozenHosts(ctx, ns)
		rollout(ns, "web", "gateways", config("columns"))
		Eventually(phase(ns, "web"), 30*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Eventually(func() int32 { return get(ns, "web").Status.Counts.Applied }, 10*time.Second).Should(Equal(int32(4)))
		rev := get(ns, "web").Status.Revision

		rows := table(ctx, ns, "rollouts")
		Expect(rows).To(HaveLen(2), "%v", rows)
		Expect(rows[0]).To(Equal([]string{"NAME", "PHASE", "BATCH", "APPLIED", "FAILED", "AGE"}))
		Expect(rows[1]).To(HaveLen(6), "%v", rows)
		Expect(rows[1][:5]).To(Equal([]string{"web", "Completed", "1/1", "4", ""}), "no failure counted: the field is unset")
		wide := table(ctx, ns, "frl", "-o", "wide")
		Expect(wide[0]).To(Equal([]string{"NAME", "GROUP", "PHASE", "BATCH", "APPLIED", "FAILED", "REASON", "PAUSE", "AGE"}))
		Expect(wide[1][:7]).To(Equal([]string{"web", "gateways", "Completed", "1/1", "4", "", fleetv1alpha1.ReasonCompleted}), "%v", wide)

		Eventually(func() []string { return table(ctx, ns, "agentgroups")[1][:5] }, 20*time.Second).Should(
			Equal([]string{"gateways", "4", "4", rev, ""}))
		Expect(table(ctx, ns, "ag")[0]).To(Equal([]string{"NAME", "MATCHING", "CONNECTED", "REVISION", "ROLLOUT", "AGE"}))
		Expect(table(ctx, ns, "ag", "-o", "wide")[0]).To(ContainElement("CONFLICTS"))

		Expect(table(ctx, ns, "gatepolicies")[0]).To(Equal([]string{"NAME", "MAX-FAILURE-%", "ON-FAILURE", "ROLLOUTS", "STATUS", "AGE"}))
		Expect(table(ctx, ns, "gp")[1][0]).To(Equal("default"))

		By("kubectl get ampora lists every kind of the category")
		out, errOut, err := env.Kubectl(ctx, "", "get", "ampora", "-n", ns, "-o", "name")
		Expect(err).NotTo(HaveOccurred(), errOut)
		Expect(strings.Fields(out)).To(ConsistOf(
			"rollout.fleet.ampora.io/web", "agentgroup.fleet.ampora.io/gateways", "gatepolicy.fleet.ampora.io/default"))
	})

	It("blocks a second rollout on the same group, naming the holder", func(ctx SpecContext) {
		ns, token := h.Namespace("blocked")
		group(ns, "gateways", nil)
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 10, Seed: 9})
		rollout(ns, "first", "gateways", config("first"), func(r *fleetv1alpha1.Rollout) { r.Spec.Paused = true })
		Eventually(phase(ns, "first"), 20*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		wide := table(ctx, ns, "rollouts", "-o", "wide")
		Expect(wide[1][0]).To(Equal("first"))
		Expect(wide[1][7]).To(Equal("paused by spec.paused"), "kubectl get -o wide shows the pause message: %v", wide)
		rollout(ns, "second", "gateways", config("second"))
		Eventually(phase(ns, "second"), 20*time.Second).Should(Equal(fleetv1alpha1.RolloutBlocked))
		Expect(get(ns, "second").Status.Message).To(Equal("AgentGroup gateways is held by Rollout first; this rollout starts when that one finishes"))
		Consistently(phase(ns, "second"), 3*time.Second).Should(Equal(fleetv1alpha1.RolloutBlocked))

		annotate(ns, "first", fleetv1alpha1.ActionAbort)
		Eventually(phase(ns, "second"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
	})
})

var _ = Describe("Rollback", func() {
	It("returns the agents a failing rollout reached to the previous revision when the policy says Rollback", func(ctx SpecContext) {
		sc := h.StartSidecar("rollback-0")
		h.StartManager()
		ns, token := h.Namespace("rollback")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 20, Seed: 12,
			Profiles: []fleetsim.Profile{{Name: "picky", Fraction: 0.5,
				Behavior: fleetsim.Behavior{FailWith: "unknown processor \"tail_sampling\"", FailIfContains: "second"}}}})
		first, second := config("first"), config("second")

		rollout(ns, "one", "gateways", first)
		Eventually(phase(ns, "one"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hashOf(first) })).To(Equal(20))

		rollout(ns, "two", "gateways", second, func(r *fleetv1alpha1.Rollout) {
			r.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(10)), OnFailure: fleetv1alpha1.GateFailureRollback}
		})
		Eventually(phase(ns, "two"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutRolledBack))
		ro := get(ns, "two")
		Expect(ro.Status.PreviousRevision).To(Equal(revision.Short(hashOf(first))))
		reached := 0
		for _, a := range fleet.Agents {
			if receivedHash(a, hashOf(second)) {
				reached++
			}
			Expect(a.EffectiveHash()).To(Equal(hashOf(first)), "agent %s (%s) is not back on the previous revision", a.UID, a.Profile)
		}
		Expect(reached).To(Equal(10), "only batch 1 was reached")
		Expect(events(ns, "two")).To(ContainElement(HavePrefix("RollingBack: gate breached on batch 1: failure-ratio: ")))
		var g fleetv1alpha1.AgentGroup
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)).To(Succeed())
		Expect(g.Status.CurrentRevision).To(Equal(revision.Short(hashOf(first))))
		// The group was released before the status said Completed, and no pass from a stale
		// copy of the rollout claims it again or repeats a step.
		Expect(g.Status.ActiveRollout).To(BeEmpty())
		Consistently(func() string {
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)
			return g.Status.ActiveRollout
		}, 3*time.Second, 200*time.Millisecond).Should(BeEmpty())
		var list eventsv1.EventList
		Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, e := range list.Items {
			Expect(e.Series).To(BeNil(), "Event %s %q was recorded more than once", e.Reason, e.Note)
		}
	})

	It("rolls a completed rollout back on the rollback action, and waits for the agents to return", func(ctx SpecContext) {
		sc := h.StartSidecar("rollback-1")
		h.StartManager()
		ns, token := h.Namespace("rollback-action")
		group(ns, "gateways", nil)
		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 10, Seed: 13,
			Default: fleetsim.Profile{Behavior: fleetsim.Behavior{ApplyDelay: fleetsim.UniformDelay(300*time.Millisecond, time.Second)}}})
		first, second := config("first"), config("second")
		rollout(ns, "one", "gateways", first)
		Eventually(phase(ns, "one"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		rollout(ns, "two", "gateways", second)
		Eventually(phase(ns, "two"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hashOf(second) })).To(Equal(10))

		annotate(ns, "two", fleetv1alpha1.ActionRollback)
		Eventually(phase(ns, "two"), 60*time.Second).Should(Equal(fleetv1alpha1.RolloutRolledBack))
		Expect(fleet.Count(func(a *fleetsim.Agent) bool { return a.EffectiveHash() == hashOf(first) })).To(Equal(10))
		var g fleetv1alpha1.AgentGroup
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gateways"}, &g)).To(Succeed())
		Expect(g.Status.CurrentRevision).To(Equal(revision.Short(hashOf(first))))
	})
})
