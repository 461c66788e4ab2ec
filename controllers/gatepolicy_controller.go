package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/gates"
)

// GatePolicyReconciler keeps a GatePolicy's status: observed generation, Ready, how many
// Rollouts use it, and the spec in force, which waits for approval when a change loosens a
// policy that requires approvals.
type GatePolicyReconciler struct {
	Client client.Client
	Events *Events
	// ApprovalKey checks that the approvals webhook sealed a policy's approval record.
	ApprovalKey approval.Key
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

// Reconcile counts the Rollouts that use the policy, decides the spec in force and marks the
// policy Ready, or waiting for approval.
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
	r.decide(p)
	return ctrl.Result{}, patchStatus(ctx, r.Client, orig, p, !equality.Semantic.DeepEqual(orig.Status, p.Status))
}

// decide records the spec in force and the change that waits, with conditions and Events.
func (r *GatePolicyReconciler) decide(p *fleetv1alpha1.GatePolicy) {
	st := &p.Status
	before := st.PendingChange
	adopted := st.ApprovedSpec != nil && !equality.Semantic.DeepEqual(*st.ApprovedSpec, p.Spec)
	rec, _ := r.ApprovalKey.ReadSealed(p.Annotations, approval.PolicySubject(p))
	st.ApprovedSpec, st.PendingChange = policyInForce(p, rec, gates.Defaults())
	st.ObservedGeneration = p.Generation
	c := conditions{&st.Conditions, p.Generation}
	// One Event per approval of this generation, whether it leaves the change waiting or
	// puts it in force.
	var seen []string
	if before != nil && before.Generation == p.Generation {
		seen = before.Approvals.ApprovedBy
	}
	by := rec.ApprovedBy(approval.SpecHash(&p.Spec), approval.PolicyRequirements(p)...)
	if before != nil || st.PendingChange != nil {
		for _, user := range by {
			if !slices.Contains(seen, user) {
				r.Events.Normal(p, "Approved", "Approve", "%s approved generation %d", user, p.Generation)
			}
		}
	}
	if pc := st.PendingChange; pc != nil {
		msg := pendingMessage(p.Name, pc)
		c.set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonAwaitingApproval, msg)
		c.set(fleetv1alpha1.ConditionApproved, metav1.ConditionFalse, fleetv1alpha1.ReasonAwaitingApproval, msg)
		c.set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonAwaitingApproval, msg)
		if before == nil || before.Generation != pc.Generation {
			r.Events.Warning(p, "ChangeAwaitingApproval", "Approve", "%s", msg)
		}
		return
	}
	c.set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonReconciled, "policy in force")
	c.remove(fleetv1alpha1.ConditionReconciling)
	if before != nil {
		if len(by) > 0 {
			r.Events.Normal(p, "ChangeApproved", "Approve", "generation %d is approved by %s and in force", p.Generation, strings.Join(by, ", "))
		} else {
			r.Events.Normal(p, "ChangeInForce", "Approve", "generation %d no longer loosens the policy in force and takes effect", p.Generation)
		}
		c.set(fleetv1alpha1.ConditionApproved, metav1.ConditionTrue, fleetv1alpha1.ReasonApproved, fmt.Sprintf("generation %d approved", p.Generation))
	} else if adopted {
		c.remove(fleetv1alpha1.ConditionApproved)
	}
}
