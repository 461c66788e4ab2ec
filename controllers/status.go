package controllers

import (
	"context"
	"errors"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The three reconcilers write status one way: conditions through a conditions value, stamped
// with the generation they judged; observedGeneration only when the pass reached a conclusion;
// one merge patch against the object as it was read, only when status changed. A merge patch
// leaves out what the pass did not change, so the sidecars' entries (status.replicas) are never
// touched.

// conditions sets the kstatus conditions of an object of generation gen.
type conditions struct {
	list *[]metav1.Condition
	gen  int64
}

// set sets condition t, its message cut to what the API allows.
func (c conditions) set(t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(c.list, metav1.Condition{Type: t, Status: s, Reason: reason, Message: truncate(msg, 1024), ObservedGeneration: c.gen})
}

// remove removes condition t: Reconciling, Stalled and Paused are present only while true.
func (c conditions) remove(t string) { meta.RemoveStatusCondition(c.list, t) }

// setSilence sets ReplicaSilent while live replicas are silent, and removes it otherwise.
func setSilence(c conditions, silent []silence) {
	if len(silent) == 0 {
		c.remove(fleetv1alpha1.ConditionReplicaSilent)
		return
	}
	c.set(fleetv1alpha1.ConditionReplicaSilent, metav1.ConditionTrue, fleetv1alpha1.ReasonNotReporting,
		silenceMessage(silent)+"; its entry does not count until it reports again or its Lease expires")
}

// concluded says whether a pass that ended with err reached a conclusion about the
// generation it read: it did unless it stopped on an error a retry may get past (a terminal
// error is a conclusion: the input is wrong).
func concluded(err error) bool { return err == nil || errors.Is(err, reconcile.TerminalError(nil)) }

// patchStatus writes obj's status with a merge patch against orig when changed; an object
// deleted meanwhile is no error.
func patchStatus(ctx context.Context, c client.Client, orig, obj client.Object, changed bool) error {
	if !changed {
		return nil
	}
	return client.IgnoreNotFound(c.Status().Patch(ctx, obj, client.MergeFrom(orig)))
}
