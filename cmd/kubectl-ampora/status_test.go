package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestOutcome(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*fleetv1alpha1.Rollout)
		code   int
		done   bool
	}{
		{"paused by a gate", nil, exitPaused, true},
		{"completed", func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutCompleted }, exitCompleted, true},
		{"failed", func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutFailed }, exitFailed, true},
		{"rolled back", func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutRolledBack }, exitFailed, true},
		{"aborted", func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutAborted }, exitFailed, true},
		{"progressing", func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutProgressing }, exitInProgress, false},
		{"rolling back", func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutRollingBack }, exitInProgress, false},
		{"blocked", func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutBlocked }, exitInProgress, false},
		{"pending", func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutPending }, exitInProgress, false},
		{"not evaluated", func(r *fleetv1alpha1.Rollout) { r.Status = fleetv1alpha1.RolloutStatus{} }, exitInProgress, false},
		{"completed, but the spec changed since", func(r *fleetv1alpha1.Rollout) {
			r.Status.Phase, r.Generation = fleetv1alpha1.RolloutCompleted, 2
		}, exitInProgress, false},
		{"paused, with a resume not handled yet", func(r *fleetv1alpha1.Rollout) {
			r.Annotations = map[string]string{fleetv1alpha1.AnnotationAction: "resume"}
		}, exitInProgress, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ro := pausedRollout()
			if tt.mutate != nil {
				tt.mutate(ro)
			}
			code, done := outcome(ro)
			if code != tt.code || done != tt.done {
				t.Errorf("outcome = %d, %v; want %d, %v", code, done, tt.code, tt.done)
			}
		})
	}
}

func TestRenderStatus(t *testing.T) {
	tests := []struct {
		name  string
		ro    func() *fleetv1alpha1.Rollout
		group *fleetv1alpha1.AgentGroup
		want  string
	}{
		{
			name:  "paused by a gate on batch 1 of 2",
			ro:    pausedRollout,
			group: group(20, 19),
			want: `Rollout demo/gw: Paused (GateBreach)
├─ Revision        3f2a9c0d1e (previous: none)
├─ Group           gateways: 20 matching, 19 connected (20 agents when the revision started)
├─ Batch           1 of 2: Evaluating, finished 60s ago
│  ├─ batch 1      10 agents  10 cumulative  current
│  └─ batch 2      10 agents  20 cumulative  next
├─ Agents          total  batch 1
│  ├─ targeted        10       10
│  ├─ pending          0        0
│  ├─ applying         0        0
│  ├─ applied          6        6
│  ├─ unhealthy        0        0
│  ├─ failed           4        4
│  ├─ disconnected     0        0
│  ├─ timed out        0        0
│  ├─ incompatible     0        0
│  ├─ denied           0        0
│  └─ unverifiable     0        0
├─ Throughput      4 applied/min, 6 of 20 applied, no ETA while paused
├─ Paused          failure-ratio: 40 % > 10 %
│  ├─ gate         failure-ratio
│  ├─ observed     40 % (threshold 10 %)
│  ├─ batch        1
│  └─ since        11:59:00 (60s ago)
├─ Message         failure-ratio: 40 % > 10 % (batch 1: 4 failed); resume with: kubectl annotate rollout gw fleet.ampora.io/action=resume
└─ Ready           False (GateBreach)
`,
		},
		{
			name: "pushing batch 2 with an ETA, the AgentGroup unreadable",
			ro: func() *fleetv1alpha1.Rollout {
				ro := pausedRollout()
				st := &ro.Status
				st.Phase, st.Pause, st.Message, st.Conditions = fleetv1alpha1.RolloutProgressing, nil, "batch 2 of 2: 3 of 10 applied, 7 applying, 0 pending", nil
				st.CurrentBatch = &fleetv1alpha1.BatchStatus{Number: 2, Size: 10, Phase: fleetv1alpha1.BatchPushing, StartedAt: at(-10 * time.Second)}
				st.BatchCounts = fleetv1alpha1.AgentCounts{Targeted: 10, Applied: 3, Applying: 7}
				st.Counts = fleetv1alpha1.AgentCounts{Targeted: 20, Applied: 13, Applying: 7}
				st.AppliesPerMinute, st.EstimatedCompletionTime = 9, at(47*time.Second)
				st.LastAction = &fleetv1alpha1.ActionRecord{Action: fleetv1alpha1.ActionResume, RequestedBy: "alice", HandledAt: *at(-11 * time.Second)}
				return ro
			},
			want: `Rollout demo/gw: Progressing
├─ Revision        3f2a9c0d1e (previous: none)
├─ Group           gateways (20 agents when the revision started)
├─ Batch           2 of 2: Pushing, started 10s ago
│  ├─ batch 1      10 agents  10 cumulative  done
│  └─ batch 2      10 agents  20 cumulative  current
├─ Agents          total  batch 2
│  ├─ targeted        20       10
│  ├─ pending          0        0
│  ├─ applying         7        7
│  ├─ applied         13        3
│  ├─ unhealthy        0        0
│  ├─ failed           0        0
│  ├─ disconnected     0        0
│  ├─ timed out        0        0
│  ├─ incompatible     0        0
│  ├─ denied           0        0
│  └─ unverifiable     0        0
├─ Throughput      9 applied/min, 13 of 20 applied, ETA 12:00:47 (in 47s)
├─ Message         batch 2 of 2: 3 of 10 applied, 7 applying, 0 pending
└─ Last action     resume by alice, 11s ago
`,
		},
		{
			name: "waiting for approval",
			ro: func() *fleetv1alpha1.Rollout {
				ro := pausedRollout()
				ro.Status = fleetv1alpha1.RolloutStatus{ObservedGeneration: 1, Phase: fleetv1alpha1.RolloutPending,
					Revision: "3f2a9c0d1e", ConfigHash: "3f2a9c0d1e00", Message: "waiting for approval",
					Approvals: &fleetv1alpha1.ApprovalStatus{Policy: "production", Required: 2, Author: "alice", ApprovedBy: []string{"bob"}}}
				return ro
			},
			group: group(20, 20),
			want: `Rollout demo/gw: Pending
├─ Revision        3f2a9c0d1e (previous: none)
├─ Group           gateways: 20 matching, 20 connected
├─ Batch           not planned yet
├─ Agents          total
│  ├─ targeted         0
│  ├─ pending          0
│  ├─ applying         0
│  ├─ applied          0
│  ├─ unhealthy        0
│  ├─ failed           0
│  ├─ disconnected     0
│  ├─ timed out        0
│  ├─ incompatible     0
│  ├─ denied           0
│  └─ unverifiable     0
├─ Approvals       1 of 2, required by GatePolicy production
│  ├─ approved by  bob
│  └─ author       alice (cannot approve)
└─ Message         waiting for approval
`,
		},
		{
			name: "not started yet, spec not seen",
			ro: func() *fleetv1alpha1.Rollout {
				ro := pausedRollout()
				ro.Generation = 2
				ro.Status = fleetv1alpha1.RolloutStatus{ObservedGeneration: 1, Phase: fleetv1alpha1.RolloutPending,
					Message: "no connected agent matches AgentGroup gateways"}
				return ro
			},
			group: group(0, 0),
			want: `Rollout demo/gw: Pending
├─ Revision        not started
├─ Group           gateways: 0 matching, 0 connected
├─ Batch           not planned yet
├─ Agents          total
│  ├─ targeted         0
│  ├─ pending          0
│  ├─ applying         0
│  ├─ applied          0
│  ├─ unhealthy        0
│  ├─ failed           0
│  ├─ disconnected     0
│  ├─ timed out        0
│  ├─ incompatible     0
│  ├─ denied           0
│  └─ unverifiable     0
├─ Message         no connected agent matches AgentGroup gateways
└─ Note            the engine has not seen the latest spec yet (generation 2, observed 1)
`,
		},
		{
			name: "aborted while baking",
			ro: func() *fleetv1alpha1.Rollout {
				ro := pausedRollout()
				st := &ro.Status
				st.Phase, st.Pause, st.Conditions = fleetv1alpha1.RolloutAborted, nil, nil
				st.Message = "aborted by bob; agents keep the config they run"
				st.CurrentBatch = &fleetv1alpha1.BatchStatus{Number: 1, Size: 10, Phase: fleetv1alpha1.BatchBaking, StartedAt: at(-90 * time.Second),
					FinishedAt: at(-60 * time.Second), BakeUntil: at(time.Hour)}
				st.Counts = fleetv1alpha1.AgentCounts{Targeted: 10, Applied: 10}
				st.BatchCounts = st.Counts
				st.EstimatedCompletionTime = at(time.Minute)
				st.LastAction = &fleetv1alpha1.ActionRecord{Action: fleetv1alpha1.ActionAbort, RequestedBy: "bob", HandledAt: *at(-time.Second)}
				return ro
			},
			group: group(20, 20),
			want: `Rollout demo/gw: Aborted
├─ Revision        3f2a9c0d1e (previous: none)
├─ Group           gateways: 20 matching, 20 connected (20 agents when the revision started)
├─ Batch           1 of 2, stopped while baking, finished 60s ago
│  ├─ batch 1      10 agents  10 cumulative  stopped
│  └─ batch 2      10 agents  20 cumulative  not started
├─ Agents          total  batch 1
│  ├─ targeted        10       10
│  ├─ pending          0        0
│  ├─ applying         0        0
│  ├─ applied         10       10
│  ├─ unhealthy        0        0
│  ├─ failed           0        0
│  ├─ disconnected     0        0
│  ├─ timed out        0        0
│  ├─ incompatible     0        0
│  ├─ denied           0        0
│  └─ unverifiable     0        0
├─ Throughput      4 applied/min, 10 of 20 applied
├─ Message         aborted by bob; agents keep the config they run
└─ Last action     abort by bob, 1s ago
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			renderStatus(&b, statusView{Rollout: tt.ro(), Group: tt.group, Now: now})
			if got := b.String(); got != tt.want {
				t.Errorf("renderStatus:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestPlanRows(t *testing.T) {
	st := func(phase fleetv1alpha1.RolloutPhase, cur int32, bp fleetv1alpha1.BatchPhase, plan ...int32) *fleetv1alpha1.RolloutStatus {
		s := &fleetv1alpha1.RolloutStatus{Phase: phase, Plan: plan}
		if cur > 0 {
			s.CurrentBatch = &fleetv1alpha1.BatchStatus{Number: cur, Phase: bp}
		}
		return s
	}
	tests := []struct {
		name string
		st   *fleetv1alpha1.RolloutStatus
		want []string
	}{
		{"no plan", st(fleetv1alpha1.RolloutPending, 0, ""), nil},
		{"planned, not started", st(fleetv1alpha1.RolloutPending, 0, "", 1, 4, 5), []string{
			"batch 1      1 agent    1 cumulative  next",
			"batch 2      4 agents   5 cumulative  next",
			"batch 3      5 agents  10 cumulative  next",
		}},
		{"current batch done, next not started", st(fleetv1alpha1.RolloutProgressing, 1, fleetv1alpha1.BatchDone, 2, 2), []string{
			"batch 1      2 agents  2 cumulative  done",
			"batch 2      2 agents  4 cumulative  next",
		}},
		{"completed", st(fleetv1alpha1.RolloutCompleted, 2, fleetv1alpha1.BatchDone, 2, 2), []string{
			"batch 1      2 agents  2 cumulative  done",
			"batch 2      2 agents  4 cumulative  done",
		}},
		{"a long plan folds the batches away from the current one",
			st(fleetv1alpha1.RolloutProgressing, 7, fleetv1alpha1.BatchPushing, 2, 4, 8, 16, 32, 64, 100, 100, 100, 100, 100, 100, 74), []string{
				"batch 1         2 agents    2 cumulative  done",
				"batches 2-4    28 agents   30 cumulative  done",
				"batch 5        32 agents   62 cumulative  done",
				"batch 6        64 agents  126 cumulative  done",
				"batch 7       100 agents  226 cumulative  current",
				"batch 8       100 agents  326 cumulative  next",
				"batch 9       100 agents  426 cumulative  next",
				"batches 10-12 300 agents  726 cumulative  next",
				"batch 13       74 agents  800 cumulative  next",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planRows(tt.st)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("planRows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestThroughputText(t *testing.T) {
	base := func() *fleetv1alpha1.RolloutStatus {
		return &fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutProgressing, GroupSize: 100,
			Counts: fleetv1alpha1.AgentCounts{Applied: 40}, AppliesPerMinute: 20, StartedAt: at(-2 * time.Minute),
			CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 2, Phase: fleetv1alpha1.BatchPushing}}
	}
	tests := []struct {
		name   string
		mutate func(*fleetv1alpha1.RolloutStatus)
		want   string
	}{
		{"no estimate", nil, "20 applied/min, 40 of 100 applied, no ETA"},
		{"estimate", func(s *fleetv1alpha1.RolloutStatus) { s.EstimatedCompletionTime = at(3 * time.Minute) },
			"20 applied/min, 40 of 100 applied, ETA 12:03:00 (in 3m)"},
		{"estimate on another day", func(s *fleetv1alpha1.RolloutStatus) { s.EstimatedCompletionTime = at(13 * time.Hour) },
			"20 applied/min, 40 of 100 applied, ETA 2026-11-26 01:00:00 (in 13h)"},
		{"overdue", func(s *fleetv1alpha1.RolloutStatus) { s.EstimatedCompletionTime = at(-5 * time.Second) },
			"20 applied/min, 40 of 100 applied, ETA 11:59:55 (overdue)"},
		{"baking past the estimate", func(s *fleetv1alpha1.RolloutStatus) {
			s.EstimatedCompletionTime = at(time.Minute)
			s.CurrentBatch.Phase, s.CurrentBatch.BakeUntil = fleetv1alpha1.BatchBaking, at(10*time.Minute)
		}, "20 applied/min, 40 of 100 applied, ETA after baking ends at 12:10:00"},
		{"paused", func(s *fleetv1alpha1.RolloutStatus) {
			s.Phase, s.EstimatedCompletionTime = fleetv1alpha1.RolloutPaused, at(time.Minute)
		}, "20 applied/min, 40 of 100 applied, no ETA while paused"},
		{"completed", func(s *fleetv1alpha1.RolloutStatus) {
			s.Phase, s.CompletedAt = fleetv1alpha1.RolloutCompleted, at(-10*time.Second)
		}, "20 applied/min, 40 of 100 applied, took 1m50s"},
		{"rolling back", func(s *fleetv1alpha1.RolloutStatus) {
			s.Phase, s.EstimatedCompletionTime = fleetv1alpha1.RolloutRollingBack, at(time.Minute)
		}, "20 applied/min, 40 of 100 applied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := base()
			if tt.mutate != nil {
				tt.mutate(st)
			}
			if got := throughputText(st, now); got != tt.want {
				t.Errorf("throughputText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFingerprintIgnoresHeartbeats(t *testing.T) {
	a := pausedRollout()
	b := pausedRollout()
	b.Status.LastEvaluatedTime = at(time.Minute)
	b.Status.Replicas[0].ReportedAt = metav1.NewTime(now.Add(time.Minute))
	b.Status.AppliesPerMinute = 99
	b.Status.EstimatedCompletionTime = at(time.Hour)
	if fingerprint(a) != fingerprint(b) {
		t.Error("heartbeats changed the fingerprint")
	}
	b.Status.Counts.Failed++
	if fingerprint(a) == fingerprint(b) {
		t.Error("a new count did not change the fingerprint")
	}
}
