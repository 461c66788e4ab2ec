package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/gates"
	"github.com/ampora-io/ampora/internal/present"
	"github.com/ampora-io/ampora/internal/readapi"
)

func newWhyCmd(o *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "why ROLLOUT",
		Short: "Walk the troubleshooting path of a rollout and print a verdict",
		Long: `Walk the troubleshooting path of a rollout, one section per step:

  1. Leader               the managers' Lease ` + readapi.LeaderLease + `: holder and age
  2. Engine               when the engine last evaluated the rollout (stale: no leader ticking)
  3. Sidecar replicas     live replica Leases and when each last reported on the rollout
  4. Gates                the gate breach, observed value against threshold; thresholds in force
  5. Agents               counts in total and for the current batch
  6. Top errors           failed agents grouped by error message, with their versions
  7. No live session      admitted agents that have no session to receive the config
  8. Stuck applying       agents that did not finish within the apply timeout
  9. Capabilities         agents that cannot report remote config status, or lack a component
 10. Push denials         agents a push policy denies, by policy
 11. Flapping agents      agents that keep reconnecting
 12. Certificates         agents' client certificates expiring within 7 days
 13. Throughput           applies per minute and ETA

and end with a one-line verdict naming the cause and the next step.

Sections 6 to 12 ask the read API of every live sidecar replica with the kubeconfig user's
bearer token. When that is not possible (no token, replica unreachable, no access), why says
so and goes on with what the Rollout's status shows.`,
		Example:           `  kubectl ampora why gateways-batching -n demo`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ro, err := o.getRollout(ctx, args[0])
			if err != nil {
				return err
			}
			renderWhy(o.streams.Out, gatherWhy(ctx, o, ro))
			return nil
		},
	}
}

// whyInput is everything why looks at.
type whyInput struct {
	Now     time.Time
	Rollout *fleetv1alpha1.Rollout
	Group   *fleetv1alpha1.AgentGroup
	// GroupErr says why the AgentGroup could not be read.
	GroupErr          string
	OperatorNamespace string
	Leader            leaderLease
	LeaderErr         string
	Replicas          []replicaLease
	LeasesErr         string
	// Agents is what the read API answered about the rollout's agents.
	Agents agentsResult
}

// certWarning is how far ahead why warns about expiring client certificates.
const certWarning = 7 * 24 * time.Hour

func gatherWhy(ctx context.Context, o *globalOptions, ro *fleetv1alpha1.Rollout) whyInput {
	in := whyInput{Now: o.now(), Rollout: ro}
	if g, err := o.getGroup(ctx, ro); err != nil {
		in.GroupErr = err.Error()
	} else {
		in.Group = g
	}
	leases, ns, err := o.replicaLeases(ctx)
	in.OperatorNamespace, in.Replicas = ns, leases
	if err != nil {
		in.LeasesErr = err.Error()
	}
	if in.Leader, err = o.leader(ctx, ns); err != nil {
		in.LeaderErr = err.Error()
	}
	if in.LeasesErr != "" && len(o.readAPIURLs) == 0 {
		in.Agents.Problems = append(in.Agents.Problems, "cannot list the sidecar Leases: "+in.LeasesErr)
		return in
	}
	if in.Agents, err = o.agentsFrom(ctx, ro, leases, ""); err != nil {
		in.Agents.Problems = append(in.Agents.Problems, err.Error())
	}
	return in
}

// readAPIUsed says whether the read API shows the rollout's agents: a replica answered, and
// the rollout is one the sidecars serve (Progressing, Paused or RollingBack).
func (in whyInput) readAPIUsed() bool {
	return in.Agents.Answered > 0 && in.Rollout.Status.Phase.Serving()
}

func (in whyInput) liveReplicas() []replicaLease {
	return readapi.LiveOnly(in.Replicas, in.Now)
}

// activePhase says whether the engine keeps looking at the rollout every few seconds.
func activePhase(p fleetv1alpha1.RolloutPhase) bool { return !p.Settled() }

// engineStale says whether the engine has stopped evaluating the rollout: an active rollout is
// evaluated at least every 15 s. A settled one is evaluated again only when its spec, its
// config or an action changes, so its age says nothing.
func (in whyInput) engineStale() (bool, string) {
	ro := in.Rollout
	const limit = time.Minute
	if !activePhase(ro.Status.Phase) {
		when := "never evaluated"
		if t := ro.Status.LastEvaluatedTime; t != nil {
			when = "last evaluated " + present.Ago(in.Now, t.Time)
		}
		return false, when + "; settled, looked at again when its spec, config or an action changes"
	}
	if t := ro.Status.LastEvaluatedTime; t != nil {
		return in.Now.Sub(t.Time) > limit, "last evaluated " + present.Ago(in.Now, t.Time)
	}
	created := ro.CreationTimestamp.Time
	return in.Now.Sub(created) > limit, "never evaluated (created " + present.Ago(in.Now, created) + ")"
}

func section(w io.Writer, n int, title string) {
	fmt.Fprintf(w, "\n%d. %s\n", n, title)
}

func line(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "   %s\n", fmt.Sprintf(format, a...))
}

// renderWhy prints the sections and the verdict.
func renderWhy(w io.Writer, in whyInput) {
	ro := in.Rollout
	st := &ro.Status
	fmt.Fprintf(w, "Rollout %s/%s: %s", ro.Namespace, ro.Name, phaseText(ro))
	if st.CurrentBatch != nil {
		fmt.Fprintf(w, ", batch %d of %d", st.CurrentBatch.Number, len(st.Plan))
	}
	if st.Revision != "" {
		fmt.Fprintf(w, ", revision %s", st.Revision)
	}
	fmt.Fprintln(w)
	if st.Message != "" {
		fmt.Fprintf(w, "%s\n", st.Message)
	}

	whyLeader(w, in)
	whyEngine(w, in)
	whyReplicas(w, in)
	whyGates(w, in)
	whyAgents(w, in)
	whyErrors(w, in)
	whyNoSession(w, in)
	whyStuck(w, in)
	whyCapabilities(w, in)
	whyDenials(w, in)
	whyFlapping(w, in)
	whyCerts(w, in)
	section(w, 13, "Throughput")
	line(w, "%s", throughputText(st, in.Now))

	fmt.Fprintf(w, "\nVerdict: %s\n", verdict(in))
}

func whyLeader(w io.Writer, in whyInput) {
	section(w, 1, "Leader")
	l := in.Leader
	name := in.OperatorNamespace + "/" + readapi.LeaderLease
	switch {
	case in.LeaderErr != "":
		line(w, "cannot read Lease %s: %s", name, in.LeaderErr)
	case !l.Found:
		line(w, "no Lease %s: the manager runs without leader election, or has never started", name)
	case l.Expires.IsZero():
		line(w, "Lease %s held by %s, never renewed", name, cmp.Or(l.Holder, "nobody"))
	case !in.Now.Before(l.Expires):
		line(w, "Lease %s held by %s, renewed %s, EXPIRED %s: no leader is ticking", name, cmp.Or(l.Holder, "nobody"),
			present.Ago(in.Now, l.Renewed), present.Ago(in.Now, l.Expires))
	default:
		line(w, "Lease %s held by %s, renewed %s (expires %s)", name, cmp.Or(l.Holder, "nobody"), present.Ago(in.Now, l.Renewed), present.Ago(in.Now, l.Expires))
	}
	if l.Found && l.Transitions > 0 {
		line(w, "%s so far", plural(int(l.Transitions), "leader change", "leader changes"))
	}
}

func whyEngine(w io.Writer, in whyInput) {
	section(w, 2, "Engine")
	ro := in.Rollout
	stale, when := in.engineStale()
	if stale {
		line(w, "status %s: STALE, no leader is evaluating this rollout", when)
	} else {
		line(w, "status %s", when)
	}
	if ro.Status.ObservedGeneration != ro.Generation {
		line(w, "the engine has not seen the latest spec: generation %d, observed %d", ro.Generation, ro.Status.ObservedGeneration)
	}
	if a := ro.Annotations[fleetv1alpha1.AnnotationAction]; a != "" {
		line(w, "action %q requested by %s, not handled yet", a, cmp.Or(ro.Annotations[fleetv1alpha1.AnnotationActionRequestedBy], "unknown user"))
	}
	if c := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionStalled); c != nil && c.Status == "True" {
		line(w, "Stalled: %s: %s", c.Reason, c.Message)
	}
}

func whyReplicas(w io.Writer, in whyInput) {
	section(w, 3, "Sidecar replicas")
	if in.LeasesErr != "" {
		line(w, "cannot list the sidecar Leases in %s: %s", in.OperatorNamespace, in.LeasesErr)
		return
	}
	live := in.liveReplicas()
	line(w, "%d live of %d (Leases labelled %s in %s)", len(live), len(in.Replicas), labelReplicaLease, in.OperatorNamespace)
	reports := map[string]fleetv1alpha1.ReplicaReport{}
	for _, r := range in.Rollout.Status.Replicas {
		reports[r.Replica] = r
	}
	st := &in.Rollout.Status
	for _, r := range in.Replicas {
		state := "live"
		if !r.Live(in.Now) {
			state = "EXPIRED " + present.Ago(in.Now, r.Expires) + ", its counts do not count"
		}
		rep := "no entry in the rollout's status"
		if e, ok := reports[r.Name]; ok {
			rep = "reported " + present.Ago(in.Now, e.ReportedAt.Time)
			switch {
			case e.ConfigHash != st.ConfigHash:
				rep += " on another revision"
			case st.CurrentBatch != nil && e.Batch != st.CurrentBatch.Number:
				rep += fmt.Sprintf(" on batch %d, not the current one", e.Batch)
			case e.Batch > 0:
				rep += fmt.Sprintf(" on batch %d, %d connected", e.Batch, e.Connected)
			}
		}
		line(w, "%s: %s, renewed %s; %s; read API %s", r.Name, state, present.Ago(in.Now, r.Renewed), rep, cmp.Or(r.URL, "not published"))
	}
	for _, e := range in.Rollout.Status.Replicas {
		found := false
		for _, r := range in.Replicas {
			found = found || r.Name == e.Replica
		}
		if !found {
			line(w, "%s: no Lease, its entry (reported %s) does not count", e.Replica, present.Ago(in.Now, e.ReportedAt.Time))
		}
	}
}

// gateField names the spec.gates field that sets a gate's threshold.
var gateField = map[fleetv1alpha1.GateName]string{
	fleetv1alpha1.GateFailureRatio:     "maxFailurePercent",
	fleetv1alpha1.GateDisconnectRatio:  "maxDisconnectPercent",
	fleetv1alpha1.GateUnhealthyRatio:   "maxUnhealthyPercent",
	fleetv1alpha1.GateApplyDurationP95: "maxApplyDurationP95",
	fleetv1alpha1.GateFailures:         "maxFailures",
	fleetv1alpha1.GateMinSample:        "minSampleSize",
}

func whyGates(w io.Writer, in whyInput) {
	section(w, 4, "Gates")
	st := &in.Rollout.Status
	if p := st.Pause; p != nil && p.Reason != fleetv1alpha1.PauseManual {
		line(w, "%s", p.Message)
		line(w, "gate %s on batch %d: observed %s, threshold %s (spec.gates.%s); paused %s", p.Gate, p.Batch,
			cmp.Or(p.Observed, "-"), cmp.Or(p.Threshold, "-"), gateField[p.Gate], present.Ago(in.Now, p.Since.Time))
	} else if p != nil {
		line(w, "no gate breached; paused by spec.paused %s", present.Ago(in.Now, p.Since.Time))
	} else {
		line(w, "no gate has paused this rollout")
	}
	if g := st.EffectiveGates; g != nil {
		line(w, "in force: %s", gates.Summary(*g, ", "))
	}
}

// countsText writes "10 targeted: 6 applied, 4 failed", naming only the states that hold
// agents.
func countsText(c fleetv1alpha1.AgentCounts) string {
	var parts []string
	for _, r := range countRows[1:] {
		if n := r.get(c); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, r.name))
		}
	}
	s := fmt.Sprintf("%d targeted", c.Targeted)
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	return s
}

func whyAgents(w io.Writer, in whyInput) {
	section(w, 5, "Agents")
	st := &in.Rollout.Status
	if st.CurrentBatch != nil {
		line(w, "batch %d: %s", st.CurrentBatch.Number, countsText(st.BatchCounts))
	}
	line(w, "total:   %s", countsText(st.Counts))
	switch {
	case in.Group != nil:
		line(w, "AgentGroup %s: %d matching, %d connected, %d conflicting", in.Group.Name, in.Group.Status.MatchingAgents,
			in.Group.Status.ConnectedAgents, in.Group.Status.ConflictingAgents)
	case in.GroupErr != "":
		line(w, "AgentGroup %s: %s", in.Rollout.Spec.AgentGroup, in.GroupErr)
	}
	res := in.Agents
	switch {
	case in.readAPIUsed():
		line(w, "read API: %d of %d replicas answered, %s admitted", res.Answered, res.Answered+len(res.Problems),
			plural(len(res.Agents), "agent", "agents"))
	case res.Answered > 0:
		line(w, "read API: the sidecars list the agents of active rollouts only, going on with what status shows")
	default:
		line(w, "read API not available, going on with what status shows")
	}
	for _, p := range res.Problems {
		line(w, "read API: %s", p)
	}
}

// agentsIn returns the read API's agents for which keep holds.
func (in whyInput) agentsIn(keep func(agentInfo) bool) []agentInfo {
	var out []agentInfo
	for _, a := range in.Agents.Agents {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

// errorGroup is the failed agents that returned one message.
type errorGroup struct {
	message  string
	agents   int
	versions []counted
}

// topErrors groups the failed agents by message, most agents first. Without the read API it
// uses the status' bounded sample.
func (in whyInput) topErrors() (groups []errorGroup, sample bool) {
	type agent struct{ msg, version string }
	var failed []agent
	if in.readAPIUsed() {
		for _, a := range in.agentsIn(func(a agentInfo) bool { return a.State == fleetv1alpha1.AgentFailed }) {
			failed = append(failed, agent{a.Message, a.ServiceVersion})
		}
	} else {
		sample = true
		for _, a := range in.Rollout.Status.FailedAgents {
			if a.State == fleetv1alpha1.AgentFailed {
				failed = append(failed, agent{a.Message, a.ServiceVersion})
			}
		}
	}
	var msgs []string
	versions := map[string][]string{}
	for _, a := range failed {
		m := cmp.Or(a.msg, "(no error message)")
		msgs = append(msgs, m)
		versions[m] = append(versions[m], cmp.Or(a.version, "unknown"))
	}
	for _, c := range byCount(msgs) {
		groups = append(groups, errorGroup{message: c.value, agents: c.n, versions: byCount(versions[c.value])})
	}
	return groups, sample
}

// maxGroups bounds the error messages listed.
const maxGroups = 5

func whyErrors(w io.Writer, in whyInput) {
	section(w, 6, "Top errors")
	groups, sample := in.topErrors()
	if sample {
		line(w, "(from the sample of failed agents in status, at most 10)")
	}
	if len(groups) == 0 {
		line(w, "no failed agents")
		return
	}
	for i, g := range groups {
		if i == maxGroups {
			line(w, "... and %s more", plural(len(groups)-maxGroups, "message", "messages"))
			break
		}
		line(w, "%s on %s: %s", plural(g.agents, "agent", "agents"), joinCounted(g.versions), g.message)
	}
}

// sampleUIDs names at most three agents, with their hosts.
func sampleUIDs(agents []agentInfo) string {
	var parts []string
	for i, a := range agents {
		if i == 3 {
			parts = append(parts, "...")
			break
		}
		if a.HostName != "" {
			parts = append(parts, a.InstanceUID+" ("+a.HostName+")")
		} else {
			parts = append(parts, a.InstanceUID)
		}
	}
	return strings.Join(parts, ", ")
}

// byMessage groups agents by state and message, in order of first appearance.
func byMessage(agents []agentInfo, describe func(agentInfo) string) [][]agentInfo {
	var keys []string
	groups := map[string][]agentInfo{}
	for _, a := range agents {
		k := describe(a)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], a)
	}
	out := make([][]agentInfo, len(keys))
	for i, k := range keys {
		out[i] = groups[k]
	}
	return out
}

func (in whyInput) noSession() []agentInfo {
	return in.agentsIn(func(a agentInfo) bool {
		switch a.State {
		case fleetv1alpha1.AgentPending:
			return !a.Connected
		case fleetv1alpha1.AgentTimedOut:
			return strings.Contains(a.Message, "no live session")
		case fleetv1alpha1.AgentDisconnected:
			return true
		}
		return false
	})
}

func describeState(a agentInfo) string {
	switch {
	case a.State == fleetv1alpha1.AgentPending && !a.Connected:
		return "Pending, not connected"
	case a.Message != "":
		return string(a.State) + ": " + a.Message
	}
	return string(a.State)
}

func whyNoSession(w io.Writer, in whyInput) {
	section(w, 7, "No live session")
	c := in.Rollout.Status.Counts
	if !in.readAPIUsed() {
		line(w, "from status: %d disconnected, %d timed out (the read API tells which have no session)", c.Disconnected, c.TimedOut)
		return
	}
	agents := in.noSession()
	if len(agents) == 0 {
		line(w, "every admitted agent has a live session, or had one when it finished")
		return
	}
	for _, g := range byMessage(agents, describeState) {
		line(w, "%s %s, e.g. %s", plural(len(g), "agent", "agents"), describeState(g[0]), sampleUIDs(g))
	}
}

func (in whyInput) stuck() []agentInfo {
	return in.agentsIn(func(a agentInfo) bool {
		return a.State == fleetv1alpha1.AgentTimedOut && !strings.Contains(a.Message, "no live session")
	})
}

func applyTimeout(ro *fleetv1alpha1.Rollout) string {
	if t := ro.Spec.ApplyTimeout; t != nil {
		return gates.FormatDuration(t.Duration)
	}
	return "5m"
}

func whyStuck(w io.Writer, in whyInput) {
	section(w, 8, "Stuck applying")
	st := &in.Rollout.Status
	line(w, "apply timeout %s; %d applying now", applyTimeout(in.Rollout), st.Counts.Applying)
	if !in.readAPIUsed() {
		line(w, "from status: %d timed out", st.Counts.TimedOut)
		return
	}
	agents := in.stuck()
	if len(agents) == 0 {
		line(w, "no agent is past the apply timeout")
		return
	}
	for _, g := range byMessage(agents, describeState) {
		line(w, "%s %s, e.g. %s", plural(len(g), "agent", "agents"), describeState(g[0]), sampleUIDs(g))
	}
}

func whyCapabilities(w io.Writer, in whyInput) {
	section(w, 9, "Capabilities")
	c := in.Rollout.Status.Counts
	if !in.readAPIUsed() {
		line(w, "from status: %d unverifiable (capability mismatch), %d incompatible", c.Unverifiable, c.Incompatible)
		return
	}
	agents := in.agentsIn(func(a agentInfo) bool {
		return a.State == fleetv1alpha1.AgentUnverifiable || a.State == fleetv1alpha1.AgentIncompatible
	})
	noAccept := in.agentsIn(func(a agentInfo) bool { return !a.AcceptsConfig })
	if len(agents) == 0 && len(noAccept) == 0 {
		line(w, "no capability mismatch")
		return
	}
	for _, g := range byMessage(agents, describeState) {
		line(w, "%s %s, e.g. %s", plural(len(g), "agent", "agents"), describeState(g[0]), sampleUIDs(g))
	}
	if len(noAccept) > 0 {
		line(w, "%s do not accept remote config and are never offered it, e.g. %s", plural(len(noAccept), "agent", "agents"), sampleUIDs(noAccept))
	}
}

// pushPolicyOwner names the GatePolicy whose push policies apply to the rollout.
func pushPolicyOwner(ro *fleetv1alpha1.Rollout) string {
	if ref := ro.Spec.GatePolicyRef; ref != nil {
		return ref.Name
	}
	return fleetv1alpha1.DefaultGatePolicyName
}

func whyDenials(w io.Writer, in whyInput) {
	section(w, 10, "Push denials")
	ro := in.Rollout
	var denied []agentInfo
	if in.readAPIUsed() {
		denied = in.agentsIn(func(a agentInfo) bool { return a.State == fleetv1alpha1.AgentDenied })
	} else {
		line(w, "from status: %d denied", ro.Status.Counts.Denied)
		for _, f := range ro.Status.FailedAgents {
			if f.State == fleetv1alpha1.AgentDenied {
				denied = append(denied, agentInfo{InstanceUID: f.InstanceUID, HostName: f.HostName, State: f.State, Message: f.Message})
			}
		}
	}
	if len(denied) == 0 {
		if in.readAPIUsed() {
			line(w, "no push policy denies an agent")
		}
		return
	}
	policy := func(a agentInfo) string { return strings.TrimPrefix(a.Message, "denied by push policy ") }
	for _, g := range byMessage(denied, policy) {
		line(w, "push policy %s (GatePolicy %s/%s): %s, e.g. %s", policy(g[0]), ro.Namespace, pushPolicyOwner(ro),
			plural(len(g), "agent", "agents"), sampleUIDs(g))
	}
}

func whyFlapping(w io.Writer, in whyInput) {
	section(w, 11, "Flapping agents")
	if !in.readAPIUsed() {
		line(w, "needs the read API")
		return
	}
	flapping := in.agentsIn(func(a agentInfo) bool { return a.Flapping })
	if len(flapping) == 0 {
		line(w, "none (3 or more disconnects within 10 minutes)")
		return
	}
	for i, a := range flapping {
		if i == 10 {
			line(w, "... and %d more", len(flapping)-10)
			break
		}
		line(w, "%s (%s): %d recent disconnects, on %s", a.InstanceUID, cmp.Or(a.HostName, "-"), a.RecentDrops, cmp.Or(a.Replica, "-"))
	}
}

func whyCerts(w io.Writer, in whyInput) {
	section(w, 12, "Certificates expiring within 7 days")
	if !in.readAPIUsed() {
		line(w, "needs the read API")
		return
	}
	expiring := in.agentsIn(func(a agentInfo) bool {
		return a.CertNotAfter != nil && a.CertNotAfter.Before(in.Now.Add(certWarning))
	})
	if len(expiring) == 0 {
		line(w, "none")
		return
	}
	for i, a := range expiring {
		if i == 10 {
			line(w, "... and %d more", len(expiring)-10)
			break
		}
		verb := "expires"
		if a.CertNotAfter.Before(in.Now) {
			verb = "EXPIRED"
		}
		line(w, "%s (%s): client certificate %s %s (%s)", a.InstanceUID, cmp.Or(a.HostName, "-"), verb,
			a.CertNotAfter.UTC().Format(time.RFC3339), present.Ago(in.Now, *a.CertNotAfter))
	}
}

// hint is the plugin command for a next step.
func hint(ro *fleetv1alpha1.Rollout, verb string) string {
	return fmt.Sprintf("kubectl ampora %s %s -n %s", verb, ro.Name, ro.Namespace)
}

// verdict names the cause of where the rollout stands and the next step, in one line.
// stallNeedsSpec lists the Stalled reasons that a change to the cluster's objects, not an
// action, resolves; gate pauses have their own verdicts.
var stallNeedsSpec = map[string]bool{
	fleetv1alpha1.ReasonGroupNotFound: true, fleetv1alpha1.ReasonConfigNotFound: true,
	fleetv1alpha1.ReasonInvalidSpec: true, fleetv1alpha1.ReasonInvalidConfig: true, fleetv1alpha1.ReasonNoSidecar: true,
}

func verdict(in whyInput) string {
	ro := in.Rollout
	st := &ro.Status
	switch st.Phase {
	case fleetv1alpha1.RolloutFailed:
		return fmt.Sprintf("the rollout cannot proceed: %s; fix the spec and apply it again", cmp.Or(st.Message, "see its conditions"))
	case fleetv1alpha1.RolloutCompleted:
		return fmt.Sprintf("completed: %s; nothing to do", cmp.Or(st.Message, "every batch passed its gates"))
	case fleetv1alpha1.RolloutAborted:
		return fmt.Sprintf("aborted: %s; edit the config to start a new revision", cmp.Or(st.Message, "stopped by a user"))
	case fleetv1alpha1.RolloutRolledBack:
		return fmt.Sprintf("rolled back: %s; edit the config to start a new revision", cmp.Or(st.Message, "agents returned to the previous revision"))
	}
	if stale, when := in.engineStale(); stale {
		cause := "status " + when
		if in.Leader.Found && !in.Now.Before(in.Leader.Expires) {
			cause += fmt.Sprintf(" and the leader Lease (held by %s) expired %s", cmp.Or(in.Leader.Holder, "nobody"), present.Ago(in.Now, in.Leader.Expires))
		} else if !in.Leader.Found {
			cause += " and there is no leader Lease"
		}
		return fmt.Sprintf("no leader is ticking: %s; check the manager: kubectl -n %s get pods,leases", cause, in.OperatorNamespace)
	}
	if ro.Status.ObservedGeneration != ro.Generation {
		return "the engine has not seen the latest spec yet; wait a few seconds and ask again: " + hint(ro, "why")
	}
	if in.LeasesErr == "" && len(in.liveReplicas()) == 0 && len(in.Agents.Agents) == 0 {
		return fmt.Sprintf("no OpAMP sidecar replica is live, so no agent is served or counted; check the sidecars: kubectl -n %s get leases -l %s",
			in.OperatorNamespace, labelReplicaLease)
	}
	if a := st.Approvals; a != nil && int32(len(a.ApprovedBy)) < a.Required {
		v := fmt.Sprintf("waiting for approval: revision %s has %d of %d approvals required by GatePolicy %s", st.Revision, len(a.ApprovedBy), a.Required, a.Policy)
		if a.Author != "" {
			v += "; " + a.Author + " wrote it, another user must approve"
		}
		return v + "; review it and approve with: " + hint(ro, "approve")
	}
	if p := st.Pause; st.Phase == fleetv1alpha1.RolloutPaused && p != nil {
		switch p.Reason {
		case fleetv1alpha1.PauseManual:
			return "paused by spec.paused; resume with: " + hint(ro, "resume")
		case fleetv1alpha1.PauseGateInconclusive:
			return fmt.Sprintf("gate %s paused batch %d: too few agents finished to judge (%s); lower spec.gates.minSampleSize or resume with: %s",
				p.Gate, p.Batch, p.Message, hint(ro, "resume"))
		}
		s := fmt.Sprintf("gate %s paused batch %d (%s)", p.Gate, p.Batch, p.Message)
		if groups, _ := in.topErrors(); len(groups) > 0 {
			g := groups[0]
			s += fmt.Sprintf("; top error, %s on %s: %s", plural(g.agents, "agent", "agents"), joinCounted(g.versions), g.message)
		} else if ns := in.noSession(); len(ns) > 0 && p.Gate == fleetv1alpha1.GateDisconnectRatio {
			s += fmt.Sprintf("; %s without a live session", plural(len(ns), "agent", "agents"))
		}
		return s + fmt.Sprintf("; fix the cause (or raise spec.gates.%s), then resume with: %s", gateField[p.Gate], hint(ro, "resume"))
	}
	switch st.Phase {
	case fleetv1alpha1.RolloutBlocked:
		other := ""
		if in.Group != nil && in.Group.Status.ActiveRollout != "" && in.Group.Status.ActiveRollout != ro.Name {
			other = in.Group.Status.ActiveRollout
		}
		if other != "" {
			return fmt.Sprintf("blocked: rollout %s holds AgentGroup %s; wait for it, or stop it with: kubectl ampora abort %s -n %s",
				other, ro.Spec.AgentGroup, other, ro.Namespace)
		}
		return "blocked: " + cmp.Or(st.Message, "another rollout holds the group") + "; wait for it to finish"
	case fleetv1alpha1.RolloutRollingBack:
		return fmt.Sprintf("rolling back to %s: %s; follow with: %s --watch", cmp.Or(st.PreviousRevision, "the agents' local config"),
			countsText(st.Counts), hint(ro, "status"))
	}
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue && stallNeedsSpec[c.Reason] {
		return fmt.Sprintf("stalled (%s): %s; fix that cause, and the engine carries on by itself", c.Reason, c.Message)
	}
	if st.CurrentBatch == nil {
		if in.Group != nil && in.Group.Status.ConnectedAgents == 0 {
			return fmt.Sprintf("no connected agent matches AgentGroup %s; check its selector (kubectl get agentgroup %s -n %s -o yaml) and that agents enroll with a token of namespace %s",
				ro.Spec.AgentGroup, ro.Spec.AgentGroup, ro.Namespace, ro.Namespace)
		}
		return "waiting for the first batch: " + cmp.Or(st.Message, "the engine has not planned it yet")
	}
	if ns := in.noSession(); len(ns) > 0 {
		return fmt.Sprintf("%s of the rollout have no live session and time out after %s; check their connection to the OpAMP endpoint: %s --state timedout",
			plural(len(ns), "agent", "agents"), applyTimeout(ro), hint(ro, "agents"))
	}
	if stuck := in.stuck(); len(stuck) > 0 {
		return fmt.Sprintf("%s did not finish applying within %s (%s); look at those agents' collector logs and connection (retry re-offers the config only to agents that reported FAILED): %s --state timedout",
			plural(len(stuck), "agent", "agents"), applyTimeout(ro), describeState(stuck[0]), hint(ro, "agents"))
	}
	if n := st.Counts.Unverifiable; n > 0 {
		return fmt.Sprintf("%s cannot report remote config status (capability mismatch) and cannot be verified; enable ReportsRemoteConfig on those agents or exclude them from AgentGroup %s",
			plural(int(n), "agent", "agents"), ro.Spec.AgentGroup)
	}
	msg := fmt.Sprintf("progressing normally: batch %d of %d, %s", st.CurrentBatch.Number, len(st.Plan), throughputText(st, in.Now))
	if st.Counts.Denied > 0 {
		msg += fmt.Sprintf(" (%d denied by push policy)", st.Counts.Denied)
	}
	return msg + "; follow with: " + hint(ro, "status") + " --watch"
}
