package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestVerdict(t *testing.T) {
	progressing := func(in *whyInput) {
		st := &in.Rollout.Status
		st.Phase, st.Pause = fleetv1alpha1.RolloutProgressing, nil
		st.CurrentBatch = &fleetv1alpha1.BatchStatus{Number: 2, Size: 10, Phase: fleetv1alpha1.BatchPushing, StartedAt: at(-10 * time.Second)}
		st.EstimatedCompletionTime = at(2 * time.Minute)
		in.Agents.Agents = []agentInfo{appliedAgent("0190f3c2-0000-7000-8000-000000000005")}
	}
	tests := []struct {
		name   string
		mutate func(*whyInput)
		want   string
	}{
		{
			name: "gate breach, with the top error from the read API",
			want: `gate failure-ratio paused batch 1 (failure-ratio: 40 % > 10 %); top error, 3 agents on 0.148.0 ×2, 0.149.0 ×1: exporter "otlp": connection refused; fix the cause (or raise spec.gates.maxFailurePercent), then resume with: kubectl ampora resume gw -n demo`,
		},
		{
			name:   "gate breach, the read API unavailable: the status sample",
			mutate: func(in *whyInput) { in.Agents = agentsResult{Problems: []string{"no token"}} },
			want:   `gate failure-ratio paused batch 1 (failure-ratio: 40 % > 10 %); top error, 3 agents on 0.148.0 ×2, 0.149.0 ×1: exporter "otlp": connection refused; fix the cause (or raise spec.gates.maxFailurePercent), then resume with: kubectl ampora resume gw -n demo`,
		},
		{
			name: "disconnect gate, agents without a session",
			mutate: func(in *whyInput) {
				p := in.Rollout.Status.Pause
				p.Gate, p.Message = fleetv1alpha1.GateDisconnectRatio, "disconnect-ratio: 35 % > 20 %"
				in.Rollout.Status.FailedAgents = nil
				in.Agents.Agents = []agentInfo{{InstanceUID: "a", State: fleetv1alpha1.AgentDisconnected, Message: "session lost after the push"}}
			},
			want: "gate disconnect-ratio paused batch 1 (disconnect-ratio: 35 % > 20 %); 1 agent without a live session; fix the cause (or raise spec.gates.maxDisconnectPercent), then resume with: kubectl ampora resume gw -n demo",
		},
		{
			name: "inconclusive",
			mutate: func(in *whyInput) {
				p := in.Rollout.Status.Pause
				p.Reason, p.Gate, p.Message = fleetv1alpha1.PauseGateInconclusive, fleetv1alpha1.GateMinSample, "min-sample: 3 finished agents < 5"
			},
			want: "gate min-sample paused batch 1: too few agents finished to judge (min-sample: 3 finished agents < 5); lower spec.gates.minSampleSize or resume with: kubectl ampora resume gw -n demo",
		},
		{
			name: "waiting for approval",
			mutate: func(in *whyInput) {
				progressing(in)
				st := &in.Rollout.Status
				st.Phase, st.CurrentBatch = fleetv1alpha1.RolloutPending, nil
				st.Approvals = &fleetv1alpha1.ApprovalStatus{Policy: "production", Required: 2, Author: "alice", ApprovedBy: []string{"bob"}}
			},
			want: "waiting for approval: revision 3f2a9c0d1e has 1 of 2 approvals required by GatePolicy production; alice wrote it, another user must approve; review it and approve with: kubectl ampora approve gw -n demo",
		},
		{
			name: "manual pause",
			mutate: func(in *whyInput) {
				in.Rollout.Spec.Paused = true
				in.Rollout.Status.Pause = &fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseManual, Since: *at(-time.Minute), Message: "paused by spec.paused"}
			},
			want: "paused by spec.paused; resume with: kubectl ampora resume gw -n demo",
		},
		{
			name: "no leader ticking: the Lease expired",
			mutate: func(in *whyInput) {
				in.Rollout.Status.LastEvaluatedTime = at(-5 * time.Minute)
				in.Leader = leaderLease{Found: true, Holder: "ampora-b", Renewed: now.Add(-5 * time.Minute), Expires: now.Add(-270 * time.Second)}
			},
			want: "no leader is ticking: status last evaluated 5m ago and the leader Lease (held by ampora-b) expired 4m30s ago; check the manager: kubectl -n ampora-system get pods,leases",
		},
		{
			name: "no leader ticking: no Lease, never evaluated",
			mutate: func(in *whyInput) {
				in.Rollout.Status = fleetv1alpha1.RolloutStatus{}
				in.Leader = leaderLease{}
			},
			want: "no leader is ticking: status never evaluated (created 5m ago) and there is no leader Lease; check the manager: kubectl -n ampora-system get pods,leases",
		},
		{
			name:   "spec not seen yet",
			mutate: func(in *whyInput) { in.Rollout.Generation = 2 },
			want:   "the engine has not seen the latest spec yet; wait a few seconds and ask again: kubectl ampora why gw -n demo",
		},
		{
			name: "no sidecar replica",
			mutate: func(in *whyInput) {
				in.Replicas = []replicaLease{{Name: "ampora-a", Renewed: now.Add(-time.Minute), Expires: now.Add(-45 * time.Second)}}
				in.Agents = agentsResult{Problems: []string{"no live OpAMP sidecar replica to ask"}}
			},
			want: "no OpAMP sidecar replica is live, so no agent is served or counted; check the sidecars: kubectl -n ampora-system get leases -l fleet.ampora.io/opamp-replica",
		},
		{
			name:   "progressing normally",
			mutate: progressing,
			want:   "progressing normally: batch 2 of 2, 4 applied/min, 6 of 20 applied, ETA 12:02:00 (in 2m); follow with: kubectl ampora status gw -n demo --watch",
		},
		{
			name: "progressing, agents without a session",
			mutate: func(in *whyInput) {
				progressing(in)
				in.Agents.Agents = append(in.Agents.Agents,
					agentInfo{InstanceUID: "b", State: fleetv1alpha1.AgentPending},
					agentInfo{InstanceUID: "c", State: fleetv1alpha1.AgentTimedOut, Message: "no live session within the apply timeout"})
			},
			want: "2 agents of the rollout have no live session and time out after 5m; check their connection to the OpAMP endpoint: kubectl ampora agents gw -n demo --state timedout",
		},
		{
			name: "progressing, agents stuck applying",
			mutate: func(in *whyInput) {
				progressing(in)
				in.Rollout.Spec.ApplyTimeout = &metav1.Duration{Duration: 2 * time.Minute}
				in.Agents.Agents = append(in.Agents.Agents,
					agentInfo{InstanceUID: "b", State: fleetv1alpha1.AgentTimedOut, Connected: true, Message: "applying for longer than the apply timeout"})
			},
			want: "1 agent did not finish applying within 2m (TimedOut: applying for longer than the apply timeout); look at those agents' collector logs and connection (retry re-offers the config only to agents that reported FAILED): kubectl ampora agents gw -n demo --state timedout",
		},
		{
			name: "progressing, unverifiable agents",
			mutate: func(in *whyInput) {
				progressing(in)
				in.Rollout.Status.Counts.Unverifiable = 3
			},
			want: "3 agents cannot report remote config status (capability mismatch) and cannot be verified; enable ReportsRemoteConfig on those agents or exclude them from AgentGroup gateways",
		},
		{
			name: "progressing, but its ConfigMap is gone",
			mutate: func(in *whyInput) {
				progressing(in)
				in.Rollout.Status.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
					Reason: fleetv1alpha1.ReasonConfigNotFound, Message: "ConfigMap gateway-config not found"}}
			},
			want: "stalled (ConfigNotFound): ConfigMap gateway-config not found; fix that cause, and the engine carries on by itself",
		},
		{
			name: "blocked by another rollout",
			mutate: func(in *whyInput) {
				in.Rollout.Status = fleetv1alpha1.RolloutStatus{ObservedGeneration: 1, Phase: fleetv1alpha1.RolloutBlocked, LastEvaluatedTime: at(-time.Second),
					Message: "AgentGroup gateways is held by Rollout first; this rollout starts when that one finishes"}
				in.Group.Status.ActiveRollout = "first"
			},
			want: "blocked: rollout first holds AgentGroup gateways; wait for it, or stop it with: kubectl ampora abort first -n demo",
		},
		{
			name: "no agent in the group",
			mutate: func(in *whyInput) {
				in.Rollout.Status = fleetv1alpha1.RolloutStatus{ObservedGeneration: 1, Phase: fleetv1alpha1.RolloutPending, LastEvaluatedTime: at(-time.Second),
					Message: "no connected agent matches AgentGroup gateways"}
				in.Group = group(0, 0)
			},
			want: "no connected agent matches AgentGroup gateways; check its selector (kubectl get agentgroup gateways -n demo -o yaml) and that agents enroll with a token of namespace demo",
		},
		{
			name: "rolling back",
			mutate: func(in *whyInput) {
				st := &in.Rollout.Status
				st.Phase, st.Pause, st.PreviousRevision = fleetv1alpha1.RolloutRollingBack, nil, "a1b2c3d4e5"
			},
			want: "rolling back to a1b2c3d4e5: 10 targeted: 6 applied, 4 failed; follow with: kubectl ampora status gw -n demo --watch",
		},
		{
			name: "completed",
			mutate: func(in *whyInput) {
				in.Rollout.Status.Phase = fleetv1alpha1.RolloutCompleted
				in.Rollout.Status.Message = "revision 3f2a9c0d1e rolled out in 2 batches: 16 applied, 4 failed, 0 timed out"
			},
			want: "completed: revision 3f2a9c0d1e rolled out in 2 batches: 16 applied, 4 failed, 0 timed out; nothing to do",
		},
		{
			name: "failed",
			mutate: func(in *whyInput) {
				in.Rollout.Status.Phase = fleetv1alpha1.RolloutFailed
				in.Rollout.Status.Message = `invalid config: pipeline "traces": exporter "otlp/backend" is not defined`
			},
			want: `the rollout cannot proceed: invalid config: pipeline "traces": exporter "otlp/backend" is not defined; fix the spec and apply it again`,
		},
		{
			name: "aborted, long ago, with no leader: the phase is what matters",
			mutate: func(in *whyInput) {
				in.Rollout.Status.Phase = fleetv1alpha1.RolloutAborted
				in.Rollout.Status.Message = "aborted by bob; agents keep the config they run"
				in.Rollout.Status.LastEvaluatedTime = at(-time.Hour)
				in.Leader = leaderLease{}
			},
			want: "aborted: aborted by bob; agents keep the config they run; edit the config to start a new revision",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := pausedWhy()
			if tt.mutate != nil {
				tt.mutate(&in)
			}
			if got := verdict(in); got != tt.want {
				t.Errorf("verdict:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRenderWhy(t *testing.T) {
	var b bytes.Buffer
	renderWhy(&b, pausedWhy())
	want := `Rollout demo/gw: Paused (GateBreach), batch 1 of 2, revision 3f2a9c0d1e
failure-ratio: 40 % > 10 % (batch 1: 4 failed); resume with: kubectl annotate rollout gw fleet.ampora.io/action=resume

1. Leader
   Lease ampora-system/ampora-rollout-engine held by ampora-a_1234, renewed 2s ago (expires in 28s)

2. Engine
   status last evaluated 3s ago
   Stalled: GateBreach: failure-ratio: 40 % > 10 %

3. Sidecar replicas
   1 live of 1 (Leases labelled fleet.ampora.io/opamp-replica in ampora-system)
   ampora-a: live, renewed 1s ago; reported 2s ago on batch 1, 10 connected; read API http://10.0.0.7:8443

4. Gates
   failure-ratio: 40 % > 10 %
   gate failure-ratio on batch 1: observed 40 %, threshold 10 % (spec.gates.maxFailurePercent); paused 60s ago
   in force: failure-ratio 10 %, disconnect-ratio 20 %, bake 5m, on failure Pause

5. Agents
   batch 1: 10 targeted: 6 applied, 4 failed
   total:   10 targeted: 6 applied, 4 failed
   AgentGroup gateways: 20 matching, 20 connected, 0 conflicting
   read API: 1 of 1 replicas answered, 6 agents admitted

6. Top errors
   3 agents on 0.148.0 ×2, 0.149.0 ×1: exporter "otlp": connection refused
   1 agent on 0.149.0 ×1: unknown processor "batchx"

7. No live session
   every admitted agent has a live session, or had one when it finished

8. Stuck applying
   apply timeout 5m; 0 applying now
   no agent is past the apply timeout

9. Capabilities
   no capability mismatch

10. Push denials
   no push policy denies an agent

11. Flapping agents
   none (3 or more disconnects within 10 minutes)

12. Certificates expiring within 7 days
   none

13. Throughput
   4 applied/min, 6 of 20 applied, no ETA while paused

Verdict: gate failure-ratio paused batch 1 (failure-ratio: 40 % > 10 %); top error, 3 agents on 0.148.0 ×2, 0.149.0 ×1: exporter "otlp": connection refused; fix the cause (or raise spec.gates.maxFailurePercent), then resume with: kubectl ampora resume gw -n demo
`
	if got := b.String(); got != want {
		t.Errorf("renderWhy:\n%s\nwant:\n%s", got, want)
	}
}

// TestWhySections checks single sections against what the read API or status shows.
func TestWhySections(t *testing.T) {
	expires := now.Add(3 * 24 * time.Hour)
	expired := now.Add(-time.Hour)
	later := now.Add(30 * 24 * time.Hour)
	tests := []struct {
		name   string
		mutate func(*whyInput)
		want   []string
	}{
		{
			name: "no read API: status and what is missing",
			mutate: func(in *whyInput) {
				in.Agents = agentsResult{Problems: []string{"the kubeconfig user has no bearer token"}}
				in.Rollout.Status.Counts.Denied = 1
				in.Rollout.Status.FailedAgents = append(in.Rollout.Status.FailedAgents,
					fleetv1alpha1.FailedAgent{InstanceUID: "d1", State: fleetv1alpha1.AgentDenied, Message: "denied by push policy frozen"})
			},
			want: []string{
				"   read API not available, going on with what status shows\n   read API: the kubeconfig user has no bearer token\n",
				"6. Top errors\n   (from the sample of failed agents in status, at most 10)\n   3 agents on 0.148.0 ×2, 0.149.0 ×1: exporter \"otlp\": connection refused\n",
				"7. No live session\n   from status: 0 disconnected, 0 timed out (the read API tells which have no session)\n",
				"10. Push denials\n   from status: 1 denied\n   push policy frozen (GatePolicy demo/default): 1 agent, e.g. d1\n",
				"11. Flapping agents\n   needs the read API\n",
				"12. Certificates expiring within 7 days\n   needs the read API\n",
			},
		},
		{
			name: "a finished rollout: the sidecars list no agents",
			mutate: func(in *whyInput) {
				in.Rollout.Status.Phase = fleetv1alpha1.RolloutCompleted
				in.Agents = agentsResult{Answered: 1}
			},
			want: []string{
				"   read API: the sidecars list the agents of active rollouts only, going on with what status shows\n",
				"(from the sample of failed agents in status, at most 10)",
			},
		},
		{
			name: "agents the read API shows in trouble",
			mutate: func(in *whyInput) {
				in.Rollout.Spec.GatePolicyRef = &fleetv1alpha1.LocalObjectReference{Name: "prod"}
				in.Agents.Agents = []agentInfo{
					{InstanceUID: "p1", HostName: "h1", State: fleetv1alpha1.AgentPending},
					{InstanceUID: "p2", State: fleetv1alpha1.AgentPending, Connected: true},
					{InstanceUID: "t1", HostName: "h3", State: fleetv1alpha1.AgentTimedOut, Message: "no live session within the apply timeout"},
					{InstanceUID: "t2", State: fleetv1alpha1.AgentTimedOut, Connected: true, Message: "no APPLIED within the apply timeout"},
					{InstanceUID: "x1", State: fleetv1alpha1.AgentDisconnected, Message: "session lost after the push"},
					{InstanceUID: "u1", State: fleetv1alpha1.AgentUnverifiable, Connected: true, AcceptsConfig: true,
						Message: "agent does not report remote config status and its effective config differs"},
					{InstanceUID: "i1", State: fleetv1alpha1.AgentIncompatible, Connected: true, AcceptsConfig: true, Message: "agent lacks component processors/batch"},
					{InstanceUID: "i2", State: fleetv1alpha1.AgentIncompatible, Connected: true, AcceptsConfig: true, Message: "agent lacks component processors/batch"},
					{InstanceUID: "d1", State: fleetv1alpha1.AgentDenied, Connected: true, AcceptsConfig: true, Message: "denied by push policy frozen"},
					{InstanceUID: "f1", HostName: "h9", State: fleetv1alpha1.AgentApplied, Connected: true, AcceptsConfig: true, Flapping: true, RecentDrops: 5, Replica: "ampora-b"},
					{InstanceUID: "c1", HostName: "h10", State: fleetv1alpha1.AgentApplied, Connected: true, AcceptsConfig: true, CertNotAfter: &expires},
					{InstanceUID: "c2", State: fleetv1alpha1.AgentApplied, Connected: true, AcceptsConfig: true, CertNotAfter: &expired},
					{InstanceUID: "c3", State: fleetv1alpha1.AgentApplied, Connected: true, AcceptsConfig: true, CertNotAfter: &later},
				}
			},
			want: []string{
				"6. Top errors\n   no failed agents\n",
				"7. No live session\n   1 agent Pending, not connected, e.g. p1 (h1)\n" +
					"   1 agent TimedOut: no live session within the apply timeout, e.g. t1 (h3)\n" +
					"   1 agent Disconnected: session lost after the push, e.g. x1\n",
				"8. Stuck applying\n   apply timeout 5m; 0 applying now\n   1 agent TimedOut: no APPLIED within the apply timeout, e.g. t2\n",
				"9. Capabilities\n   1 agent Unverifiable: agent does not report remote config status and its effective config differs, e.g. u1\n" +
					"   2 agents Incompatible: agent lacks component processors/batch, e.g. i1, i2\n" +
					"   5 agents do not accept remote config and are never offered it, e.g. p1 (h1), p2, t1 (h3), ...\n",
				"10. Push denials\n   push policy frozen (GatePolicy demo/prod): 1 agent, e.g. d1\n",
				"11. Flapping agents\n   f1 (h9): 5 recent disconnects, on ampora-b\n",
				"12. Certificates expiring within 7 days\n   c1 (h10): client certificate expires 2026-11-28T12:00:00Z (in 3d)\n" +
					"   c2 (-): client certificate EXPIRED 2026-11-25T11:00:00Z (60m ago)\n",
			},
		},
		{
			name: "an expired leader, a dead replica and a pending action",
			mutate: func(in *whyInput) {
				in.Leader = leaderLease{Found: true, Holder: "ampora-b", Renewed: now.Add(-time.Minute), Expires: now.Add(-30 * time.Second), Transitions: 3}
				in.Replicas = append(in.Replicas, replicaLease{Name: "ampora-b", URL: "http://10.0.0.8:8443", Renewed: now.Add(-time.Minute), Expires: now.Add(-45 * time.Second)})
				in.Rollout.Status.Replicas = append(in.Rollout.Status.Replicas, fleetv1alpha1.ReplicaReport{Replica: "ampora-old", ReportedAt: *at(-time.Hour)})
				in.Rollout.Annotations = map[string]string{fleetv1alpha1.AnnotationAction: "resume", fleetv1alpha1.AnnotationActionRequestedBy: "alice"}
			},
			want: []string{
				"1. Leader\n   Lease ampora-system/ampora-rollout-engine held by ampora-b, renewed 60s ago, EXPIRED 30s ago: no leader is ticking\n   3 leader changes so far\n",
				"   action \"resume\" requested by alice, not handled yet\n",
				"   1 live of 2 (Leases labelled fleet.ampora.io/opamp-replica in ampora-system)\n",
				"   ampora-b: EXPIRED 45s ago, its counts do not count, renewed 60s ago; no entry in the rollout's status; read API http://10.0.0.8:8443\n",
				"   ampora-old: no Lease, its entry (reported 60m ago) does not count\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := pausedWhy()
			tt.mutate(&in)
			var b bytes.Buffer
			renderWhy(&b, in)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("renderWhy lacks\n%s\nin\n%s", w, b.String())
				}
			}
		})
	}
}
