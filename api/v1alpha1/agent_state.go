package v1alpha1

import (
	"cmp"
	"slices"
)

// AgentStates are the states agents are counted in, in the order status shows them.
var AgentStates = []AgentState{
	AgentPending, AgentApplying, AgentApplied, AgentUnhealthy, AgentFailed, AgentDisconnected,
	AgentTimedOut, AgentIncompatible, AgentDenied, AgentUnverifiable,
}

// ProblemStates are the states that put an agent into the failed-agent sample, real failures
// first: the order the sidecars sample in, the manager merges in and the tools list in.
var ProblemStates = []AgentState{
	AgentFailed, AgentTimedOut, AgentDisconnected, AgentUnhealthy, AgentUnverifiable,
	AgentIncompatible, AgentDenied,
}

// ProblemRank is the place of s in ProblemStates, or len(ProblemStates) when s is no problem.
func (s AgentState) ProblemRank() int {
	if i := slices.Index(ProblemStates, s); i >= 0 {
		return i
	}
	return len(ProblemStates)
}

// Problem reports whether s puts an agent into the failed-agent sample.
func (s AgentState) Problem() bool { return s.ProblemRank() < len(ProblemStates) }

// CompareProblems orders agents for the failed-agent sample: by ProblemRank of their states,
// then by instance UID.
func CompareProblems(stateA AgentState, uidA string, stateB AgentState, uidB string) int {
	return cmp.Or(cmp.Compare(stateA.ProblemRank(), stateB.ProblemRank()), cmp.Compare(uidA, uidB))
}

// CompareFailedAgents is CompareProblems of two sampled agents.
func CompareFailedAgents(a, b FailedAgent) int {
	return CompareProblems(a.State, a.InstanceUID, b.State, b.InstanceUID)
}

// count is the field of c that counts agents in state s, or nil for no state.
func (c *AgentCounts) count(s AgentState) *int32 {
	switch s {
	case AgentPending:
		return &c.Pending
	case AgentApplying:
		return &c.Applying
	case AgentApplied:
		return &c.Applied
	case AgentUnhealthy:
		return &c.Unhealthy
	case AgentFailed:
		return &c.Failed
	case AgentDisconnected:
		return &c.Disconnected
	case AgentTimedOut:
		return &c.TimedOut
	case AgentIncompatible:
		return &c.Incompatible
	case AgentDenied:
		return &c.Denied
	case AgentUnverifiable:
		return &c.Unverifiable
	}
	return nil
}

// Of is the number of agents counted in state s.
func (c AgentCounts) Of(s AgentState) int32 {
	if n := c.count(s); n != nil {
		return *n
	}
	return 0
}

// Count counts one more targeted agent, in state s.
func (c *AgentCounts) Count(s AgentState) {
	c.Targeted++
	if n := c.count(s); n != nil {
		*n++
	}
}

// Add adds the counts of o to c.
func (c *AgentCounts) Add(o AgentCounts) {
	c.Targeted += o.Targeted
	for _, s := range AgentStates {
		*c.count(s) += o.Of(s)
	}
}

// Finished counts the agents that reached a final state for the config: all but those still
// pending or applying, and those never pushed to (incompatible, denied).
func (c AgentCounts) Finished() int64 {
	return int64(c.Applied) + int64(c.Unhealthy) + int64(c.Failed) +
		int64(c.Disconnected) + int64(c.TimedOut) + int64(c.Unverifiable)
}

// Failures counts the agents that did not apply: FAILED, or silent past the apply timeout.
func (c AgentCounts) Failures() int64 { return int64(c.Failed) + int64(c.TimedOut) }

// Problems counts the agents in ProblemStates.
func (c AgentCounts) Problems() int32 {
	var n int32
	for _, s := range ProblemStates {
		n += c.Of(s)
	}
	return n
}
