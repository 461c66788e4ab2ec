package dashboard

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/gates"
	"github.com/ampora-io/ampora/internal/present"
	"github.com/ampora-io/ampora/internal/readapi"
)

// chrome is what every page shows around its content.
type chrome struct {
	Title         string
	Scope         string
	Context       string
	RefreshMillis int64
	RefreshText   string
	AsOf          string
	// Stale says why the rollouts shown may be out of date.
	Stale string
}

// segment is one part of a stacked bar, in percent of its width.
type segment struct {
	Class, Title string
	X, W         string
}

type stackBar struct {
	Label string
	Segs  []segment
}

// stateDef is an agent state as the dashboard shows it.
type stateDef struct {
	Key, Label string
	State      fleetv1alpha1.AgentState
	// always shows the state's row even when no agent is in it.
	always bool
}

// states are the agent states in the order the rollout page lists them: the five that tell how
// a batch goes first, then the others, shown only when some agent is in them.
var states = []stateDef{
	{"pending", "pending", fleetv1alpha1.AgentPending, true},
	{"applying", "applying", fleetv1alpha1.AgentApplying, true},
	{"applied", "applied", fleetv1alpha1.AgentApplied, true},
	{"failed", "failed", fleetv1alpha1.AgentFailed, true},
	{"disconnected", "disconnected since push", fleetv1alpha1.AgentDisconnected, true},
	{"timedout", "timed out", fleetv1alpha1.AgentTimedOut, false},
	{"unhealthy", "unhealthy", fleetv1alpha1.AgentUnhealthy, false},
	{"unverifiable", "unverifiable", fleetv1alpha1.AgentUnverifiable, false},
	{"incompatible", "incompatible", fleetv1alpha1.AgentIncompatible, false},
	{"denied", "denied", fleetv1alpha1.AgentDenied, false},
}

// stateKey is the CSS class of an agent state.
func stateKey(s fleetv1alpha1.AgentState) string {
	for _, d := range states {
		if d.State == s {
			return d.Key
		}
	}
	return "unknown"
}

// parseState reads a state from a URL; anything unknown is "".
func parseState(s string) fleetv1alpha1.AgentState {
	for _, d := range states {
		if string(d.State) == s {
			return d.State
		}
	}
	return ""
}

// phaseClass is the CSS class of a rollout phase.
func phaseClass(p fleetv1alpha1.RolloutPhase) string {
	switch p {
	case fleetv1alpha1.RolloutCompleted:
		return "ok"
	case fleetv1alpha1.RolloutProgressing, fleetv1alpha1.RolloutPending, fleetv1alpha1.RolloutRollingBack:
		return "progress"
	case fleetv1alpha1.RolloutPaused:
		return "paused"
	}
	if p.EndedShort() {
		return "bad"
	}
	return "muted"
}

func rolloutURL(ns, name string) string {
	return "/rollouts/" + url.PathEscape(ns) + "/" + url.PathEscape(name)
}

func agentURL(ns, name, uid string, state fleetv1alpha1.AgentState) string {
	u := rolloutURL(ns, name) + "/agents/" + url.PathEscape(uid)
	if state != "" {
		u += "?state=" + url.QueryEscape(string(state))
	}
	return u
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func pct(n, of int32) float64 {
	if of <= 0 {
		return 0
	}
	return min(100, 100*float64(n)/float64(of))
}

// denominator is what progress is measured against: the group size when the revision
// started, else the agents admitted so far.
func denominator(st *fleetv1alpha1.RolloutStatus) int32 {
	return max(st.GroupSize, st.Counts.Targeted)
}

// stateDefOf returns the definition of the state with the CSS key k.
func stateDefOf(k string) stateDef {
	for _, d := range states {
		if d.Key == k {
			return d
		}
	}
	panic("dashboard: unknown state " + k)
}

// barOrder stacks applied first, so that the bar reads as progress, and pending last, next to
// the agents not admitted yet.
var barOrder = []string{"applied", "failed", "timedout", "disconnected", "unhealthy", "unverifiable", "incompatible", "denied", "applying", "pending"}

// overallBar stacks the agents by state against the group.
func overallBar(st *fleetv1alpha1.RolloutStatus) stackBar {
	den := denominator(st)
	bar := stackBar{Label: fmt.Sprintf("%d of %d agents applied", st.Counts.Applied, den)}
	x := 0.0
	for _, k := range barOrder {
		d := stateDefOf(k)
		n := st.Counts.Of(d.State)
		if n == 0 {
			continue
		}
		w := pct(n, den)
		bar.Segs = append(bar.Segs, segment{Class: d.Key, Title: fmt.Sprintf("%d %s", n, d.Label), X: num(x), W: num(w)})
		x += w
	}
	return bar
}

// rolloutRow is one line of the rollout list.
type rolloutRow struct {
	Namespace, Name, Group, URL string
	Phase, PhaseClass           string
	Pause                       string
	Approval                    string
	Batch                       string
	Bar                         stackBar
	Progress                    string
	Applied, Failed             int32
	Throughput                  string
	Age, Created                string
}

type listPage struct {
	chrome
	ShowNS  bool
	Summary string
	Rows    []rolloutRow
}

func listView(c chrome, rs []fleetv1alpha1.Rollout, showNS bool, now time.Time) listPage {
	p := listPage{chrome: c, ShowNS: showNS}
	byPhase := map[string]int{}
	for i := range rs {
		ro := &rs[i]
		st := &ro.Status
		row := rolloutRow{
			Namespace: ro.Namespace, Name: ro.Name, Group: ro.Spec.AgentGroup, URL: rolloutURL(ro.Namespace, ro.Name),
			Phase: present.Phase(ro.Status.Phase), PhaseClass: phaseClass(st.Phase), Batch: present.Batch(st), Bar: overallBar(st),
			Progress:   fmt.Sprintf("%d of %d applied", st.Counts.Applied, denominator(st)),
			Applied:    st.Counts.Applied,
			Failed:     st.Counts.Failed + st.Counts.TimedOut,
			Throughput: fmt.Sprint(st.AppliesPerMinute),
			Age:        present.Ago(now, ro.CreationTimestamp.Time), Created: stamp(ro.CreationTimestamp.Time),
		}
		if st.Phase == fleetv1alpha1.RolloutPaused && st.Pause != nil {
			row.Pause = pauseMessage(st.Pause)
		}
		if a := st.Approvals; a != nil && waitingForApproval(ro) {
			row.Phase, row.PhaseClass = "awaiting approval", "paused"
			row.Approval = fmt.Sprintf("%d of %d approvals · GatePolicy %s", len(a.ApprovedBy), a.Required, a.Policy)
		}
		p.Rows = append(p.Rows, row)
		byPhase[strings.ToLower(row.Phase)]++
	}
	var parts []string
	for _, ph := range []string{"awaiting approval", "progressing", "paused", "pending", "blocked", "rollingback", "completed", "rolledback", "aborted", "failed", "not evaluated yet"} {
		if n := byPhase[ph]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, ph))
		}
	}
	p.Summary = strings.Join(parts, " · ")
	return p
}

// waitingForApproval says whether the engine holds the rollout until its revision has the
// approvals a GatePolicy asks for: the Approved condition is False (before the engine wrote it,
// approvals are fewer than required). Not once the rollout has ended, fails, is blocked or rolls
// back: the engine no longer waits then, and leaves the condition as it was.
func waitingForApproval(ro *fleetv1alpha1.Rollout) bool {
	st := &ro.Status
	// A blocked rollout waits for another to release its group first.
	if st.Approvals == nil || !st.Phase.Forward() || st.Phase == fleetv1alpha1.RolloutBlocked {
		return false
	}
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionApproved); c != nil {
		return c.Status == metav1.ConditionFalse
	}
	return int32(len(st.Approvals.ApprovedBy)) < st.Approvals.Required
}

// approvalOf is what a rollout's page says of its approvals; nil when no GatePolicy asks for any.
func approvalOf(ro *fleetv1alpha1.Rollout) *approvalView {
	st := &ro.Status
	a := st.Approvals
	if a == nil {
		return nil
	}
	n, by := len(a.ApprovedBy), strings.Join(a.ApprovedBy, ", ")
	if waitingForApproval(ro) {
		v := &approvalView{Waiting: true,
			Text: fmt.Sprintf("revision %s has %d of %d approvals required by GatePolicy %s", cmp.Or(st.Revision, "-"), n, a.Required, a.Policy)}
		if n > 0 {
			v.Text += " (approved by " + by + ")"
		}
		if a.Author != "" {
			v.Text += "; " + a.Author + " wrote it and cannot approve it"
		} else {
			v.Text += "; it has no recorded author (its config changed outside the Rollout), so any user may approve it"
		}
		// --revision binds the approval to the revision shown: a config changed since is refused.
		cmd := "kubectl ampora approve " + ro.Name
		if st.Revision != "" {
			cmd += " --revision " + st.Revision
		}
		v.Hint = "Review the config diff, then approve with: " + cmd + " -n " + ro.Namespace
		return v
	}
	approved := int32(n) >= a.Required
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionApproved); c != nil {
		approved = c.Status == metav1.ConditionTrue
	}
	if approved {
		return &approvalView{Text: fmt.Sprintf("Approved by %s (%d required by GatePolicy %s)", by, a.Required, a.Policy)}
	}
	v := &approvalView{Text: fmt.Sprintf("Approvals: %d of %d required by GatePolicy %s", n, a.Required, a.Policy)}
	if n > 0 {
		v.Text += " (approved by " + by + ")"
	}
	return v
}

func pauseMessage(p *fleetv1alpha1.PauseDetail) string {
	if p.Message != "" {
		return p.Message
	}
	return string(p.Reason)
}

// rolloutPage is a rollout's page.
type rolloutPage struct {
	chrome
	NS, Name, URL     string
	Group             string
	Phase, PhaseClass string
	PhaseDetail       string
	Message           string
	Revision          string
	Previous          string
	Started           string
	StartedAbs        string
	Note              string

	Pause    *pauseView
	Approval *approvalView

	BatchTitle  string
	BatchDetail string
	Plan        string
	Overall     stackBar
	OverallText string
	Admitted    int32
	BatchHead   string
	States      []stateRow

	Throughput throughputView
	Failed     failedView
	Diff       *diffView
	Gates      string
	Conditions []conditionRow
	Events     []eventRow
	EventsErr  string
}

type pauseView struct {
	Gate, Message       string
	Observed, Threshold string
	Batch               int32
	Since, SinceAbs     string
	Hint                string
}

// approvalView is a box while approvals are missing (Waiting), else one line.
type approvalView struct {
	Waiting    bool
	Text, Hint string
}

type stateRow struct {
	Key, Label   string
	Total, Batch string
	Class, W     string
}

type throughputView struct {
	Current string
	Detail  string
	Chart   chartView
}

type failedView struct {
	Summary string
	Rows    []agentRow
	More    int
	Notes   []string
	Command string
}

type agentRow struct {
	UID, URL          string
	State, StateClass string
	Version, Host     string
	Message           string
}

type diffView struct {
	Summary   string
	From, To  string
	Lines     []diffLine
	Truncated bool
}

type diffLine struct {
	Mark, Class, Text string
}

type conditionRow struct {
	Type, Status, Reason, Message string
	Class                         string
}

type eventRow struct {
	Type, TypeClass, Reason, Message string
	Count                            int32
	Age, When                        string
}

// rolloutView builds the rollout page from the rollout, what the dashboard sampled of its
// throughput, the failed agents and its Events.
func rolloutView(c chrome, ro *fleetv1alpha1.Rollout, sr *series, failed failedView, events []corev1.Event, eventsErr string, now time.Time) rolloutPage {
	st := &ro.Status
	p := rolloutPage{
		chrome: c, NS: ro.Namespace, Name: ro.Name, URL: rolloutURL(ro.Namespace, ro.Name), Group: ro.Spec.AgentGroup,
		Phase: present.Phase(ro.Status.Phase), PhaseClass: phaseClass(st.Phase), Message: st.Message,
		Revision: cmp.Or(st.Revision, "-"), Previous: st.PreviousRevision, Failed: failed,
	}
	if st.Pause != nil && st.Phase == fleetv1alpha1.RolloutPaused {
		p.PhaseDetail = string(st.Pause.Reason)
	}
	if st.StartedAt != nil {
		p.Started, p.StartedAbs = present.Ago(now, st.StartedAt.Time), stamp(st.StartedAt.Time)
	}
	if st.ObservedGeneration != ro.Generation {
		p.Note = fmt.Sprintf("The engine has not seen the latest spec yet (generation %d, observed %d).", ro.Generation, st.ObservedGeneration)
	}
	if pd := st.Pause; pd != nil && st.Phase == fleetv1alpha1.RolloutPaused {
		p.Pause = &pauseView{Gate: string(pd.Gate), Message: pauseMessage(pd), Observed: pd.Observed, Threshold: pd.Threshold,
			Batch: pd.Batch, Since: present.Ago(now, pd.Since.Time), SinceAbs: stamp(pd.Since.Time)}
		if pd.Reason == fleetv1alpha1.PauseManual {
			p.Pause.Hint = fmt.Sprintf("Paused by spec.paused. Continue with: kubectl ampora resume %s -n %s", ro.Name, ro.Namespace)
		} else {
			p.Pause.Hint = fmt.Sprintf("Investigate with: kubectl ampora why %s -n %s · continue with: kubectl ampora resume %s -n %s (or retry, rollback, abort)",
				ro.Name, ro.Namespace, ro.Name, ro.Namespace)
		}
	}

	if p.Approval = approvalOf(ro); p.Approval != nil && p.Approval.Waiting {
		p.PhaseDetail = "awaiting approval"
		// The engine's message says what the box says.
		if strings.HasPrefix(p.Message, "waiting for approval:") {
			p.Message = ""
		}
	}

	p.BatchTitle, p.BatchDetail = batchTitle(st, now)
	if len(st.Plan) > 0 {
		sizes := make([]string, len(st.Plan))
		for i, n := range st.Plan {
			sizes[i] = fmt.Sprint(n)
		}
		p.Plan = strings.Join(sizes, ", ")
		if len(sizes) > 12 {
			p.Plan = strings.Join(sizes[:6], ", ") + ", …, " + strings.Join(sizes[len(sizes)-3:], ", ")
		}
	}
	p.Overall = overallBar(st)
	den := denominator(st)
	p.OverallText = fmt.Sprintf("%d of %d agents applied (%.0f %%)", st.Counts.Applied, den, pct(st.Counts.Applied, den))
	if st.GroupSize > 0 {
		p.OverallText += fmt.Sprintf("; group of %d when the revision started", st.GroupSize)
	}
	p.Admitted = st.Counts.Targeted
	if st.CurrentBatch != nil {
		p.BatchHead = fmt.Sprintf("batch %d", st.CurrentBatch.Number)
	}
	for _, d := range states {
		total := st.Counts.Of(d.State)
		if !d.always && total == 0 {
			continue
		}
		row := stateRow{Key: d.Key, Label: d.Label, Total: fmt.Sprint(total), Class: d.Key, W: num(pct(total, st.Counts.Targeted))}
		if st.CurrentBatch != nil {
			row.Batch = fmt.Sprint(st.BatchCounts.Of(d.State))
		}
		p.States = append(p.States, row)
	}

	p.Throughput = throughputView{Current: fmt.Sprint(st.AppliesPerMinute), Chart: sr.chart(now)}
	var detail []string
	if p.Throughput.Chart.Last != "" {
		detail = append(detail, p.Throughput.Chart.Last+"/min measured over the last minute")
	}
	switch {
	case st.Phase == fleetv1alpha1.RolloutCompleted && st.CompletedAt != nil && st.StartedAt != nil:
		detail = append(detail, "took "+st.CompletedAt.Sub(st.StartedAt.Time).Round(time.Second).String())
	case st.Phase == fleetv1alpha1.RolloutPaused:
		detail = append(detail, "no ETA while paused")
	case st.EstimatedCompletionTime != nil:
		detail = append(detail, "ETA "+present.Ago(now, st.EstimatedCompletionTime.Time))
	}
	p.Throughput.Detail = strings.Join(detail, " · ")

	if d := st.Diff; d != nil {
		p.Diff = diffViewOf(d, st.Revision)
	}
	if g := st.EffectiveGates; g != nil {
		p.Gates = gates.Summary(*g, " · ")
	}
	for _, t := range []string{fleetv1alpha1.ConditionReady, fleetv1alpha1.ConditionReconciling, fleetv1alpha1.ConditionStalled, fleetv1alpha1.ConditionPaused,
		fleetv1alpha1.ConditionApproved} {
		if cnd := meta.FindStatusCondition(st.Conditions, t); cnd != nil {
			cls := "muted"
			switch {
			case t == fleetv1alpha1.ConditionReady && cnd.Status == metav1.ConditionTrue:
				cls = "ok"
			case t == fleetv1alpha1.ConditionStalled && cnd.Status == metav1.ConditionTrue:
				cls = "bad"
			case t == fleetv1alpha1.ConditionApproved && cnd.Status == metav1.ConditionTrue:
				cls = "ok"
			case t == fleetv1alpha1.ConditionApproved:
				cls = "paused"
			}
			p.Conditions = append(p.Conditions, conditionRow{Type: cnd.Type, Status: string(cnd.Status), Reason: cnd.Reason, Message: cnd.Message, Class: cls})
		}
	}
	p.Events, p.EventsErr = eventRows(events, now), eventsErr
	return p
}

func batchTitle(st *fleetv1alpha1.RolloutStatus, now time.Time) (string, string) {
	b := st.CurrentBatch
	if b == nil {
		if len(st.Plan) > 0 {
			return fmt.Sprintf("Batch 0 of %d", len(st.Plan)), "no batch has started yet"
		}
		return "No batch yet", "the plan is made when batch 1 starts"
	}
	title := fmt.Sprintf("Batch %d of %d", b.Number, len(st.Plan))
	detail := fmt.Sprintf("%s, %d agents", b.Phase, b.Size)
	switch {
	case b.Phase == fleetv1alpha1.BatchBaking && b.BakeUntil != nil:
		detail += ", baking until " + present.Ago(now, b.BakeUntil.Time)
	case b.FinishedAt != nil:
		detail += ", finished " + present.Ago(now, b.FinishedAt.Time)
	case b.StartedAt != nil:
		detail += ", started " + present.Ago(now, b.StartedAt.Time)
	}
	return title, detail
}

func diffViewOf(d *fleetv1alpha1.ConfigDiff, rev string) *diffView {
	v := &diffView{Summary: d.Summary, From: d.FromRevision, To: rev, Truncated: d.Truncated}
	if v.Summary == "" {
		v.Summary = "no change"
	}
	for _, e := range d.Added {
		v.Lines = append(v.Lines, diffLine{Mark: "+", Class: "added", Text: e})
	}
	for _, e := range d.Removed {
		v.Lines = append(v.Lines, diffLine{Mark: "−", Class: "removed", Text: e})
	}
	for _, e := range d.Changed {
		v.Lines = append(v.Lines, diffLine{Mark: "~", Class: "changed", Text: e})
	}
	return v
}

// maxEvents bounds the events shown, newest first.
const maxEvents = 50

func eventTime(e *corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	if e.EventTime.After(t) {
		t = e.EventTime.Time
	}
	if t.IsZero() {
		t = e.CreationTimestamp.Time
	}
	return t
}

func eventRows(events []corev1.Event, now time.Time) []eventRow {
	evs := append([]corev1.Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(&evs[i]).After(eventTime(&evs[j])) })
	if len(evs) > maxEvents {
		evs = evs[:maxEvents]
	}
	rows := make([]eventRow, 0, len(evs))
	for i := range evs {
		e := &evs[i]
		count := e.Count
		if e.Series != nil {
			count = max(count, e.Series.Count)
		}
		cls := "muted"
		if e.Type == corev1.EventTypeWarning {
			cls = "warning"
		}
		t := eventTime(e)
		rows = append(rows, eventRow{Type: e.Type, TypeClass: cls, Reason: e.Reason, Message: e.Message,
			Count: max(count, 1), Age: present.Ago(now, t), When: stamp(t)})
	}
	return rows
}

// maxFailedRows bounds the failed agents listed on a rollout's page.
const maxFailedRows = 50

// failedFromAPI lists what the read API answered.
func failedFromAPI(ro *fleetv1alpha1.Rollout, res readapi.Result, replicas int) failedView {
	agents := append([]readapi.Agent(nil), res.Agents...)
	slices.SortStableFunc(agents, func(a, b readapi.Agent) int {
		return fleetv1alpha1.CompareProblems(a.State, a.InstanceUID, b.State, b.InstanceUID)
	})
	v := failedView{Command: fmt.Sprintf("kubectl ampora agents %s -n %s --state failed", ro.Name, ro.Namespace)}
	for i, a := range agents {
		if i == maxFailedRows {
			v.More = len(agents) - i
			break
		}
		msg := a.Message
		if msg == "" {
			msg = a.StatusError
		}
		v.Rows = append(v.Rows, agentRow{UID: a.InstanceUID, URL: agentURL(ro.Namespace, ro.Name, a.InstanceUID, a.State),
			State: string(a.State), StateClass: stateKey(a.State), Version: cmp.Or(a.ServiceVersion, "-"), Host: cmp.Or(a.HostName, "-"), Message: msg})
	}
	v.Summary = fmt.Sprintf("%d, from the sidecars' read API (%d of %d replicas answered)", len(agents), res.Answered, replicas)
	for _, p := range res.Problems {
		v.Notes = append(v.Notes, "read API: "+p)
	}
	return v
}

// failedFromStatus lists the bounded sample the rollout's status keeps.
func failedFromStatus(ro *fleetv1alpha1.Rollout, why []string) failedView {
	v := failedView{Notes: why}
	for _, a := range ro.Status.FailedAgents {
		v.Rows = append(v.Rows, agentRow{UID: a.InstanceUID, URL: agentURL(ro.Namespace, ro.Name, a.InstanceUID, a.State),
			State: string(a.State), StateClass: stateKey(a.State), Version: cmp.Or(a.ServiceVersion, "-"), Host: cmp.Or(a.HostName, "-"), Message: a.Message})
	}
	v.Summary = fmt.Sprintf("sample of %d from the rollout's status", len(v.Rows))
	return v
}

// agentPage shows one agent of a rollout.
type agentPage struct {
	chrome
	NS, Rollout, RolloutURL string
	UID                     string
	State, StateClass       string
	ApplyError              string
	Facts                   []kv
	Health, HealthClass     string
	HealthError             string
	Attributes              []kv
	Notes                   []string
}

type kv struct{ K, V string }

func agentView(c chrome, ro *fleetv1alpha1.Rollout, a *readapi.Agent, now time.Time) agentPage {
	p := agentPage{chrome: c, NS: ro.Namespace, Rollout: ro.Name, RolloutURL: rolloutURL(ro.Namespace, ro.Name), UID: a.InstanceUID,
		State: string(a.State), StateClass: stateKey(a.State)}
	p.ApplyError = a.StatusError
	if p.ApplyError == "" && a.State == fleetv1alpha1.AgentFailed {
		p.ApplyError = a.Message
	}
	add := func(k, v string) {
		if v != "" {
			p.Facts = append(p.Facts, kv{k, v})
		}
	}
	add("version", cmp.Or(a.ServiceVersion, "-"))
	add("service", a.ServiceName)
	add("host", a.HostName)
	add("state", cmp.Or(string(a.State), "-"))
	if a.Message != p.ApplyError {
		add("state message", a.Message)
	}
	if a.Status != "" {
		s := a.Status
		if a.StatusHash != "" {
			h := a.StatusHash
			if len(h) > 12 {
				h = h[:12]
			}
			s += " for config " + h
			if a.StatusHash == ro.Status.ConfigHash {
				s += " (this revision)"
			}
		}
		add("remote config status", s)
	}
	session := "disconnected"
	if a.Connected {
		session = "connected to " + cmp.Or(a.Replica, "-")
		if a.Transport != "" {
			session += " over " + a.Transport
		}
		if a.ConnectedSince != nil {
			session += ", since " + present.Ago(now, *a.ConnectedSince)
		}
	} else if a.DisconnectedAt != nil {
		session += " " + present.Ago(now, *a.DisconnectedAt) + " (last on " + cmp.Or(a.Replica, "-") + ")"
	}
	add("session", session)
	if a.RecentDrops > 0 {
		drops := fmt.Sprintf("%d recent disconnects", a.RecentDrops)
		if a.Flapping {
			drops += ", flapping"
		}
		add("reconnects", drops)
	}
	add("capabilities", fmt.Sprintf("accepts remote config: %s · reports remote config status: %s", yesNo(a.AcceptsConfig), yesNo(a.ReportsStatus)))
	if a.Rank != "" {
		batch := "an earlier batch"
		if a.InBatch {
			batch = "the current batch"
		}
		add("rank", a.Rank+", in "+batch)
	}
	if a.CertNotAfter != nil {
		add("client certificate", "expires "+present.Ago(now, *a.CertNotAfter))
	}
	switch {
	case a.Healthy == nil:
		p.Health, p.HealthClass = "not reported", "muted"
	case *a.Healthy:
		p.Health, p.HealthClass = "healthy", "ok"
	default:
		p.Health, p.HealthClass, p.HealthError = "unhealthy", "bad", a.HealthError
	}
	keys := make([]string, 0, len(a.Attributes))
	for k := range a.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.Attributes = append(p.Attributes, kv{k, a.Attributes[k]})
	}
	return p
}

// agentFromStatus is what the status sample says of an agent.
func agentFromStatus(ro *fleetv1alpha1.Rollout, uid string) *readapi.Agent {
	for _, f := range ro.Status.FailedAgents {
		if f.InstanceUID == uid {
			return &readapi.Agent{InstanceUID: uid, State: f.State, Message: f.Message, ServiceName: f.ServiceName,
				ServiceVersion: f.ServiceVersion, HostName: f.HostName}
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
