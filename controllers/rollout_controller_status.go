package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/gates"
	"github.com/ampora-io/ampora/internal/readapi"
)

// maxFailedSample bounds status.failedAgents.
const maxFailedSample = 10

// observed is what the live sidecar replicas report about the current revision.
type observed struct {
	counts, batch fleetv1alpha1.AgentCounts
	buckets       []int32
	failed        []fleetv1alpha1.FailedAgent
	// denied counts in full the agents each push policy denies.
	denied map[string]int32
	// live is the number of live replicas; current the number whose entry reflects the
	// current batch as it stands now (revision, batch number and start).
	live, current int
}

// upToDate says whether every live replica has reported on the current batch.
func (o observed) upToDate() bool { return o.live > 0 && o.current == o.live }

// aggregate sums the entries of live replicas for the revision configHash. Entries of dead
// replicas (expired Lease), of silent ones (frozen numbers) and of other revisions do not
// count; batch counts come only from entries about the current batch. A silent replica keeps
// the batch from being up to date: its agents' states are unknown.
func aggregate(reports []fleetv1alpha1.ReplicaReport, live map[string]readapi.Replica, silent map[string]bool, configHash string, batch *fleetv1alpha1.BatchStatus) observed {
	o := observed{live: len(live), buckets: make([]int32, len(gates.Buckets)+1)}
	var failed []fleetv1alpha1.FailedAgent
	for _, rep := range reports {
		if _, ok := live[rep.Replica]; !ok || silent[rep.Replica] || rep.ConfigHash != configHash {
			continue
		}
		o.counts.Add(rep.Counts)
		failed = append(failed, rep.FailedAgents...)
		for _, d := range rep.DeniedBy {
			if o.denied == nil {
				o.denied = map[string]int32{}
			}
			o.denied[d.Policy] += d.Count
		}
		if batch == nil || rep.Batch != batch.Number || !sameTime(rep.BatchStartedAt, batch.StartedAt) {
			continue
		}
		o.current++
		o.batch.Add(rep.BatchCounts)
		o.buckets = gates.MergeBuckets(o.buckets, rep.ApplyDurationBuckets)
	}
	slices.SortFunc(failed, fleetv1alpha1.CompareFailedAgents)
	if len(failed) > maxFailedSample {
		failed = failed[:maxFailedSample]
	}
	o.failed = failed
	return o
}

func sameTime(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Unix() == b.Unix()
}

// batchFinished says whether every agent of the batch reached a final state, as every live
// replica reports it.
func batchFinished(o observed) bool {
	return o.upToDate() && o.batch.Pending+o.batch.Applying == 0
}

// settleEstimate clears the estimated completion of a rollout that does not progress (paused,
// awaiting approval or its group, rolling back, settled): its rate says nothing of when the
// revision will be everywhere.
func settleEstimate(st *fleetv1alpha1.RolloutStatus) {
	if st.Phase != fleetv1alpha1.RolloutProgressing {
		st.EstimatedCompletionTime = nil
	}
}

// eta extrapolates the current rate over the agents not applied yet; nil when there is no
// rate to go by.
func eta(perMinute int32, groupSize, applied int32, now time.Time) *metav1.Time {
	remaining := groupSize - applied
	if perMinute <= 0 || remaining <= 0 {
		return nil
	}
	t := metav1.NewTime(now.Add(time.Duration(float64(remaining) / float64(perMinute) * float64(time.Minute))).Truncate(time.Second))
	return &t
}

// batchDetail names, in words, what keeps a batch's agents from applying, for messages.
func batchDetail(c fleetv1alpha1.AgentCounts) string {
	var parts []string
	add := func(n int32, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.Failed, "failed")
	add(c.TimedOut, "timed out (no APPLIED within the apply timeout)")
	add(c.Disconnected, "lost their session after the push")
	add(c.Unhealthy, "unhealthy after applying")
	add(c.Unverifiable, "cannot report remote config status (capability mismatch)")
	add(c.Incompatible, "lack a component the config needs")
	add(c.Denied, "denied by a push policy")
	return strings.Join(parts, ", ")
}

// progressMessage is the one-line message of a batch in progress.
func progressMessage(st *fleetv1alpha1.RolloutStatus) string {
	b := st.CurrentBatch
	if b == nil {
		return "waiting to start the first batch"
	}
	total := len(st.Plan)
	c := st.BatchCounts
	switch b.Phase {
	case fleetv1alpha1.BatchBaking:
		return fmt.Sprintf("batch %d of %d passed its gates; baking until %s", b.Number, total, b.BakeUntil.UTC().Format(time.RFC3339))
	case fleetv1alpha1.BatchPushing:
		msg := fmt.Sprintf("batch %d of %d: %d of %d applied, %d applying, %d pending", b.Number, total, c.Applied, b.Size, c.Applying, c.Pending)
		if d := batchDetail(c); d != "" {
			msg += "; " + d
		}
		return msg
	}
	return fmt.Sprintf("batch %d of %d", b.Number, total)
}

// condition inputs: what the rollout is doing and, when it does not progress, why.
type health struct {
	reason  string
	message string
	stalled bool
}

// setConditions writes Ready, Reconciling, Stalled and Paused from the phase and the health
// found by the reconcile, and ReplicaSilent from the silent replicas. All but Ready are present
// only while true, as kstatus expects.
func setConditions(ro *fleetv1alpha1.Rollout, h health, silent []silence) {
	st := &ro.Status
	c := conditions{&st.Conditions, ro.Generation}
	setSilence(c, silent)
	if h.reason == "" {
		h.reason, h.message = fleetv1alpha1.ReasonProgressing, st.Message
	}
	switch st.Phase {
	case fleetv1alpha1.RolloutCompleted:
		c.set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonCompleted, st.Message)
	default:
		c.set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, h.reason, h.message)
	}
	if st.Phase.Reconciling() && !h.stalled {
		c.set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, h.reason, h.message)
	} else {
		c.remove(fleetv1alpha1.ConditionReconciling)
	}
	if h.stalled {
		c.set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, h.reason, h.message)
	} else {
		c.remove(fleetv1alpha1.ConditionStalled)
	}
	if st.Phase == fleetv1alpha1.RolloutPaused {
		reason, msg := fleetv1alpha1.ReasonManualPause, "spec.paused is true"
		if p := st.Pause; p != nil && p.Reason != fleetv1alpha1.PauseManual {
			reason, msg = string(p.Reason), p.Message
		}
		c.set(fleetv1alpha1.ConditionPaused, metav1.ConditionTrue, reason, msg)
	} else {
		c.remove(fleetv1alpha1.ConditionPaused)
	}
}

// pauseFor records a gate result as the pause detail.
func pauseFor(r gates.Result, batch int32, now time.Time) *fleetv1alpha1.PauseDetail {
	reason := fleetv1alpha1.PauseGateBreach
	if r.Outcome == gates.Inconclusive {
		reason = fleetv1alpha1.PauseGateInconclusive
	}
	return &fleetv1alpha1.PauseDetail{Reason: reason, Gate: r.Gate, Observed: r.Observed, Threshold: r.Threshold,
		Batch: batch, Since: metav1.NewTime(now.Truncate(time.Second)), Message: r.Message}
}

// truncate cuts s to at most n characters (CRD maxLength counts characters, not bytes),
// ending with "..." to show that it was cut. It never splits a character.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut, kept := 0, 0
	for i := range s {
		if kept == n-3 {
			cut = i
			break
		}
		kept++
	}
	return s[:cut] + "..."
}

// Bounds of status fields that carry user names, as the CRD sets them. Kubernetes does not
// bound a user name: a ServiceAccount's alone is up to 339 characters
// (system:serviceaccount:<63>:<253>), and an OIDC or webhook user's is whatever the issuer says.
const (
	maxUserLen        = 512 // approvals.author, approvals.approvedBy[]
	maxRequestedByLen = 256 // lastAction.requestedBy
)

// boundApprovals cuts the user names of a to what status accepts.
func boundApprovals(a *fleetv1alpha1.ApprovalStatus) {
	a.Author = truncate(a.Author, maxUserLen)
	if len(a.ApprovedBy) > maxApprovers {
		a.ApprovedBy = a.ApprovedBy[:maxApprovers]
	}
	for i, u := range a.ApprovedBy {
		if t := truncate(u, maxUserLen); t != u {
			a.ApprovedBy = slices.Clone(a.ApprovedBy)
			a.ApprovedBy[i] = t
		}
	}
}

// approvalsFor says what approvals the rollout's push decision (digest) needs, from the
// policies in force, and which it has; nil when no policy asks. A policy whose approval
// selector cannot match any agent of the group does not ask; when that cannot be told, it
// asks. An approval counts when its approver may approve under every rule that asks.
func approvalsFor(policies []*fleetv1alpha1.GatePolicy, group *fleetv1alpha1.AgentGroup, rec approval.Record, digest string) *fleetv1alpha1.ApprovalStatus {
	reqs := approval.Requirements(policies, group)
	strictest := approval.Strictest(reqs)
	if strictest == nil {
		return nil
	}
	out := &fleetv1alpha1.ApprovalStatus{Policy: strictest.Policy, Required: strictest.Count, Decision: digest}
	out.Author = rec.AuthorOf(digest)
	out.ApprovedBy = rec.ApprovedBy(digest, reqs...)
	boundApprovals(out)
	return out
}

// maxApprovers bounds status.approvals.approvedBy.
const maxApprovers = 10

// setApproved writes the Approved condition: present only while a policy asks for approvals.
func setApproved(ro *fleetv1alpha1.Rollout, a *fleetv1alpha1.ApprovalStatus) {
	c := conditions{&ro.Status.Conditions, ro.Generation}
	switch {
	case a == nil:
		c.remove(fleetv1alpha1.ConditionApproved)
	case int32(len(a.ApprovedBy)) >= a.Required:
		c.set(fleetv1alpha1.ConditionApproved, metav1.ConditionTrue, fleetv1alpha1.ReasonApproved,
			fmt.Sprintf("revision %s approved by %s (%d needed by GatePolicy %s)", ro.Status.Revision, strings.Join(a.ApprovedBy, ", "), a.Required, a.Policy))
	default:
		c.set(fleetv1alpha1.ConditionApproved, metav1.ConditionFalse, fleetv1alpha1.ReasonAwaitingApproval, approvalCount(ro.Status.Revision, a))
	}
}

// approvalCount reads "revision abc has 1 of 2 approvals (bob); alice wrote it".
func approvalCount(rev string, a *fleetv1alpha1.ApprovalStatus) string {
	msg := fmt.Sprintf("revision %s has %d of %d approvals required by GatePolicy %s", rev, len(a.ApprovedBy), a.Required, a.Policy)
	if len(a.ApprovedBy) > 0 {
		msg += " (" + strings.Join(a.ApprovedBy, ", ") + ")"
	}
	if a.Author != "" {
		msg += "; " + a.Author + " wrote it and cannot approve it"
	}
	return msg
}

// awaitingMessage is the Rollout's message while it waits for approvals.
func awaitingMessage(name, rev string, a *fleetv1alpha1.ApprovalStatus) string {
	return "waiting for approval: " + approvalCount(rev, a) + "; approve with: kubectl ampora approve " + name
}
