package v1alpha1

// What each RolloutPhase means to the engine, the sidecars and the tools that show it: decided
// here, once, and asked everywhere else.
//
//	phase        Terminal Settled EndedShort Forward Reconciling Serving
//	Pending                                  yes     yes
//	Progressing                              yes     yes         yes
//	Paused                                   yes                 yes
//	Blocked                                  yes     yes
//	RollingBack                                      yes         yes
//	Completed    yes      yes
//	RolledBack   yes      yes     yes
//	Aborted      yes      yes     yes
//	Failed                yes     yes

// Terminal reports whether a Rollout in phase p is done: completed, rolled back or aborted.
// It no longer holds its AgentGroup. A Failed rollout is not done: it can be retried.
func (p RolloutPhase) Terminal() bool {
	switch p {
	case RolloutCompleted, RolloutRolledBack, RolloutAborted:
		return true
	}
	return false
}

// Settled reports whether the engine has nothing more to do for the Rollout until its spec
// changes or a user acts on it: a terminal phase, or Failed (whose input retrying cannot fix).
// A settled Rollout does not keep another from its AgentGroup.
func (p RolloutPhase) Settled() bool { return p.Terminal() || p == RolloutFailed }

// EndedShort reports whether the Rollout settled without completing: failed, rolled back or
// aborted.
func (p RolloutPhase) EndedShort() bool { return p.Settled() && p != RolloutCompleted }

// Forward reports whether the Rollout can still take its revision to more agents: it has not
// settled and is not rolling back. Only such a Rollout waits for approvals.
func (p RolloutPhase) Forward() bool { return !p.Settled() && p != RolloutRollingBack }

// Reconciling reports whether the engine moves the Rollout on by itself, with nobody to act:
// starting, pushing batches, rolling back, or waiting for another Rollout to release its
// group. A paused Rollout waits for a user (or a gate to clear), a settled one for nothing.
func (p RolloutPhase) Reconciling() bool {
	switch p {
	case RolloutPending, RolloutProgressing, RolloutRollingBack, RolloutBlocked:
		return true
	}
	return false
}

// Serving reports whether the sidecars serve the Rollout: offer its config (or, rolling back,
// the previous one) to the agents it reached, and count and list its agents.
func (p RolloutPhase) Serving() bool {
	switch p {
	case RolloutProgressing, RolloutPaused, RolloutRollingBack:
		return true
	}
	return false
}
