package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// When a Rollout phase wants the next look, as its result: a batch in flight (its progress
// deadline, its bake, its replicas' Leases running out are the clock's, not a watch's) or a
// rollout waiting for a user, whose status is refreshed now and then so that `kubectl ampora
// why` can tell a live engine from a dead one. A settled rollout asks for none: only a change
// of its spec, its config or an action moves it, and those are watched.
var (
	inFlight = ctrl.Result{RequeueAfter: activeRequeue}
	waiting  = ctrl.Result{RequeueAfter: evaluatedRefresh}
)

// soonest merges two results: the sooner requeue wins (the phases ask for RequeueAfter only).
func soonest(a, b ctrl.Result) ctrl.Result {
	if b.RequeueAfter > 0 && (a.RequeueAfter == 0 || b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}
