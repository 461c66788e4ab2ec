package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/internal/revision"
)

// groupRefresh is how often a group's totals are summed again without an event, so that a
// dead replica's entry stops counting once its Lease expires.
const groupRefresh = 5 * time.Second

// AgentGroupReconciler sums the sidecars' per-replica entries into a group's totals and
// deletes config revisions that nothing refers to any more.
type AgentGroupReconciler struct {
	Client   client.Client
	Replicas Replicas
	Clock    clock.Clock
	// ReplicaReportTimeout: see RolloutReconciler.
	ReplicaReportTimeout time.Duration
}

// SetupWithManager registers the reconciler.
func (r *AgentGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&fleetv1alpha1.AgentGroup{}).Named("agentgroup").Complete(r)
}

// Reconcile gets the group, sums the live replicas' entries and patches its status once.
func (r *AgentGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	g := &fleetv1alpha1.AgentGroup{}
	if err := r.Client.Get(ctx, req.NamespacedName, g); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := g.DeepCopy()
	defer func() {
		if concluded(retErr) {
			g.Status.ObservedGeneration = g.Generation
		}
		retErr = errors.Join(retErr, patchStatus(ctx, r.Client, orig, g, !equality.Semantic.DeepEqual(orig.Status, g.Status)))
	}()
	now := r.Clock.Now()
	live, err := r.Replicas.Live(ctx, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	timeout := r.ReplicaReportTimeout
	stamps := make([]entryStamp, len(g.Status.Replicas))
	for i, rep := range g.Status.Replicas {
		stamps[i] = entryStamp{rep.Replica, rep.ReportedAt.Time}
	}
	// A throwaway object, as for Rollouts: g's status must stay as read for the merge patch.
	if err := pruneEntries(ctx, r.Client, &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: g.Namespace, Name: g.Name}},
		stamps, live, now, timeout); err != nil {
		return ctrl.Result{}, err
	}
	summarizeGroup(g, live, silentReplicas(stamps, live, g.CreationTimestamp.Time, now, timeout))
	if err := r.collectRevisions(ctx, g.Namespace); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: groupRefresh}, nil
}

// summarizeGroup sums the entries of live replicas that are not silent, and sets the
// conditions.
func summarizeGroup(g *fleetv1alpha1.AgentGroup, live map[string]readapi.Replica, silent []silence) {
	st := &g.Status
	quiet := silentSet(silent)
	st.MatchingAgents, st.ConnectedAgents, st.ConflictingAgents = 0, 0, 0
	versions := map[string]int32{}
	var conflicts []fleetv1alpha1.AgentConflict
	for _, rep := range st.Replicas {
		if _, ok := live[rep.Replica]; !ok || quiet[rep.Replica] {
			continue
		}
		st.MatchingAgents += rep.Matching
		st.ConnectedAgents += rep.Connected
		st.ConflictingAgents += rep.Conflicting
		for _, v := range rep.Versions {
			versions[v.Version] += v.Count
		}
		conflicts = append(conflicts, rep.Conflicts...)
	}
	st.Versions = fleetv1alpha1.TopVersions(versions)
	sort.Slice(conflicts, func(i, j int) bool { return conflicts[i].InstanceUID < conflicts[j].InstanceUID })
	if len(conflicts) > 10 {
		conflicts = conflicts[:10]
	}
	st.Conflicts = conflicts

	c := conditions{&st.Conditions, g.Generation}
	c.remove(fleetv1alpha1.ConditionReconciling)
	setSilence(c, silent)
	if st.ConflictingAgents > 0 {
		msg := fmt.Sprintf("%d agents are matched by another AgentGroup too; they keep their config and no rollout pushes to them until the overlap is resolved", st.ConflictingAgents)
		c.set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, "AgentConflict", msg)
		c.set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, "AgentConflict", msg)
		return
	}
	c.remove(fleetv1alpha1.ConditionStalled)
	c.set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonReconciled,
		fmt.Sprintf("%d agents match, %d connected", st.MatchingAgents, st.ConnectedAgents))
}

// collectRevisions deletes the stored configs of a namespace that no group and no rollout
// refers to.
func (r *AgentGroupReconciler) collectRevisions(ctx context.Context, ns string) error {
	var crs appsv1.ControllerRevisionList
	if err := r.Client.List(ctx, &crs, client.InNamespace(ns), client.MatchingLabels{revision.LabelConfig: "true"}); err != nil {
		return err
	}
	if len(crs.Items) == 0 {
		return nil
	}
	used := map[string]bool{}
	var groups fleetv1alpha1.AgentGroupList
	if err := r.Client.List(ctx, &groups, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, g := range groups.Items {
		used[revision.Name(g.Status.CurrentConfigHash)] = true
		for _, h := range g.Status.RevisionHistory {
			used[revision.Name(h.ConfigHash)] = true
		}
	}
	var rollouts fleetv1alpha1.RolloutList
	if err := r.Client.List(ctx, &rollouts, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, ro := range rollouts.Items {
		used[revision.Name(ro.Status.ConfigHash)] = true
		used[revision.Name(ro.Status.PreviousConfigHash)] = true
	}
	for i := range crs.Items {
		cr := &crs.Items[i]
		// A revision younger than a minute may belong to a rollout whose status is not written yet.
		if used[cr.Name] || r.Clock.Since(cr.CreationTimestamp.Time) < time.Minute {
			continue
		}
		if err := r.Client.Delete(ctx, cr); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}
