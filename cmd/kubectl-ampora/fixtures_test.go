package main

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// now is the clock of every rendering test.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time {
	t := metav1.NewTime(now.Add(d))
	return &t
}

// pausedRollout is a rollout a failure-ratio gate paused on batch 1 of 2.
func pausedRollout() *fleetv1alpha1.Rollout {
	bs := fleetv1alpha1.FromInt(10)
	return &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "gw", Generation: 1, CreationTimestamp: *at(-5 * time.Minute)},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "gateways", Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs},
			Gates: &fleetv1alpha1.GateThresholds{MaxFailurePercent: ptr.To(int32(10))}},
		Status: fleetv1alpha1.RolloutStatus{
			ObservedGeneration: 1,
			Phase:              fleetv1alpha1.RolloutPaused,
			Message:            "failure-ratio: 40 % > 10 % (batch 1: 4 failed); resume with: kubectl annotate rollout gw fleet.ampora.io/action=resume",
			Revision:           "3f2a9c0d1e",
			ConfigHash:         "3f2a9c0d1e" + "0000000000000000000000000000000000000000000000000000",
			GroupSize:          20,
			Plan:               []int32{10, 10},
			BatchProgress:      "1/2",
			CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 1, Size: 10, Phase: fleetv1alpha1.BatchEvaluating,
				StartedAt: at(-90 * time.Second), FinishedAt: at(-60 * time.Second)},
			Counts:           fleetv1alpha1.AgentCounts{Targeted: 10, Applied: 6, Failed: 4},
			BatchCounts:      fleetv1alpha1.AgentCounts{Targeted: 10, Applied: 6, Failed: 4},
			AppliesPerMinute: 4,
			Pause: &fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseGateBreach, Gate: fleetv1alpha1.GateFailureRatio,
				Observed: "40 %", Threshold: "10 %", Batch: 1, Since: *at(-60 * time.Second), Message: "failure-ratio: 40 % > 10 %"},
			FailedAgents: []fleetv1alpha1.FailedAgent{
				{InstanceUID: "0190f3c2-0000-7000-8000-000000000001", State: fleetv1alpha1.AgentFailed, ServiceVersion: "0.148.0", Message: `exporter "otlp": connection refused`},
				{InstanceUID: "0190f3c2-0000-7000-8000-000000000002", State: fleetv1alpha1.AgentFailed, ServiceVersion: "0.148.0", Message: `exporter "otlp": connection refused`},
				{InstanceUID: "0190f3c2-0000-7000-8000-000000000003", State: fleetv1alpha1.AgentFailed, ServiceVersion: "0.149.0", Message: `exporter "otlp": connection refused`},
				{InstanceUID: "0190f3c2-0000-7000-8000-000000000004", State: fleetv1alpha1.AgentFailed, ServiceVersion: "0.149.0", Message: "unknown processor \"batchx\""},
			},
			EffectiveGates: &fleetv1alpha1.EffectiveGates{GateThresholds: fleetv1alpha1.GateThresholds{
				MaxFailurePercent: ptr.To(int32(10)), MaxDisconnectPercent: ptr.To(int32(20)),
				BakeTime: &metav1.Duration{Duration: 5 * time.Minute}, OnFailure: fleetv1alpha1.GateFailurePause}},
			Replicas: []fleetv1alpha1.ReplicaReport{{Replica: "ampora-a", ConfigHash: "3f2a9c0d1e" + "0000000000000000000000000000000000000000000000000000",
				Batch: 1, ReportedAt: *at(-2 * time.Second), Connected: 10}},
			StartedAt:         at(-90 * time.Second),
			LastEvaluatedTime: at(-3 * time.Second),
			Conditions: []metav1.Condition{
				{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: fleetv1alpha1.ReasonGateBreach, Message: "failure-ratio: 40 % > 10 %"},
				{Type: fleetv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonGateBreach, Message: "failure-ratio: 40 % > 10 %"},
			},
		},
	}
}

func group(matching, connected int32) *fleetv1alpha1.AgentGroup {
	return &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "gateways"},
		Status: fleetv1alpha1.AgentGroupStatus{MatchingAgents: matching, ConnectedAgents: connected}}
}

func failedAgent(uid, version, msg string) agentInfo {
	return agentInfo{InstanceUID: uid, State: fleetv1alpha1.AgentFailed, Message: msg, ServiceName: "otelcol",
		ServiceVersion: version, HostName: "host-" + uid[len(uid)-2:], Replica: "ampora-a", Connected: true, AcceptsConfig: true, ReportsStatus: true}
}

func appliedAgent(uid string) agentInfo {
	return agentInfo{InstanceUID: uid, State: fleetv1alpha1.AgentApplied, ServiceName: "otelcol", ServiceVersion: "0.149.0",
		HostName: "host-" + uid[len(uid)-2:], Replica: "ampora-a", Connected: true, AcceptsConfig: true, ReportsStatus: true}
}

// liveReplica is a replica Lease renewed a second ago.
func liveReplica() replicaLease {
	return replicaLease{Name: "ampora-a", URL: "http://10.0.0.7:8443", Renewed: now.Add(-time.Second), Expires: now.Add(14 * time.Second)}
}

// pausedWhy is what why sees of pausedRollout with the read API answering.
func pausedWhy() whyInput {
	return whyInput{
		Now:               now,
		Rollout:           pausedRollout(),
		Group:             group(20, 20),
		OperatorNamespace: "ampora-system",
		Leader:            leaderLease{Found: true, Holder: "ampora-a_1234", Renewed: now.Add(-2 * time.Second), Expires: now.Add(28 * time.Second)},
		Replicas:          []replicaLease{liveReplica()},
		Agents: agentsResult{Answered: 1, Agents: []agentInfo{
			failedAgent("0190f3c2-0000-7000-8000-000000000001", "0.148.0", `exporter "otlp": connection refused`),
			failedAgent("0190f3c2-0000-7000-8000-000000000002", "0.148.0", `exporter "otlp": connection refused`),
			failedAgent("0190f3c2-0000-7000-8000-000000000003", "0.149.0", `exporter "otlp": connection refused`),
			failedAgent("0190f3c2-0000-7000-8000-000000000004", "0.149.0", `unknown processor "batchx"`),
			appliedAgent("0190f3c2-0000-7000-8000-000000000005"),
			appliedAgent("0190f3c2-0000-7000-8000-000000000006"),
		}},
	}
}
