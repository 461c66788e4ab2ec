package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/plan"
	"github.com/ampora-io/ampora/internal/present"
)

// Exit codes of status, for CI.
const (
	exitCompleted  = 0
	exitFailed     = 1
	exitPaused     = 2
	exitTimedOut   = 3
	exitInProgress = 4
	exitNoRollout  = 5
	// exitInterrupted ends a --watch stopped by Ctrl-C, as shells report SIGINT.
	exitInterrupted = 130
)

func newStatusCmd(o *globalOptions) *cobra.Command {
	var watchFlag bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status ROLLOUT",
		Short: "Show a rollout's progress as a tree: batches, agent counts, throughput, pause",
		Long: `Show a rollout's progress as a tree: its phase and revision, batch X of Y, every batch
of the plan with its size and state (done, current, next), the agents by state in total and
for the current batch, throughput and ETA, and why it is paused.

With --watch, the tree is redrawn whenever the rollout's status changes, until the rollout
reaches Completed, Failed, RolledBack or Aborted, or pauses (a paused rollout waits for
someone); --timeout bounds the wait.

Exit codes, for CI:
  0  Completed
  1  Failed, RolledBack or Aborted
  2  Paused (by a gate or by spec.paused)
  3  --watch --timeout ran out before the rollout finished or paused
  4  still in progress (Pending, Progressing, RollingBack, Blocked), without --watch
  5  the rollout could not be read (not found, no access), or the command line is wrong

A phase counts only once the engine has seen the rollout's latest spec
(status.observedGeneration = metadata.generation).`,
		Example: `  kubectl ampora status gateways-batching -n demo
  kubectl ampora status gateways-batching -n demo --watch --timeout 30m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return &exitError{code: exitNoRollout, msg: "error: " + err.Error()}
			}
			return nil
		},
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout > 0 && !watchFlag {
				return &exitError{code: exitNoRollout, msg: "error: --timeout needs --watch"}
			}
			return runStatus(cmd.Context(), o, args[0], watchFlag, timeout)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitNoRollout, msg: "error: " + err.Error()}
	})
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "redraw on every change until the rollout finishes or pauses")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --watch, give up after this long (exit code 3); 0 waits for ever")
	return cmd
}

// outcome maps a rollout to the exit code of status, and says whether --watch stops there.
func outcome(ro *fleetv1alpha1.Rollout) (code int, done bool) {
	if ro.Status.ObservedGeneration != ro.Generation || ro.Annotations[fleetv1alpha1.AnnotationAction] != "" {
		// The engine has yet to see the latest spec, or to carry out a requested action.
		return exitInProgress, false
	}
	switch p := ro.Status.Phase; {
	case p == fleetv1alpha1.RolloutCompleted:
		return exitCompleted, true
	case p.EndedShort():
		return exitFailed, true
	case p == fleetv1alpha1.RolloutPaused:
		return exitPaused, true
	}
	return exitInProgress, false
}

func runStatus(ctx context.Context, o *globalOptions, name string, watchFlag bool, timeout time.Duration) error {
	ro, err := o.getRollout(ctx, name)
	if err != nil {
		return &exitError{code: exitNoRollout, msg: "error: " + err.Error()}
	}
	out := o.streams.Out
	show := func(ro *fleetv1alpha1.Rollout) {
		g, _ := o.getGroup(ctx, ro)
		var b bytes.Buffer
		renderStatus(&b, statusView{Rollout: ro, Group: g, Now: o.now()})
		_, _ = out.Write(b.Bytes())
	}
	if !watchFlag {
		show(ro)
		code, _ := outcome(ro)
		if code == exitCompleted {
			return nil
		}
		return &exitError{code: code}
	}

	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	c, err := o.client()
	if err != nil {
		return &exitError{code: exitNoRollout, msg: "error: " + err.Error()}
	}
	rw := &rolloutWatcher{c: c}
	defer rw.stop()
	tty := isTerminal(out)
	last := ""
	for {
		sig := fingerprint(ro)
		if tty {
			sig = ro.ResourceVersion
		}
		if sig != last {
			if tty {
				fmt.Fprint(out, "\x1b[H\x1b[2J")
			} else if last != "" {
				fmt.Fprintf(out, "\n--- %s\n", o.now().Format(time.RFC3339))
			}
			show(ro)
			last = sig
		}
		if code, done := outcome(ro); done {
			if code == exitCompleted {
				return nil
			}
			return &exitError{code: code}
		}
		next, err := rw.next(ctx, ro)
		if err != nil {
			switch {
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				return &exitError{code: exitTimedOut, msg: fmt.Sprintf("timed out after %s: rollout %s/%s is %s", timeout, ro.Namespace, ro.Name, cmp.Or(string(ro.Status.Phase), "-"))}
			case ctx.Err() != nil:
				return &exitError{code: exitInterrupted, msg: "interrupted"}
			}
			return &exitError{code: exitNoRollout, msg: "error: " + err.Error()}
		}
		ro = next
	}
}

// fingerprint is the part of a rollout that --watch redraws for when its output is not a
// terminal (a CI log): what the engine decides, not the timestamps and rates the engine and
// the sidecars refresh on every pass.
func fingerprint(ro *fleetv1alpha1.Rollout) string {
	st := ro.Status.DeepCopy()
	st.LastEvaluatedTime, st.Replicas = nil, nil
	st.AppliesPerMinute, st.EstimatedCompletionTime = 0, nil
	b, _ := json.Marshal(struct {
		Gen    int64
		Spec   fleetv1alpha1.RolloutSpec
		Status *fleetv1alpha1.RolloutStatus
	}{ro.Generation, ro.Spec, st})
	return string(b)
}

// rolloutWatcher follows one rollout's changes: through a watch, or by polling when watching
// is not allowed.
type rolloutWatcher struct {
	c       client.WithWatch
	w       watch.Interface
	polling bool
}

func (rw *rolloutWatcher) stop() {
	if rw.w != nil {
		rw.w.Stop()
		rw.w = nil
	}
}

// next waits until the rollout differs from cur (by resource version) and returns it.
func (rw *rolloutWatcher) next(ctx context.Context, cur *fleetv1alpha1.Rollout) (*fleetv1alpha1.Rollout, error) {
	for {
		if rw.polling {
			return rw.poll(ctx, cur)
		}
		if rw.w == nil {
			// A new watch starts with the object as it is now, so nothing is missed in between.
			w, err := rw.c.Watch(ctx, &fleetv1alpha1.RolloutList{}, client.InNamespace(cur.Namespace),
				client.MatchingFields{"metadata.name": cur.Name})
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				rw.polling = true
				continue
			}
			rw.w = w
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev, ok := <-rw.w.ResultChan():
			if !ok {
				rw.w = nil // the server ended the watch: start another
				continue
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if next, ok := ev.Object.(*fleetv1alpha1.Rollout); ok && next.ResourceVersion != cur.ResourceVersion {
					return next, nil
				}
			case watch.Deleted:
				return nil, fmt.Errorf("rollout %s/%s was deleted", cur.Namespace, cur.Name)
			case watch.Error:
				rw.stop()
				rw.polling = true
			}
		}
	}
}

// poll reads the rollout every two seconds until its resource version changes.
func (rw *rolloutWatcher) poll(ctx context.Context, cur *fleetv1alpha1.Rollout) (*fleetv1alpha1.Rollout, error) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		var fresh fleetv1alpha1.Rollout
		if err := rw.c.Get(ctx, client.ObjectKeyFromObject(cur), &fresh); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if fresh.ResourceVersion != cur.ResourceVersion {
			return &fresh, nil
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// statusView is what the status tree is drawn from.
type statusView struct {
	Rollout *fleetv1alpha1.Rollout
	// Group is the rollout's AgentGroup; nil when it could not be read.
	Group *fleetv1alpha1.AgentGroup
	Now   time.Time
}

// Widths of the tree's labels: top-level values and count columns line up.
const (
	topWidth   = 15
	childWidth = topWidth - 3
)

// renderStatus draws the status tree.
func renderStatus(w io.Writer, v statusView) {
	ro, now := v.Rollout, v.Now
	st := &ro.Status
	root := &tree{text: fmt.Sprintf("Rollout %s/%s: %s", ro.Namespace, ro.Name, phaseText(ro))}

	rev := "not started"
	if st.Revision != "" {
		rev = fmt.Sprintf("%s (previous: %s)", st.Revision, cmp.Or(st.PreviousRevision, "none"))
	}
	root.add("%s", label(topWidth, "Revision", "%s", rev))
	root.add("%s", label(topWidth, "Group", "%s", groupText(ro, v.Group)))

	batch := root.add("%s", label(topWidth, "Batch", "%s", batchText(st, now)))
	for _, row := range planRows(st) {
		batch.add("%s", row)
	}

	addCounts(root, st)

	if st.StartedAt != nil || st.AppliesPerMinute > 0 {
		root.add("%s", label(topWidth, "Throughput", "%s", throughputText(st, now)))
	}
	if p := st.Pause; p != nil {
		addPause(root, p, now)
	}
	if a := st.Approvals; a != nil {
		addApprovals(root, a)
	}
	if st.Message != "" {
		root.add("%s", label(topWidth, "Message", "%s", st.Message))
	}
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady); c != nil {
		root.add("%s", label(topWidth, "Ready", "%s (%s)", c.Status, c.Reason))
	}
	if a := st.LastAction; a != nil {
		root.add("%s", label(topWidth, "Last action", "%s by %s, %s", a.Action, cmp.Or(a.RequestedBy, "unknown user"), present.Ago(now, a.HandledAt.Time)))
	}
	if st.ObservedGeneration != ro.Generation {
		root.add("%s", label(topWidth, "Note", "the engine has not seen the latest spec yet (generation %d, observed %d)", ro.Generation, st.ObservedGeneration))
	}
	root.write(w)
}

func phaseText(ro *fleetv1alpha1.Rollout) string {
	p := present.Phase(ro.Status.Phase)
	if pd := ro.Status.Pause; ro.Status.Phase == fleetv1alpha1.RolloutPaused && pd != nil {
		return p + " (" + string(pd.Reason) + ")"
	}
	return p
}

func groupText(ro *fleetv1alpha1.Rollout, g *fleetv1alpha1.AgentGroup) string {
	s := ro.Spec.AgentGroup
	if g != nil {
		s += fmt.Sprintf(": %d matching, %d connected", g.Status.MatchingAgents, g.Status.ConnectedAgents)
	}
	if ro.Status.GroupSize > 0 {
		s += fmt.Sprintf(" (%s when the revision started)", plural(int(ro.Status.GroupSize), "agent", "agents"))
	}
	return s
}

func batchText(st *fleetv1alpha1.RolloutStatus, now time.Time) string {
	b := st.CurrentBatch
	if b == nil {
		if len(st.Plan) > 0 {
			return fmt.Sprintf("not started, %s planned", plural(len(st.Plan), "batch", "batches"))
		}
		return "not planned yet"
	}
	s := present.Batch(st) + ": " + string(b.Phase)
	if stopped(st.Phase) {
		s = present.Batch(st) + ", stopped while " + strings.ToLower(string(b.Phase))
	}
	switch {
	case b.Phase == fleetv1alpha1.BatchBaking && b.BakeUntil != nil && activePhase(st.Phase):
		s += ", baking until " + clock(now, b.BakeUntil.Time) + " (" + present.Ago(now, b.BakeUntil.Time) + ")"
	case b.FinishedAt != nil:
		s += ", finished " + present.Ago(now, b.FinishedAt.Time)
	case b.StartedAt != nil:
		s += ", started " + present.Ago(now, b.StartedAt.Time)
	}
	return s
}

// batchState says where batch n (from 1) of the plan stands.
func batchState(st *fleetv1alpha1.RolloutStatus, n int) string {
	if st.Phase == fleetv1alpha1.RolloutCompleted {
		return "done"
	}
	cur := 0
	if st.CurrentBatch != nil {
		cur = int(st.CurrentBatch.Number)
	}
	switch {
	case n < cur:
		return "done"
	case n == cur && st.CurrentBatch.Phase == fleetv1alpha1.BatchDone:
		return "done"
	case n == cur && stopped(st.Phase):
		return "stopped"
	case n == cur:
		return "current"
	case stopped(st.Phase):
		return "not started"
	}
	return "next"
}

// stopped says whether the rollout will start no further batch: it ended short of completion,
// or is rolling back.
func stopped(p fleetv1alpha1.RolloutPhase) bool {
	return !p.Forward() && p != fleetv1alpha1.RolloutCompleted
}

// maxPlanRows is how many batches are listed one by one; longer plans show the first, the
// last and those around the current batch, and fold the rest.
const maxPlanRows = 10

// planRows lists the batches of the plan with size, cumulative total and state.
func planRows(st *fleetv1alpha1.RolloutStatus) []string {
	n := len(st.Plan)
	if n == 0 {
		return nil
	}
	cum := plan.Cumulative(st.Plan)
	cur := 0
	if st.CurrentBatch != nil {
		cur = int(st.CurrentBatch.Number)
	}
	visible := func(i int) bool {
		if n <= maxPlanRows {
			return true
		}
		c := cur
		if c == 0 {
			c = 1
		}
		return i == 1 || i == n || (i >= c-2 && i <= c+2)
	}
	type row struct {
		label     string
		size, cum int64
		state     string
	}
	var rows []row
	for i := 1; i <= n; i++ {
		if visible(i) {
			rows = append(rows, row{fmt.Sprintf("batch %d", i), int64(st.Plan[i-1]), int64(cum[i-1]), batchState(st, i)})
			continue
		}
		j := i
		var sum int64
		for j <= n && !visible(j) {
			sum += int64(st.Plan[j-1])
			j++
		}
		rows = append(rows, row{fmt.Sprintf("batches %d-%d", i, j-1), sum, int64(cum[j-2]), batchState(st, i)})
		i = j - 1
	}
	labelW, sizeW, cumW := childWidth, 0, 0
	for _, r := range rows {
		labelW, sizeW, cumW = max(labelW, len(r.label)), max(sizeW, len(fmt.Sprint(r.size))), max(cumW, len(fmt.Sprint(r.cum)))
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		unit := "agents"
		if r.size == 1 {
			unit = "agent"
		}
		out[i] = fmt.Sprintf("%-*s %*d %-6s  %*d cumulative  %s", labelW, r.label, sizeW, r.size, unit, cumW, r.cum, r.state)
	}
	return out
}

func maxInt32(s []int32) int32 {
	var m int32
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// countRows are the agent states in the order status shows them.
var countRows = []struct {
	name string
	get  func(fleetv1alpha1.AgentCounts) int32
}{
	{"targeted", func(c fleetv1alpha1.AgentCounts) int32 { return c.Targeted }},
	{"pending", func(c fleetv1alpha1.AgentCounts) int32 { return c.Pending }},
	{"applying", func(c fleetv1alpha1.AgentCounts) int32 { return c.Applying }},
	{"applied", func(c fleetv1alpha1.AgentCounts) int32 { return c.Applied }},
	{"unhealthy", func(c fleetv1alpha1.AgentCounts) int32 { return c.Unhealthy }},
	{"failed", func(c fleetv1alpha1.AgentCounts) int32 { return c.Failed }},
	{"disconnected", func(c fleetv1alpha1.AgentCounts) int32 { return c.Disconnected }},
	{"timed out", func(c fleetv1alpha1.AgentCounts) int32 { return c.TimedOut }},
	{"incompatible", func(c fleetv1alpha1.AgentCounts) int32 { return c.Incompatible }},
	{"denied", func(c fleetv1alpha1.AgentCounts) int32 { return c.Denied }},
	{"unverifiable", func(c fleetv1alpha1.AgentCounts) int32 { return c.Unverifiable }},
}

// addCounts adds the agents by state, in total and, while there is a batch, for it.
func addCounts(root *tree, st *fleetv1alpha1.RolloutStatus) {
	totalW := len("total")
	for _, r := range countRows {
		totalW = max(totalW, len(fmt.Sprint(r.get(st.Counts))))
	}
	if st.CurrentBatch == nil {
		n := root.add("%-*s %*s", topWidth, "Agents", totalW, "total")
		for _, r := range countRows {
			n.add("%-*s %*d", childWidth, r.name, totalW, r.get(st.Counts))
		}
		return
	}
	head := fmt.Sprintf("batch %d", st.CurrentBatch.Number)
	batchW := len(head)
	n := root.add("%-*s %*s  %*s", topWidth, "Agents", totalW, "total", batchW, head)
	for _, r := range countRows {
		n.add("%-*s %*d  %*d", childWidth, r.name, totalW, r.get(st.Counts), batchW, r.get(st.BatchCounts))
	}
}

func throughputText(st *fleetv1alpha1.RolloutStatus, now time.Time) string {
	s := fmt.Sprintf("%d applied/min", st.AppliesPerMinute)
	if st.GroupSize > 0 {
		s += fmt.Sprintf(", %d of %d applied", st.Counts.Applied, st.GroupSize)
	}
	switch {
	case st.Phase == fleetv1alpha1.RolloutCompleted && st.CompletedAt != nil && st.StartedAt != nil:
		s += ", took " + st.CompletedAt.Sub(st.StartedAt.Time).Round(time.Second).String()
	case st.Phase == fleetv1alpha1.RolloutPaused:
		s += ", no ETA while paused"
	case !activePhase(st.Phase) || stopped(st.Phase):
	case st.CurrentBatch != nil && st.CurrentBatch.Phase == fleetv1alpha1.BatchBaking && st.CurrentBatch.BakeUntil != nil &&
		(st.EstimatedCompletionTime == nil || st.EstimatedCompletionTime.Before(st.CurrentBatch.BakeUntil)):
		s += ", ETA after baking ends at " + clock(now, st.CurrentBatch.BakeUntil.Time)
	case st.EstimatedCompletionTime != nil && !st.EstimatedCompletionTime.After(now):
		s += ", ETA " + clock(now, st.EstimatedCompletionTime.Time) + " (overdue)"
	case st.EstimatedCompletionTime != nil:
		t := st.EstimatedCompletionTime.Time
		s += ", ETA " + clock(now, t) + " (" + present.Ago(now, t) + ")"
	default:
		s += ", no ETA"
	}
	return s
}

// addApprovals shows what approvals the revision has and needs, and who may not give one.
func addApprovals(root *tree, a *fleetv1alpha1.ApprovalStatus) {
	n := root.add("%s", label(topWidth, "Approvals", "%d of %d, required by GatePolicy %s", len(a.ApprovedBy), a.Required, a.Policy))
	if len(a.ApprovedBy) > 0 {
		n.add("%s", label(childWidth, "approved by", "%s", strings.Join(a.ApprovedBy, ", ")))
	}
	if a.Author != "" {
		n.add("%s", label(childWidth, "author", "%s (cannot approve)", a.Author))
	}
}

func addPause(root *tree, p *fleetv1alpha1.PauseDetail, now time.Time) {
	n := root.add("%s", label(topWidth, "Paused", "%s", cmp.Or(p.Message, string(p.Reason))))
	if p.Gate != "" {
		n.add("%s", label(childWidth, "gate", "%s", p.Gate))
	}
	if p.Observed != "" || p.Threshold != "" {
		n.add("%s", label(childWidth, "observed", "%s (threshold %s)", cmp.Or(p.Observed, "-"), cmp.Or(p.Threshold, "-")))
	}
	if p.Batch > 0 {
		n.add("%s", label(childWidth, "batch", "%d", p.Batch))
	}
	n.add("%s", label(childWidth, "since", "%s (%s)", clock(now, p.Since.Time), present.Ago(now, p.Since.Time)))
}
