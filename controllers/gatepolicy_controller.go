package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// GatePolicyReconciler keeps a GatePolicy's status: observed generation, Ready, and how many
// Rollouts use it.
type GatePolicyReconciler struct {
	Client client.Client
}

// SetupWithManager registers the reconciler; a Rollout's change updates its policy's count.
func (r *GatePolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&fleetv1alpha1.GatePolicy{}).
		Watches(&fleetv1alpha1.Rollout{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: policyOf(o.(*fleetv1alpha1.Rollout))}}}
		})).
		Named("gatepolicy").
		Complete(r)
}

func policyOf(ro *fleetv1alpha1.Rollout) string {
	if ro.Spec.GatePolicyRef != nil {
		return ro.Spec.GatePolicyRef.Name
	}
	return fleetv1alpha1.DefaultGatePolicyName
}

// Reconcile counts the Rollouts that use the policy and marks it Ready.
func (r *GatePolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &fleetv1alpha1.GatePolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := p.DeepCopy()
	var rollouts fleetv1alpha1.RolloutList
	if err := r.Client.List(ctx, &rollouts, client.InNamespace(p.Namespace)); err != nil {
		return ctrl.Result{}, err
	}
	p.Status.Rollouts = 0
	for i := range rollouts.Items {
		if policyOf(&rollouts.Items[i]) == p.Name {
			p.Status.Rollouts++
		}
	}
	p.Status.ObservedGeneration = p.Generation
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: fleetv1alpha1.ReasonReconciled, Message: "policy accepted", ObservedGeneration: p.Generation})
	if equality.Semantic.DeepEqual(orig.Status, p.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Status().Patch(ctx, p, client.MergeFrom(orig)))
}
