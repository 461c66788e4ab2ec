// Package controllers holds the rollout engine: the Rollout, AgentGroup and GatePolicy
// reconcilers that the leader-elected manager runs. The engine is level-triggered: everything
// it needs to continue a rollout lives in the Rollout's status, so a new leader picks up where
// the last one stopped. It never writes spec.
package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/readapi"
)

// Requeue intervals: how often an active rollout is looked at without an event, and how
// often a finished one is.
const (
	activeRequeue    = 2 * time.Second
	evaluatedRefresh = 15 * time.Second
)

// RolloutReconciler drives Rollouts batch by batch.
type RolloutReconciler struct {
	Client client.Client
	// Reader reads the Rollout at the start of each pass from the API server, not the cache:
	// the sidecars' writes trigger passes that the cache may serve before it holds this
	// engine's own last write, and a pass from such a stale copy would repeat its last step
	// (an Event recorded twice, a group claimed again). Nil reads through Client.
	Reader   client.Reader
	Replicas Replicas
	Events   *Events
	Clock    clock.Clock
	// OperatorNamespace holds the operator's default GatePolicy (named "default").
	OperatorNamespace string
	// ApprovalKey checks that the approvals webhook sealed a Rollout's approval record.
	ApprovalKey approval.Key

	// denied remembers the PushDenied Events recorded, so that each is recorded once.
	denied sync.Map
	// rates samples each rollout's applied count for appliesPerMinute.
	rates applyRates
	// ReplicaReportTimeout is how long a live replica may go without reporting before its
	// entry stops counting (Setup defaults it).
	ReplicaReportTimeout time.Duration
}

// +kubebuilder:rbac:groups=fleet.ampora.io,resources=rollouts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=fleet.ampora.io,resources=rollouts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=fleet.ampora.io,resources=agentgroups,verbs=get;list;watch
// +kubebuilder:rbac:groups=fleet.ampora.io,resources=agentgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=fleet.ampora.io,resources=gatepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=fleet.ampora.io,resources=gatepolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=controllerrevisions,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
//
// No marker for Leases: markers land in the manager's ClusterRole, cluster-wide, and the
// manager's Leases (its leader Lease, the sidecars' it lists) live in the operator namespace
// only; config/rbac/leases_role.yaml grants them there.

// SetupWithManager registers the reconciler, watching the objects a Rollout depends on.
func (r *RolloutReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &fleetv1alpha1.Rollout{}, indexAgentGroup,
		func(o client.Object) []string { return []string{o.(*fleetv1alpha1.Rollout).Spec.AgentGroup} }); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &fleetv1alpha1.Rollout{}, indexConfigMap,
		func(o client.Object) []string {
			if ref := o.(*fleetv1alpha1.Rollout).Spec.Config.ConfigMapRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&fleetv1alpha1.Rollout{}).
		Watches(&fleetv1alpha1.AgentGroup{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsOfGroup)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsOfConfigMap),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		// The gates and approval rules in force come from policies: the one a Rollout names,
		// its namespace's default, the operator's default.
		Watches(&fleetv1alpha1.GatePolicy{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsOfPolicy),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("rollout").
		Complete(r)
}

const (
	indexAgentGroup = "spec.agentGroup"
	indexConfigMap  = "spec.config.configMapRef.name"
)

func (r *RolloutReconciler) rolloutsOfGroup(ctx context.Context, o client.Object) []reconcile.Request {
	return r.rolloutsBy(ctx, o.GetNamespace(), indexAgentGroup, o.GetName())
}

func (r *RolloutReconciler) rolloutsOfConfigMap(ctx context.Context, o client.Object) []reconcile.Request {
	return r.rolloutsBy(ctx, o.GetNamespace(), indexConfigMap, o.GetName())
}

// rolloutsOfPolicy lists the Rollouts a policy can apply to: those of its namespace, or every
// Rollout for the operator namespace's default.
func (r *RolloutReconciler) rolloutsOfPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	var opts []client.ListOption
	if o.GetNamespace() != r.OperatorNamespace || o.GetName() != fleetv1alpha1.DefaultGatePolicyName {
		opts = append(opts, client.InNamespace(o.GetNamespace()))
	}
	return r.requests(ctx, opts...)
}

// requests lists the Rollouts opts select, as reconcile requests.
func (r *RolloutReconciler) requests(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list fleetv1alpha1.RolloutList
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, ro := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}})
	}
	return reqs
}

func (r *RolloutReconciler) rolloutsBy(ctx context.Context, ns, field, value string) []reconcile.Request {
	return r.requests(ctx, client.InNamespace(ns), client.MatchingFields{field: value})
}

// scope carries one reconcile's state between its phases.
type scope struct {
	ro     *fleetv1alpha1.Rollout
	group  *fleetv1alpha1.AgentGroup
	body   []byte
	hash   string
	now    time.Time
	log    logr.Logger
	health health
	obs    observed
	live   map[string]readapi.Replica
	// silent are the live replicas that have not reported for the report timeout.
	silent []silence
	// policies are the GatePolicies that apply, for their gates and approval rules.
	policies approval.Policies
	// done stops the phases that follow.
	done bool
	// clearAction removes the action annotation once the status is written.
	clearAction bool
}

// stall ends the reconcile with a cause that retrying alone will not fix.
func (s *scope) stall(reason, msg string) {
	s.health = health{reason: reason, message: msg, stalled: true}
	s.ro.Status.Message = msg
	s.done = true
}

// Reconcile gets the Rollout, runs the phases in order, and patches its status once.
func (r *RolloutReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	ro := &fleetv1alpha1.Rollout{}
	reader := r.Reader
	if reader == nil {
		reader = r.Client
	}
	if err := reader.Get(ctx, req.NamespacedName, ro); err != nil {
		if apierrors.IsNotFound(err) {
			r.rates.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := ro.DeepCopy()
	s := &scope{ro: ro, now: r.Clock.Now(), log: ctrl.LoggerFrom(ctx)}
	defer func() {
		settleEstimate(&ro.Status)
		if ro.Status.Phase.Settled() {
			r.rates.forget(req.NamespacedName)
		}
		setConditions(ro, s.health, s.silent)
		if err := r.writeStatus(ctx, orig, ro, s.now, concluded(retErr)); err != nil {
			retErr = errors.Join(retErr, err)
			return
		}
		if s.clearAction {
			retErr = errors.Join(retErr, r.clearAction(ctx, ro))
		}
	}()

	phases := []func(context.Context, *scope) (ctrl.Result, error){
		r.handleAction,
		r.loadConfig,
		r.startRevision,
		r.finishedRevision,
		r.claimGroup,
		r.resolveGates,
		r.observe,
		r.approve,
		r.progress,
	}
	// Each phase says when it wants the next look; the soonest wins. Watches (the Rollout, its
	// group, ConfigMap and policies, the sidecars' status writes) bring every other one.
	var res ctrl.Result
	for _, phase := range phases {
		pr, err := phase(ctx, s)
		if err != nil {
			return ctrl.Result{}, err // the error's backoff decides the next look
		}
		res = soonest(res, pr)
		if s.done {
			break
		}
	}
	if res.RequeueAfter == 0 && !ro.Status.Phase.Settled() {
		// Stalled on something a watch brings (its group, its ConfigMap): the status still
		// says now and then that the engine looked.
		res = waiting
	}
	return res, nil
}

// writeStatus writes what changed in status (patchStatus), and the evaluation time whenever it
// does or the last one is older than evaluatedRefresh. observedGeneration moves only with a
// conclusion about the generation read.
func (r *RolloutReconciler) writeStatus(ctx context.Context, orig, ro *fleetv1alpha1.Rollout, now time.Time, concluded bool) error {
	if concluded {
		ro.Status.ObservedGeneration = ro.Generation
	}
	ro.Status.Message = truncate(ro.Status.Message, 1024)
	last := orig.Status.LastEvaluatedTime
	changed := !statusEqual(orig.Status, ro.Status)
	if changed || last == nil || now.Sub(last.Time) >= evaluatedRefresh {
		t := metav1.NewTime(now.Truncate(time.Second))
		ro.Status.LastEvaluatedTime = &t
	} else {
		ro.Status.LastEvaluatedTime = last
		return nil
	}
	return patchStatus(ctx, r.Client, orig, ro, true)
}
