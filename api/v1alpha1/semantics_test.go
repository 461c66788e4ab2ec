package v1alpha1

import (
	"slices"
	"testing"
)

func TestRolloutPhaseMeanings(t *testing.T) {
	type meaning struct{ terminal, settled, endedShort, forward, reconciling, serving bool }
	for phase, want := range map[RolloutPhase]meaning{
		RolloutPending:     {forward: true, reconciling: true},
		RolloutProgressing: {forward: true, reconciling: true, serving: true},
		RolloutPaused:      {forward: true, serving: true},
		RolloutBlocked:     {forward: true, reconciling: true},
		RolloutRollingBack: {reconciling: true, serving: true},
		RolloutCompleted:   {terminal: true, settled: true},
		RolloutRolledBack:  {terminal: true, settled: true, endedShort: true},
		RolloutAborted:     {terminal: true, settled: true, endedShort: true},
		RolloutFailed:      {settled: true, endedShort: true},
		"":                 {forward: true},
	} {
		got := meaning{phase.Terminal(), phase.Settled(), phase.EndedShort(), phase.Forward(), phase.Reconciling(), phase.Serving()}
		if got != want {
			t.Errorf("%q: got %+v, want %+v", phase, got, want)
		}
	}
}

func TestAgentCounts(t *testing.T) {
	var c AgentCounts
	for _, s := range AgentStates {
		c.Count(s)
	}
	c.Count(AgentFailed)
	if c.Targeted != int32(len(AgentStates))+1 || c.Of(AgentFailed) != 2 || c.Of(AgentApplied) != 1 {
		t.Fatalf("counts %+v", c)
	}
	var sum AgentCounts
	sum.Add(c)
	sum.Add(c)
	for _, s := range AgentStates {
		if sum.Of(s) != 2*c.Of(s) {
			t.Errorf("%s: %d, want %d", s, sum.Of(s), 2*c.Of(s))
		}
	}
	if got := c.Problems(); got != int32(len(ProblemStates))+1 {
		t.Errorf("problems %d", got)
	}
	if got := c.Finished(); got != 7 { // applied, unhealthy, 2 failed, disconnected, timed out, unverifiable
		t.Errorf("finished %d, want 7", got)
	}
	if got := c.Failures(); got != 3 {
		t.Errorf("failures %d, want 3", got)
	}
	if c.Of("Unknown") != 0 {
		t.Error("an unknown state has a count")
	}
}

func TestCompareFailedAgents(t *testing.T) {
	agents := []FailedAgent{
		{InstanceUID: "b", State: AgentDenied}, {InstanceUID: "c", State: AgentFailed},
		{InstanceUID: "a", State: AgentTimedOut}, {InstanceUID: "a", State: AgentFailed},
	}
	slices.SortFunc(agents, CompareFailedAgents)
	var got []string
	for _, a := range agents {
		got = append(got, a.InstanceUID+"/"+string(a.State))
	}
	want := []string{"a/Failed", "c/Failed", "a/TimedOut", "b/Denied"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if AgentApplied.Problem() || !AgentUnverifiable.Problem() {
		t.Error("Problem() disagrees with ProblemStates")
	}
}

func TestTopVersions(t *testing.T) {
	if got := TopVersions(nil); got != nil {
		t.Errorf("no versions: %v, want nil", got)
	}
	counts := map[string]int32{"0.148.0": 3, "0.149.0": 5, "0.147.0": 3}
	for i := range MaxVersions {
		counts["1."+string(rune('a'+i%26))+string(rune('a'+i/26))] = 1
	}
	got := TopVersions(counts)
	if len(got) != MaxVersions {
		t.Fatalf("%d versions kept, want %d", len(got), MaxVersions)
	}
	want := []VersionCount{{"0.149.0", 5}, {"0.147.0", 3}, {"0.148.0", 3}}
	if !slices.Equal(got[:3], want) {
		t.Errorf("top %v, want %v", got[:3], want)
	}
}
