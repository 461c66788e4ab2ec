package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// A silent replica's frozen numbers do not count, and keep the batch from being up to date.
func TestAggregateLeavesSilentReplicasOut(t *testing.T) {
	batch := &fleetv1alpha1.BatchStatus{Number: 1, StartedAt: mtime(t0)}
	entry := func(replica string, applied int32) fleetv1alpha1.ReplicaReport {
		return fleetv1alpha1.ReplicaReport{Replica: replica, ConfigHash: hashNew, Batch: 1, BatchStartedAt: mtime(t0),
			Counts:      fleetv1alpha1.AgentCounts{Targeted: applied, Applied: applied},
			BatchCounts: fleetv1alpha1.AgentCounts{Targeted: applied, Applied: applied}}
	}
	reports := []fleetv1alpha1.ReplicaReport{entry("a", 3), entry("b", 5)}
	o := aggregate(reports, liveReplicas("a", "b"), map[string]bool{"b": true}, hashNew, batch)
	if o.counts.Applied != 3 || o.batch.Applied != 3 {
		t.Errorf("counted %d applied (%d in the batch), want 3: b is silent", o.counts.Applied, o.batch.Applied)
	}
	if o.upToDate() || batchFinished(o) {
		t.Error("a batch with a silent live replica counts as up to date")
	}
	if o := aggregate(reports, liveReplicas("a", "b"), nil, hashNew, batch); !o.upToDate() || o.counts.Applied != 8 {
		t.Errorf("without silence: up to date %v, %d applied; want true, 8", o.upToDate(), o.counts.Applied)
	}
}

func TestSilenceConditions(t *testing.T) {
	silent := []silence{{"ampora-1", t0.Add(-time.Minute).UTC()}}
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Status: fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutProgressing}}
	setConditions(ro, health{reason: "Progressing", message: "batch 1"}, silent)
	c := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionReplicaSilent)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != fleetv1alpha1.ReasonNotReporting ||
		!strings.HasPrefix(c.Message, "replica ampora-1 has not reported since ") || c.ObservedGeneration != 2 {
		t.Fatalf("ReplicaSilent = %+v", c)
	}
	setConditions(ro, health{reason: "Progressing", message: "batch 1"}, nil)
	if meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionReplicaSilent) != nil {
		t.Error("ReplicaSilent stays once every replica reports")
	}

	g := &fleetv1alpha1.AgentGroup{Status: fleetv1alpha1.AgentGroupStatus{Replicas: []fleetv1alpha1.GroupReplicaReport{
		{Replica: "ampora-0", Matching: 4, Connected: 4}, {Replica: "ampora-1", Matching: 6, Connected: 6}}}}
	summarizeGroup(g, liveReplicas("ampora-0", "ampora-1"), silent)
	if g.Status.MatchingAgents != 4 || meta.FindStatusCondition(g.Status.Conditions, fleetv1alpha1.ConditionReplicaSilent) == nil {
		t.Errorf("group: %d matching, conditions %+v; want 4 and ReplicaSilent", g.Status.MatchingAgents, g.Status.Conditions)
	}
}
