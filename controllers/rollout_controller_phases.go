package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/gates"
	"github.com/ampora-io/ampora/internal/plan"
	"github.com/ampora-io/ampora/internal/revision"
)

// maxHistory bounds an AgentGroup's revision history.
const maxHistory = 10

func statusEqual(a, b fleetv1alpha1.RolloutStatus) bool {
	a.LastEvaluatedTime, b.LastEvaluatedTime = nil, nil
	return equality.Semantic.DeepEqual(a, b)
}

// handleAction carries out the action a user asked for with the fleet.ampora.io/action
// annotation, records it, and removes the annotation. Actions never touch spec.
func (r *RolloutReconciler) handleAction(ctx context.Context, s *scope) (ctrl.Result, error) {
	ro := s.ro
	action := fleetv1alpha1.RolloutAction(ro.Annotations[fleetv1alpha1.AnnotationAction])
	if action == "" {
		return ctrl.Result{}, nil
	}
	by := ro.Annotations[fleetv1alpha1.AnnotationActionRequestedBy]
	if by == "" {
		by = "unknown user"
	}
	st := &ro.Status
	now := metav1.NewTime(s.now.Truncate(time.Second))
	switch action {
	case fleetv1alpha1.ActionResume:
		if st.Phase == fleetv1alpha1.RolloutPaused && st.Pause != nil && gatePause(st.Pause) {
			// The user accepted the batch as it is; later batches meet the gates as they are now.
			st.Pause = nil
			st.Phase = fleetv1alpha1.RolloutProgressing
			if st.CurrentBatch != nil {
				st.CurrentBatch.Phase = fleetv1alpha1.BatchDone
			}
		}
		r.Events.Normal(ro, "Resumed", "Resume", "resume requested by %s", by)
	case fleetv1alpha1.ActionAbort:
		if !st.Phase.Terminal() {
			st.Phase, st.Pause, st.CompletedAt = fleetv1alpha1.RolloutAborted, nil, &now
			st.Message = "aborted by " + by + "; agents keep the config they run"
		}
		r.Events.Warning(ro, "Aborted", "Abort", "abort requested by %s", by)
	case fleetv1alpha1.ActionRollback:
		if st.CurrentBatch == nil || st.Phase == fleetv1alpha1.RolloutRolledBack {
			break
		}
		// A rollback returns agents to what ran before this revision; a Rollout whose revision
		// is no longer what its group runs (another rollout came after it) has nothing to undo:
		// rolling it back would push an old config that nobody approved for now.
		if current, err := r.stillCurrent(ctx, ro); err != nil {
			return ctrl.Result{}, err
		} else if !current {
			r.Events.Warning(ro, "RollbackRefused", "Rollback", "rollback requested by %s refused: revision %s is no longer what group %s runs or rolls out", by, st.Revision, ro.Spec.AgentGroup)
			break
		}
		startRollback(st, now)
		r.Events.Warning(ro, "RollingBack", "Rollback", "rollback requested by %s", by)
	case fleetv1alpha1.ActionRetry:
		if st.CurrentBatch != nil && !st.Phase.Terminal() {
			if st.Pause != nil && gatePause(st.Pause) {
				st.Pause, st.Phase = nil, fleetv1alpha1.RolloutProgressing
			}
			st.CurrentBatch.Phase, st.CurrentBatch.StartedAt, st.CurrentBatch.FinishedAt = fleetv1alpha1.BatchPushing, &now, nil
		}
		r.Events.Normal(ro, "Retrying", "Retry", "retry of failed agents requested by %s", by)
	default:
		r.Events.Warning(ro, "UnknownAction", "Action", "unknown action %q requested by %s: use resume, abort, rollback or retry", action, by)
	}
	if action.Valid() {
		st.LastAction = &fleetv1alpha1.ActionRecord{Action: action, RequestedBy: truncate(by, maxRequestedByLen), HandledAt: now}
	}
	// The annotation goes once the status that records the action is written (see
	// Reconcile): a crash in between repeats the action rather than losing it.
	s.clearAction = true
	return ctrl.Result{}, nil
}

// clearAction removes the action annotation. It patches a copy: the answer must not
// overwrite the status in hand.
func (r *RolloutReconciler) clearAction(ctx context.Context, ro *fleetv1alpha1.Rollout) error {
	cp := ro.DeepCopy()
	patch := client.MergeFrom(cp.DeepCopy())
	delete(cp.Annotations, fleetv1alpha1.AnnotationAction)
	delete(cp.Annotations, fleetv1alpha1.AnnotationActionRequestedBy)
	return client.IgnoreNotFound(r.Client.Patch(ctx, cp, patch))
}

// loadConfig reads the config and checks it as the collector would. An invalid config stops
// here: no revision is stored for it, so no agent can receive it.
func (r *RolloutReconciler) loadConfig(ctx context.Context, s *scope) (ctrl.Result, error) {
	ro := s.ro
	body, missing, err := revision.Source(ctx, r.Client, ro.Namespace, ro.Spec.Config)
	if err != nil {
		return ctrl.Result{}, err
	}
	if missing != "" {
		s.stall(fleetv1alpha1.ReasonConfigNotFound, missing)
		return ctrl.Result{}, nil
	}
	s.body = body
	if _, err := collectorconfig.Validate(s.body); err != nil {
		msg := "invalid config: " + err.Error()
		if ro.Status.Phase != fleetv1alpha1.RolloutFailed || ro.Status.Message != msg {
			r.Events.Warning(ro, "ConfigInvalid", "Validate", "%s", msg)
		}
		ro.Status.Phase = fleetv1alpha1.RolloutFailed
		s.stall(fleetv1alpha1.ReasonInvalidConfig, msg)
		if err := r.releaseGroup(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		// Retrying cannot fix it: a new spec or ConfigMap (both watched) can.
		return ctrl.Result{}, reconcile.TerminalError(errors.New(msg))
	}
	s.hash = collectorconfig.Hash(s.body)
	return ctrl.Result{}, nil
}

// startRevision starts from batch 1 when the config's hash is new, storing the config as a
// revision the sidecars can push and recording its diff against the group's current one.
func (r *RolloutReconciler) startRevision(ctx context.Context, s *scope) (ctrl.Result, error) {
	ro := s.ro
	st := &ro.Status
	if st.ConfigHash == s.hash && (st.Phase != fleetv1alpha1.RolloutFailed || st.StartedAt != nil) {
		// The same revision: its stored config must still be the one it names.
		if ok, err := r.storeRevision(ctx, s); !ok || err != nil {
			return ctrl.Result{}, err
		}
		if st.Phase == fleetv1alpha1.RolloutFailed {
			// The same config, valid again (a ConfigMap came back): carry on.
			st.Phase = fleetv1alpha1.RolloutPending
		}
		return ctrl.Result{}, nil
	}
	if ok, err := r.storeRevision(ctx, s); !ok || err != nil {
		return ctrl.Result{}, err
	}
	var previous, previousHash string
	var previousSelector *fleetv1alpha1.AgentScope
	var g fleetv1alpha1.AgentGroup
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: ro.Spec.AgentGroup}, &g); err == nil {
		previous, previousHash = g.Status.CurrentRevision, g.Status.CurrentConfigHash
		if previousHash != "" {
			previousSelector = g.Status.CurrentSelector.DeepCopy()
		}
	}
	if st.ConfigHash != "" {
		r.Events.Normal(ro, "NewRevision", "Start", "config changed: revision %s replaces %s, starting again from batch 1",
			revision.Short(s.hash), revision.Short(st.ConfigHash))
	}
	now := metav1.NewTime(s.now.Truncate(time.Second))
	*st = fleetv1alpha1.RolloutStatus{
		ObservedGeneration: st.ObservedGeneration,
		Conditions:         st.Conditions,
		Replicas:           st.Replicas,
		LastAction:         st.LastAction,
		Phase:              fleetv1alpha1.RolloutPending,
		ConfigHash:         s.hash,
		Revision:           revision.Short(s.hash),
		PreviousRevision:   previous,
		PreviousConfigHash: previousHash,
		PreviousSelector:   previousSelector,
		StartedAt:          &now,
		Diff:               r.diff(ctx, ro.Namespace, previous, previousHash, s.body),
	}
	if st.Diff != nil {
		r.Events.Normal(ro, "ConfigDiff", "Diff", "revision %s against %s: %s", st.Revision, cmp.Or(previous, "no previous revision"), st.Diff.Summary)
	}
	return ctrl.Result{}, nil
}

// stillCurrent says whether ro's revision is what its group is running or being rolled out:
// ro drives the group, or the group's current revision is ro's and no other rollout holds it.
func (r *RolloutReconciler) stillCurrent(ctx context.Context, ro *fleetv1alpha1.Rollout) (bool, error) {
	var g fleetv1alpha1.AgentGroup
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: ro.Spec.AgentGroup}, &g); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if g.Status.ActiveRollout == ro.Name {
		return true, nil
	}
	if g.Status.ActiveRollout != "" {
		return false, nil
	}
	// Completed: this rollout delivered the group's current revision, and no other since.
	if h := g.Status.RevisionHistory; len(h) > 0 && h[0].Rollout == ro.Name && h[0].ConfigHash == ro.Status.ConfigHash &&
		g.Status.CurrentConfigHash == ro.Status.ConfigHash {
		return true, nil
	}
	// Aborted or released mid-way: the group still runs what this rollout started from.
	return !ro.Status.StartedAt.IsZero() && ro.Status.Phase != fleetv1alpha1.RolloutCompleted &&
		g.Status.CurrentConfigHash == ro.Status.PreviousConfigHash, nil
}

// storeRevision makes sure the config is stored under its full hash, holding exactly that
// config. It reports false after stalling the rollout when the stored revision holds anything
// else: nothing may be pushed from it, and retrying cannot mend it.
func (r *RolloutReconciler) storeRevision(ctx context.Context, s *scope) (bool, error) {
	_, err := revision.Get(ctx, r.Client, s.ro.Namespace, s.hash)
	if apierrors.IsNotFound(err) {
		err = r.Client.Create(ctx, revision.New(s.ro.Namespace, s.hash, s.body))
		if apierrors.IsAlreadyExists(err) {
			// Stored meanwhile, by another reconcile or by someone else: read what it holds.
			_, err = revision.Get(ctx, r.Client, s.ro.Namespace, s.hash)
		}
	}
	switch {
	case errors.Is(err, revision.ErrMismatch):
		msg := fmt.Sprintf("revision %s cannot be used: %v; delete ControllerRevision %s/%s to let the engine store it again",
			revision.Short(s.hash), err, s.ro.Namespace, revision.Name(s.hash))
		if s.ro.Status.Phase != fleetv1alpha1.RolloutFailed || s.ro.Status.Message != msg {
			r.Events.Warning(s.ro, string(fleetv1alpha1.ReasonRevisionMismatch), "Store", "%s", msg)
		}
		s.ro.Status.Phase = fleetv1alpha1.RolloutFailed
		s.stall(fleetv1alpha1.ReasonRevisionMismatch, msg)
		return false, r.releaseGroup(ctx, s)
	case err != nil:
		return false, fmt.Errorf("storing revision %s: %w", revision.Short(s.hash), err)
	}
	return true, nil
}

// diff compares the config with the stored config of the previous revision.
func (r *RolloutReconciler) diff(ctx context.Context, ns, previous, previousHash string, body []byte) *fleetv1alpha1.ConfigDiff {
	after, err := collectorconfig.Parse(body)
	if err != nil {
		return nil
	}
	var before *collectorconfig.Config
	if previousHash != "" {
		if d, err := revision.Get(ctx, r.Client, ns, previousHash); err == nil {
			before, _ = collectorconfig.Parse([]byte(d.Config))
		}
	}
	d := collectorconfig.Compare(before, after)
	// The summary grows with the kinds a config changes: cut to what status takes.
	out := &fleetv1alpha1.ConfigDiff{FromRevision: previous, Summary: truncate(d.Summary(), 256)}
	out.Added, out.Truncated = bounded(d.Added, out.Truncated)
	out.Removed, out.Truncated = bounded(d.Removed, out.Truncated)
	out.Changed, out.Truncated = bounded(d.Changed, out.Truncated)
	return out
}

// Bounds of status.diff's lists, as the CRD sets them.
const (
	maxDiffEntries  = 50
	maxDiffEntryLen = 256
)

// bounded cuts a diff list to what status accepts: at most maxDiffEntries entries of at most
// maxDiffEntryLen characters (a component's name alone may be 1024 bytes), and says whether
// anything was cut.
func bounded(s []string, truncated bool) ([]string, bool) {
	if len(s) > maxDiffEntries {
		s, truncated = s[:maxDiffEntries], true
	}
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = truncate(e, maxDiffEntryLen)
		truncated = truncated || out[i] != e
	}
	return out, truncated
}

// finishedRevision stops at a final phase, making sure the group is released.
func (r *RolloutReconciler) finishedRevision(ctx context.Context, s *scope) (ctrl.Result, error) {
	st := &s.ro.Status
	if !st.Phase.Terminal() {
		return ctrl.Result{}, nil
	}
	s.done = true
	switch st.Phase {
	case fleetv1alpha1.RolloutCompleted:
		s.health = health{reason: fleetv1alpha1.ReasonCompleted, message: st.Message}
	case fleetv1alpha1.RolloutRolledBack:
		s.health = health{reason: fleetv1alpha1.ReasonRolledBack, message: st.Message, stalled: true}
	case fleetv1alpha1.RolloutAborted:
		s.health = health{reason: fleetv1alpha1.ReasonAborted, message: st.Message, stalled: true}
	}
	return ctrl.Result{}, r.releaseGroup(ctx, s)
}

// claimGroup makes this Rollout the one that drives its AgentGroup; another active Rollout
// holding it blocks this one.
func (r *RolloutReconciler) claimGroup(ctx context.Context, s *scope) (ctrl.Result, error) {
	ro := s.ro
	var g fleetv1alpha1.AgentGroup
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: ro.Spec.AgentGroup}, &g)
	if apierrors.IsNotFound(err) {
		ro.Status.Phase = fleetv1alpha1.RolloutPending
		s.stall(fleetv1alpha1.ReasonGroupNotFound, fmt.Sprintf("AgentGroup %s not found", ro.Spec.AgentGroup))
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	s.group = &g
	holder := g.Status.ActiveRollout
	if holder == ro.Name {
		return ctrl.Result{}, nil
	}
	if holder != "" {
		var other fleetv1alpha1.Rollout
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: holder}, &other)
		if err == nil && other.Spec.AgentGroup == g.Name && !other.Status.Phase.Settled() {
			msg := fmt.Sprintf("AgentGroup %s is held by Rollout %s; this rollout starts when that one finishes", g.Name, holder)
			if ro.Status.Phase != fleetv1alpha1.RolloutBlocked {
				r.Events.Normal(ro, "Blocked", "Claim", "%s", msg)
			}
			ro.Status.Phase, ro.Status.Message = fleetv1alpha1.RolloutBlocked, msg
			s.health = health{reason: fleetv1alpha1.ReasonBlocked, message: msg}
			s.done = true
			return waiting, nil // the group's release is watched
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
	}
	patch := client.MergeFromWithOptions(g.DeepCopy(), client.MergeFromWithOptimisticLock{})
	g.Status.ActiveRollout = ro.Name
	if err := r.Client.Status().Patch(ctx, &g, patch); err != nil {
		if apierrors.IsConflict(err) {
			s.done = true // another rollout may have claimed it: look again soon
			return inFlight, nil
		}
		return ctrl.Result{}, err
	}
	if ro.Status.Phase == fleetv1alpha1.RolloutBlocked {
		ro.Status.Phase = fleetv1alpha1.RolloutPending
	}
	return ctrl.Result{}, nil
}

// releaseGroup gives the AgentGroup up when this Rollout holds it.
func (r *RolloutReconciler) releaseGroup(ctx context.Context, s *scope) error {
	var g fleetv1alpha1.AgentGroup
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.ro.Namespace, Name: s.ro.Spec.AgentGroup}, &g); err != nil {
		return client.IgnoreNotFound(err)
	}
	if g.Status.ActiveRollout != s.ro.Name {
		return nil
	}
	patch := client.MergeFromWithOptions(g.DeepCopy(), client.MergeFromWithOptimisticLock{})
	g.Status.ActiveRollout = ""
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, &g, patch))
}

// resolveGates works out the gate values in force, field by field, and keeps the policies
// that apply: the named one, the namespace's default and the operator's default.
func (r *RolloutReconciler) resolveGates(ctx context.Context, s *scope) (ctrl.Result, error) {
	ro := s.ro
	ps, err := approval.ReadPolicies(ctx, r.Client, ro, r.OperatorNamespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if ps.NamedMissing {
		s.stall(fleetv1alpha1.ReasonInvalidSpec, fmt.Sprintf("GatePolicy %s not found", ro.Spec.GatePolicyRef.Name))
		return ctrl.Result{}, nil
	}
	eff := ps.Gates(ro.Spec.Gates)
	ro.Status.EffectiveGates = &eff
	s.policies = ps
	return ctrl.Result{}, nil
}

// approve holds the rollout before its next batch until the revision has the approvals its
// policies ask for. A rollback needs none: it returns to what ran before.
func (r *RolloutReconciler) approve(_ context.Context, s *scope) (ctrl.Result, error) {
	ro := s.ro
	st := &ro.Status
	if st.Phase == fleetv1alpha1.RolloutRollingBack || st.Phase.Terminal() {
		return ctrl.Result{}, nil
	}
	prev := st.Approvals
	rec, _ := r.ApprovalKey.ReadSealed(ro.Annotations, approval.RolloutSubject(ro))
	st.Approvals = approvalsFor(s.policies.All(), s.group, rec, approval.RolloutDigest(&ro.Spec, st.ConfigHash, s.policies, s.group))
	setApproved(ro, st.Approvals)
	if st.Approvals == nil {
		liftApprovalHold(st)
		approvedSelector(s)
		return ctrl.Result{}, nil
	}
	a := st.Approvals
	for i, user := range a.ApprovedBy {
		if prev == nil || !slices.Contains(prev.ApprovedBy, user) {
			r.Events.Normal(ro, "Approved", "Approve", "%s approved revision %s (%d of %d)", user, st.Revision, i+1, a.Required)
		}
	}
	if int32(len(a.ApprovedBy)) >= a.Required {
		liftApprovalHold(st)
		approvedSelector(s)
		return ctrl.Result{}, nil
	}
	switch {
	case st.CurrentBatch == nil:
		st.Phase = fleetv1alpha1.RolloutPending
	case st.Pause == nil:
		// Mid-rollout the decision changed under the approvals: the sidecars offer a paused
		// rollout's config to no further agent, until it is approved again.
		r.Events.Warning(ro, "AwaitingApproval", "Approve", "the push decision changed and lacks approvals: no further agent is offered revision %s", st.Revision)
		st.Phase = fleetv1alpha1.RolloutPaused
		st.Pause = &fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseAwaitingApproval, Since: metav1.NewTime(s.now.Truncate(time.Second)),
			Batch: batchNumber(st), Message: "waiting for approval"}
	default:
		// Already paused (by a gate, by the user, or waiting for approval): that pause stays,
		// with what it says, and the rollout also waits for approval.
		st.Phase = fleetv1alpha1.RolloutPaused
	}
	st.Message = awaitingMessage(ro.Name, st.Revision, a)
	s.health = health{reason: fleetv1alpha1.ReasonAwaitingApproval, message: st.Message}
	s.done = true
	return waiting, nil // approvals come as annotations: watched
}

// approvedSelector records who the group selects (its selector and exclusions) as the
// approvals (if any) cover it now.
func approvedSelector(s *scope) {
	if s.group != nil {
		s.ro.Status.GroupSelector = s.group.Spec.Scope()
	}
}

// liftApprovalHold ends a pause that waited for approvals once none are missing.
func liftApprovalHold(st *fleetv1alpha1.RolloutStatus) {
	if p := st.Pause; p != nil && p.Reason == fleetv1alpha1.PauseAwaitingApproval {
		st.Pause, st.Phase = nil, fleetv1alpha1.RolloutProgressing
	}
}

// gatePause says whether a pause is a gate's, which resume and retry end.
func gatePause(p *fleetv1alpha1.PauseDetail) bool {
	return p.Reason == fleetv1alpha1.PauseGateBreach || p.Reason == fleetv1alpha1.PauseGateInconclusive
}

// observe sums what live sidecar replicas report about this revision.
func (r *RolloutReconciler) observe(ctx context.Context, s *scope) (ctrl.Result, error) {
	live, err := r.Replicas.Live(ctx, s.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	s.live = live
	st := &s.ro.Status
	if len(live) == 0 {
		s.stall(fleetv1alpha1.ReasonNoSidecar, "no OpAMP sidecar replica is live (no unexpired Lease ampora-opamp-* in the operator namespace)")
		return inFlight, nil // a replica's Lease is not watched
	}
	stamps := make([]entryStamp, len(st.Replicas))
	for i, rep := range st.Replicas {
		stamps[i] = entryStamp{rep.Replica, rep.ReportedAt.Time}
	}
	// The sidecars report on a rollout they serve, from its batch's start.
	if b := st.CurrentBatch; st.Phase.Serving() && b != nil && b.StartedAt != nil {
		s.silent = silentReplicas(stamps, live, b.StartedAt.Time, s.now, r.ReplicaReportTimeout)
	}
	s.obs = aggregate(st.Replicas, live, silentSet(s.silent), st.ConfigHash, st.CurrentBatch)
	// A throwaway object: the pass's own status must stay as read, so that its merge patch
	// leaves the sidecars' entries alone.
	if err := pruneEntries(ctx, r.Client, &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: s.ro.Namespace, Name: s.ro.Name}},
		stamps, live, s.now, r.ReplicaReportTimeout); err != nil {
		return ctrl.Result{}, err
	}
	prevApplied := st.Counts.Applied
	st.Counts, st.FailedAgents = s.obs.counts, s.obs.failed
	r.recordDenials(s)
	if s.obs.upToDate() {
		st.BatchCounts = s.obs.batch
	}
	// Every pass samples the applied count; the rate moves with the clock, so publishing it
	// only when the applied count moves (or with the evaluation heartbeat) keeps a write from
	// triggering the next write for ever.
	rate, known := r.rates.observe(client.ObjectKeyFromObject(s.ro), s.ro.UID, st.ConfigHash, st.Counts.Applied, s.now)
	if known && (st.Counts.Applied != prevApplied || st.LastEvaluatedTime == nil || s.now.Sub(st.LastEvaluatedTime.Time) >= evaluatedRefresh) {
		st.AppliesPerMinute = rate
		st.EstimatedCompletionTime = eta(st.AppliesPerMinute, st.GroupSize, st.Counts.Applied, s.now)
	}
	return ctrl.Result{}, nil
}

// recordDenials records a PushDenied Event per push policy with the number of agents it
// denies (counted in full by the sidecars) and those of the reported sample, again whenever
// that changes. (Events of one object, reason and action fold into one series, so one Event per
// agent would hide all but the first.)
func (r *RolloutReconciler) recordDenials(s *scope) {
	sample := map[string][]string{}
	for _, a := range s.obs.failed {
		if a.State == fleetv1alpha1.AgentDenied {
			p := strings.TrimPrefix(a.Message, "denied by push policy ")
			sample[p] = append(sample[p], a.InstanceUID)
		}
	}
	for policy, n := range s.obs.denied {
		uids := sample[policy]
		sort.Strings(uids)
		msg := fmt.Sprintf("push policy %s denies the push to %d agents", policy, n)
		if len(uids) > 0 {
			msg += ": " + strings.Join(uids, ", ")
			if more := int(n) - len(uids); more > 0 {
				msg += fmt.Sprintf(" and %d more", more)
			}
		}
		key := s.ro.Namespace + "/" + s.ro.Name + "/" + s.ro.Status.ConfigHash + "/" + policy
		if prev, ok := r.denied.Load(key); ok && prev.(string) == msg {
			continue
		}
		r.denied.Store(key, msg)
		r.Events.Warning(s.ro, "PushDenied", "Push", "%s", msg)
	}
}

// progress moves the rollout along its batches.
func (r *RolloutReconciler) progress(ctx context.Context, s *scope) (ctrl.Result, error) {
	ro := s.ro
	st := &ro.Status
	if st.Phase == fleetv1alpha1.RolloutRollingBack {
		return inFlight, r.rollingBack(ctx, s)
	}
	if ro.Spec.Paused {
		if st.Pause == nil {
			st.Pause = &fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseManual, Since: metav1.NewTime(s.now.Truncate(time.Second)),
				Batch: batchNumber(st), Message: "paused by spec.paused"}
			r.Events.Normal(ro, "Paused", "Pause", "paused by spec.paused")
		}
		st.Phase, st.Message = fleetv1alpha1.RolloutPaused, "paused by spec.paused; set it to false to continue"
		s.health = health{reason: fleetv1alpha1.ReasonManualPause, message: st.Message}
		return waiting, nil
	}
	if st.Pause != nil {
		if st.Pause.Reason == fleetv1alpha1.PauseManual {
			st.Pause = nil
			st.Phase = fleetv1alpha1.RolloutProgressing
			r.Events.Normal(ro, "Resumed", "Resume", "spec.paused is false")
		} else {
			st.Phase = fleetv1alpha1.RolloutPaused
			msg := st.Pause.Message
			if d := batchDetail(st.BatchCounts); d != "" {
				msg += " (batch " + fmt.Sprint(st.Pause.Batch) + ": " + d + ")"
			}
			st.Message = msg + `; resume with: kubectl annotate rollout ` + ro.Name + ` fleet.ampora.io/action=resume`
			s.health = health{reason: string(st.Pause.Reason), message: msg, stalled: true}
			return waiting, nil
		}
	}
	if st.CurrentBatch == nil {
		return inFlight, r.startFirstBatch(ctx, s)
	}
	b := st.CurrentBatch
	eff := *st.EffectiveGates
	switch b.Phase {
	case fleetv1alpha1.BatchPushing:
		deadline := b.StartedAt.Add(durationOr(eff.ProgressDeadline, 10*time.Minute))
		switch {
		case batchFinished(s.obs):
		case !s.now.Before(deadline):
			r.Events.Warning(ro, "ProgressDeadlineExceeded", "Evaluate", "batch %d did not finish within the progress deadline: %s",
				b.Number, cmp.Or(batchDetail(s.obs.batch), fmt.Sprintf("%d pending, %d applying", s.obs.batch.Pending, s.obs.batch.Applying)))
		default:
			st.Phase, st.Message = fleetv1alpha1.RolloutProgressing, progressMessage(st)
			return inFlight, nil
		}
		finished := metav1.NewTime(s.now.Truncate(time.Second))
		b.Phase, b.FinishedAt = fleetv1alpha1.BatchEvaluating, &finished
		fallthrough
	case fleetv1alpha1.BatchEvaluating:
		if !r.judge(s, eff) {
			return inFlight, nil
		}
		if bake := durationOr(eff.BakeTime, 0); bake > 0 {
			until := metav1.NewTime(s.now.Add(bake).Truncate(time.Second))
			b.Phase, b.BakeUntil = fleetv1alpha1.BatchBaking, &until
			st.Message = progressMessage(st)
			return inFlight, nil
		}
		b.Phase = fleetv1alpha1.BatchDone
	case fleetv1alpha1.BatchBaking:
		if !r.judge(s, eff) {
			return inFlight, nil
		}
		if s.now.Before(b.BakeUntil.Time) {
			st.Message = progressMessage(st)
			return inFlight, nil
		}
		b.Phase = fleetv1alpha1.BatchDone
	}
	// BatchDone: the next batch, or completion.
	r.Events.Normal(ro, "BatchCompleted", "Batch", "batch %d of %d completed: %d applied, %d failed",
		b.Number, len(st.Plan), st.BatchCounts.Applied, st.BatchCounts.Failed+st.BatchCounts.TimedOut)
	if int(b.Number) >= len(st.Plan) {
		return inFlight, r.complete(ctx, s)
	}
	return inFlight, r.startBatch(ctx, s, b.Number+1)
}

func batchNumber(st *fleetv1alpha1.RolloutStatus) int32 {
	if st.CurrentBatch == nil {
		return 0
	}
	return st.CurrentBatch.Number
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// judge evaluates the gates on the current batch; on a breach it pauses or rolls back, as
// the policy says, and returns false.
func (r *RolloutReconciler) judge(s *scope, eff fleetv1alpha1.EffectiveGates) bool {
	ro := s.ro
	st := &ro.Status
	res := gates.Evaluate(eff, s.obs.batch, s.obs.counts, s.obs.buckets)
	if len(s.silent) > 0 {
		// A bake waits for the silent replica until its end; a batch at its deadline does not.
		if b := st.CurrentBatch; b != nil && b.Phase == fleetv1alpha1.BatchBaking && b.BakeUntil != nil && s.now.Before(b.BakeUntil.Time) {
			st.Message = fmt.Sprintf("batch %d baking until %s; %s", b.Number, b.BakeUntil.UTC().Format(time.RFC3339), silenceMessage(s.silent))
			return false
		}
		res = gates.Unreported(len(s.silent), silenceMessage(s.silent))
	}
	gateEvaluations.WithLabelValues(string(cmp.Or(res.Gate, "all")), string(res.Outcome)).Inc()
	if res.Outcome == gates.Pass {
		return true
	}
	if res.Outcome == gates.Breach && eff.OnFailure == fleetv1alpha1.GateFailureRollback {
		startRollback(st, metav1.NewTime(s.now.Truncate(time.Second)))
		st.Message = res.Message + "; rolling back to " + cmp.Or(st.PreviousRevision, "no previous revision")
		r.Events.Warning(ro, "RollingBack", "Rollback", "gate breached on batch %d: %s; rolling back", batchNumber(st), res.Message)
		s.health = health{reason: fleetv1alpha1.ReasonRollingBack, message: st.Message}
		return false
	}
	st.Pause = pauseFor(res, batchNumber(st), s.now)
	st.Phase = fleetv1alpha1.RolloutPaused
	st.Message = res.Message + `; resume with: kubectl annotate rollout ` + ro.Name + ` fleet.ampora.io/action=resume`
	r.Events.Warning(ro, "Paused", "Pause", "batch %d: %s", batchNumber(st), res.Message)
	s.health = health{reason: string(st.Pause.Reason), message: res.Message, stalled: true}
	return false
}

// startFirstBatch sizes the group and plans the batches, then starts batch 1.
func (r *RolloutReconciler) startFirstBatch(ctx context.Context, s *scope) error {
	ro := s.ro
	st := &ro.Status
	ranks, err := r.Replicas.Ranks(ctx, s.live, ro.Namespace, ro.Spec.AgentGroup, st.ConfigHash, "", math.MaxInt32)
	if err != nil {
		return err
	}
	if len(ranks) == 0 {
		st.Phase = fleetv1alpha1.RolloutPending
		st.Message = fmt.Sprintf("no connected agent matches AgentGroup %s", ro.Spec.AgentGroup)
		s.health = health{reason: fleetv1alpha1.ReasonNoLiveSession, message: st.Message}
		return nil
	}
	p, err := plan.Plan(ro.Spec.Strategy, len(ranks))
	if err != nil {
		st.Phase = fleetv1alpha1.RolloutFailed
		s.stall(fleetv1alpha1.ReasonInvalidSpec, "cannot plan batches: "+err.Error())
		return nil
	}
	st.Plan, st.GroupSize = p, int32(len(ranks))
	return r.startBatch(ctx, s, 1)
}

// startBatch admits the next agents in rank order: it asks the live replicas for the ranks
// above the last cutoff and records the new cutoff, which every replica then reads.
func (r *RolloutReconciler) startBatch(ctx context.Context, s *scope, number int32) error {
	ro := s.ro
	st := &ro.Status
	var after string
	if st.CurrentBatch != nil {
		after = st.CurrentBatch.ToRank
	}
	size := int(st.Plan[number-1])
	ranks, err := r.Replicas.Ranks(ctx, s.live, ro.Namespace, ro.Spec.AgentGroup, st.ConfigHash, after, size)
	if err != nil {
		return err
	}
	if len(ranks) == 0 {
		// The agents the plan counted on are gone: nothing left to admit.
		return r.complete(ctx, s)
	}
	now := metav1.NewTime(s.now.Truncate(time.Second))
	st.CurrentBatch = &fleetv1alpha1.BatchStatus{Number: number, Size: int32(len(ranks)), FromRank: after,
		ToRank: ranks[len(ranks)-1], Phase: fleetv1alpha1.BatchPushing, StartedAt: &now}
	st.Phase = fleetv1alpha1.RolloutProgressing
	st.BatchProgress = fmt.Sprintf("%d/%d", number, len(st.Plan))
	st.BatchCounts = fleetv1alpha1.AgentCounts{}
	st.Message = progressMessage(st)
	r.Events.Normal(ro, "BatchStarted", "Batch", "batch %d of %d started: %d agents", number, len(st.Plan), len(ranks))
	return nil
}

// complete makes the revision the group's current one and releases the group.
func (r *RolloutReconciler) complete(ctx context.Context, s *scope) error {
	ro := s.ro
	st := &ro.Status
	now := metav1.NewTime(s.now.Truncate(time.Second))
	if err := r.setGroupRevision(ctx, s, st.Revision, st.ConfigHash, now); err != nil {
		return err
	}
	st.Phase, st.CompletedAt, st.Pause = fleetv1alpha1.RolloutCompleted, &now, nil
	st.Message = fmt.Sprintf("revision %s rolled out in %d batches: %d applied, %d failed, %d timed out",
		st.Revision, len(st.Plan), st.Counts.Applied, st.Counts.Failed, st.Counts.TimedOut)
	s.health = health{reason: fleetv1alpha1.ReasonCompleted, message: st.Message}
	r.Events.Normal(ro, "Completed", "Complete", "%s", st.Message)
	return nil
}

// startRollback turns the rollout back. Restarting the batch clock makes the sidecars'
// entries stale until they report on the rollback, so old reports cannot end it at once.
func startRollback(st *fleetv1alpha1.RolloutStatus, now metav1.Time) {
	st.Phase, st.Pause, st.CompletedAt = fleetv1alpha1.RolloutRollingBack, nil, nil
	st.CurrentBatch.StartedAt, st.CurrentBatch.FinishedAt = &now, nil
}

// rollingBack waits until the agents the rollout reached report the previous revision.
func (r *RolloutReconciler) rollingBack(ctx context.Context, s *scope) error {
	ro := s.ro
	st := &ro.Status
	c := s.obs.counts
	if st.PreviousConfigHash != "" {
		// The sidecars push nothing back from a stored revision that fails its check; say so.
		if _, err := revision.Get(ctx, r.Client, ro.Namespace, st.PreviousConfigHash); errors.Is(err, revision.ErrMismatch) {
			s.stall(fleetv1alpha1.ReasonRevisionMismatch, fmt.Sprintf("cannot roll back to %s: %v; no agent is sent it", st.PreviousRevision, err))
			return nil
		}
	}
	if !s.obs.upToDate() || c.Pending+c.Applying > 0 {
		st.Message = fmt.Sprintf("rolling back to %s: %d of %d agents back, %d applying", cmp.Or(st.PreviousRevision, "no previous revision"), c.Applied, c.Targeted, c.Applying+c.Pending)
		s.health = health{reason: fleetv1alpha1.ReasonRollingBack, message: st.Message}
		return nil
	}
	now := metav1.NewTime(s.now.Truncate(time.Second))
	if s.group != nil && s.group.Status.CurrentConfigHash == st.ConfigHash {
		// Rolled back after completing: the group returns to the previous revision.
		if err := r.setGroupRevision(ctx, s, st.PreviousRevision, st.PreviousConfigHash, now); err != nil {
			return err
		}
	} else if err := r.releaseGroup(ctx, s); err != nil {
		return err
	}
	st.Phase, st.CompletedAt = fleetv1alpha1.RolloutRolledBack, &now
	st.Message = fmt.Sprintf("rolled back to %s: %d agents returned", cmp.Or(st.PreviousRevision, "no previous revision"), c.Applied)
	s.health = health{reason: fleetv1alpha1.ReasonRolledBack, message: st.Message, stalled: true}
	r.Events.Warning(ro, "RolledBack", "Rollback", "%s", st.Message)
	return nil
}

// setGroupRevision records rev as the group's current revision, keeps a bounded history, and
// releases the group.
func (r *RolloutReconciler) setGroupRevision(ctx context.Context, s *scope, rev, hash string, at metav1.Time) error {
	var g fleetv1alpha1.AgentGroup
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.ro.Namespace, Name: s.ro.Spec.AgentGroup}, &g); err != nil {
		return client.IgnoreNotFound(err)
	}
	patch := client.MergeFromWithOptions(g.DeepCopy(), client.MergeFromWithOptimisticLock{})
	g.Status.CurrentRevision, g.Status.CurrentConfigHash = rev, hash
	// The selector the revision was rolled out (and approved) under bounds who gets it later:
	// the rollout's, not the group's as it may have been edited since.
	g.Status.CurrentSelector = nil
	if hash != "" {
		g.Status.CurrentSelector = s.ro.Status.GroupSelector.DeepCopy()
		if hash != s.ro.Status.ConfigHash {
			// Back to the previous revision: it reaches no agent it did not reach before.
			g.Status.CurrentSelector = s.ro.Status.PreviousSelector.DeepCopy()
		}
	}
	if g.Status.ActiveRollout == s.ro.Name {
		g.Status.ActiveRollout = ""
	}
	if hash != "" && (len(g.Status.RevisionHistory) == 0 || g.Status.RevisionHistory[0].ConfigHash != hash) {
		g.Status.RevisionHistory = append([]fleetv1alpha1.RevisionRecord{{Revision: rev, ConfigHash: hash, Rollout: s.ro.Name, CompletedAt: &at}},
			g.Status.RevisionHistory...)
		if len(g.Status.RevisionHistory) > maxHistory {
			g.Status.RevisionHistory = g.Status.RevisionHistory[:maxHistory]
		}
	}
	return r.Client.Status().Patch(ctx, &g, patch)
}
