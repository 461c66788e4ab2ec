package controllers

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/gates"
	"github.com/ampora-io/ampora/internal/readapi"
)

// t0 is the fixed clock of these tests.
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func mtime(t time.Time) *metav1.Time {
	v := metav1.NewTime(t)
	return &v
}

func liveReplicas(names ...string) map[string]readapi.Replica {
	m := map[string]readapi.Replica{}
	for _, n := range names {
		m[n] = readapi.Replica{Name: n, URL: "http://" + n + ":8443", Renewed: t0}
	}
	return m
}

// buckets returns a histogram of len(gates.Buckets)+1 counters that starts with head.
func buckets(head ...int32) []int32 {
	out := make([]int32, len(gates.Buckets)+1)
	copy(out, head)
	return out
}

func failedAgent(uid string, state fleetv1alpha1.AgentState) fleetv1alpha1.FailedAgent {
	return fleetv1alpha1.FailedAgent{InstanceUID: uid, State: state, Message: string(state) + " " + uid}
}

func uids(agents []fleetv1alpha1.FailedAgent) []string {
	out := make([]string, 0, len(agents))
	for _, a := range agents {
		out = append(out, a.InstanceUID+"/"+string(a.State))
	}
	return out
}

const (
	hashNew = "1111111111111111111111111111111111111111111111111111111111111111"
	hashOld = "2222222222222222222222222222222222222222222222222222222222222222"
)

func TestAggregate(t *testing.T) {
	batch := &fleetv1alpha1.BatchStatus{Number: 2, Size: 10, Phase: fleetv1alpha1.BatchPushing, StartedAt: mtime(t0)}
	entry := func(replica, hash string, number int32, started *metav1.Time, applied, pending int32) fleetv1alpha1.ReplicaReport {
		return fleetv1alpha1.ReplicaReport{
			Replica: replica, ConfigHash: hash, Batch: number, BatchStartedAt: started, ReportedAt: metav1.NewTime(t0),
			Counts:               fleetv1alpha1.AgentCounts{Targeted: applied + pending + 100, Applied: applied + 100, Pending: pending},
			BatchCounts:          fleetv1alpha1.AgentCounts{Targeted: applied + pending, Applied: applied, Pending: pending},
			ApplyDurationBuckets: []int32{applied},
		}
	}
	tests := []struct {
		name    string
		reports []fleetv1alpha1.ReplicaReport
		live    map[string]readapi.Replica
		batch   *fleetv1alpha1.BatchStatus
		want    observed
	}{
		{
			name: "two live replicas on the current batch are summed",
			reports: []fleetv1alpha1.ReplicaReport{
				entry("a", hashNew, 2, mtime(t0), 3, 1),
				entry("b", hashNew, 2, mtime(t0), 4, 2),
			},
			live:  liveReplicas("a", "b"),
			batch: batch,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 210, Applied: 207, Pending: 3},
				batch:   fleetv1alpha1.AgentCounts{Targeted: 10, Applied: 7, Pending: 3},
				buckets: buckets(7),
				live:    2, current: 2,
			},
		},
		{
			name: "a dead replica's entry is ignored entirely",
			reports: []fleetv1alpha1.ReplicaReport{
				entry("a", hashNew, 2, mtime(t0), 3, 1),
				entry("dead", hashNew, 2, mtime(t0), 50, 50),
			},
			live:  liveReplicas("a"),
			batch: batch,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 104, Applied: 103, Pending: 1},
				batch:   fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 3, Pending: 1},
				buckets: buckets(3),
				live:    1, current: 1,
			},
		},
		{
			name: "another revision's entry is ignored and its replica is not current",
			reports: []fleetv1alpha1.ReplicaReport{
				entry("a", hashNew, 2, mtime(t0), 3, 1),
				entry("b", hashOld, 2, mtime(t0), 50, 50),
			},
			live:  liveReplicas("a", "b"),
			batch: batch,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 104, Applied: 103, Pending: 1},
				batch:   fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 3, Pending: 1},
				buckets: buckets(3),
				live:    2, current: 1,
			},
		},
		{
			name: "an entry about an earlier batch counts in counts only",
			reports: []fleetv1alpha1.ReplicaReport{
				entry("a", hashNew, 2, mtime(t0), 3, 1),
				entry("b", hashNew, 1, mtime(t0), 5, 0),
			},
			live:  liveReplicas("a", "b"),
			batch: batch,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 209, Applied: 208, Pending: 1},
				batch:   fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 3, Pending: 1},
				buckets: buckets(3),
				live:    2, current: 1,
			},
		},
		{
			name: "an entry with the batch number but another start (a retry) counts in counts only",
			reports: []fleetv1alpha1.ReplicaReport{
				entry("a", hashNew, 2, mtime(t0), 3, 1),
				entry("b", hashNew, 2, mtime(t0.Add(-time.Minute)), 5, 0),
			},
			live:  liveReplicas("a", "b"),
			batch: batch,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 209, Applied: 208, Pending: 1},
				batch:   fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 3, Pending: 1},
				buckets: buckets(3),
				live:    2, current: 1,
			},
		},
		{
			name: "an entry without a batch start does not match a batch that has one",
			reports: []fleetv1alpha1.ReplicaReport{
				entry("a", hashNew, 2, nil, 3, 1),
			},
			live:  liveReplicas("a"),
			batch: batch,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 104, Applied: 103, Pending: 1},
				buckets: buckets(),
				live:    1, current: 0,
			},
		},
		{
			name: "batch starts are compared to the second, as status stores them",
			reports: []fleetv1alpha1.ReplicaReport{
				entry("a", hashNew, 2, mtime(t0.Add(400*time.Millisecond)), 3, 1),
			},
			live:  liveReplicas("a"),
			batch: batch,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 104, Applied: 103, Pending: 1},
				batch:   fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 3, Pending: 1},
				buckets: buckets(3),
				live:    1, current: 1,
			},
		},
		{
			name: "no batch yet: counts are summed, nothing is current",
			reports: []fleetv1alpha1.ReplicaReport{
				entry("a", hashNew, 0, nil, 3, 1),
			},
			live:  liveReplicas("a"),
			batch: nil,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 104, Applied: 103, Pending: 1},
				buckets: buckets(),
				live:    1, current: 0,
			},
		},
		{
			name:    "a live replica that wrote no entry yet is not current",
			reports: []fleetv1alpha1.ReplicaReport{entry("a", hashNew, 2, mtime(t0), 3, 1)},
			live:    liveReplicas("a", "new"),
			batch:   batch,
			want: observed{
				counts:  fleetv1alpha1.AgentCounts{Targeted: 104, Applied: 103, Pending: 1},
				batch:   fleetv1alpha1.AgentCounts{Targeted: 4, Applied: 3, Pending: 1},
				buckets: buckets(3),
				live:    2, current: 1,
			},
		},
		{
			name:    "no live replica",
			reports: []fleetv1alpha1.ReplicaReport{entry("a", hashNew, 2, mtime(t0), 3, 1)},
			live:    liveReplicas(),
			batch:   batch,
			want:    observed{buckets: buckets()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := aggregate(tt.reports, tt.live, nil, hashNew, tt.batch)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("aggregate:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAggregateBucketsComeFromCurrentEntriesOnly(t *testing.T) {
	batch := &fleetv1alpha1.BatchStatus{Number: 3, Phase: fleetv1alpha1.BatchPushing, StartedAt: mtime(t0)}
	reports := []fleetv1alpha1.ReplicaReport{
		{Replica: "a", ConfigHash: hashNew, Batch: 3, BatchStartedAt: mtime(t0), ApplyDurationBuckets: []int32{1, 0, 2}},
		{Replica: "b", ConfigHash: hashNew, Batch: 3, BatchStartedAt: mtime(t0), ApplyDurationBuckets: buckets(0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)},
		{Replica: "c", ConfigHash: hashNew, Batch: 2, BatchStartedAt: mtime(t0), ApplyDurationBuckets: []int32{100}},
		{Replica: "d", ConfigHash: hashOld, Batch: 3, BatchStartedAt: mtime(t0), ApplyDurationBuckets: []int32{100}},
	}
	got := aggregate(reports, liveReplicas("a", "b", "c", "d"), nil, hashNew, batch)
	want := buckets(1, 5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1)
	if !reflect.DeepEqual(got.buckets, want) {
		t.Errorf("buckets = %v, want %v", got.buckets, want)
	}
	if d, overflow := gates.Percentile(got.buckets, 0.95); d != gates.Buckets[len(gates.Buckets)-1] || !overflow {
		t.Errorf("p95 of the merged buckets = %v (overflow %v), want the +Inf bucket", d, overflow)
	}
}

func TestAggregateFailedSample(t *testing.T) {
	batch := &fleetv1alpha1.BatchStatus{Number: 1, Phase: fleetv1alpha1.BatchPushing, StartedAt: mtime(t0)}
	report := func(replica, hash string, agents ...fleetv1alpha1.FailedAgent) fleetv1alpha1.ReplicaReport {
		return fleetv1alpha1.ReplicaReport{Replica: replica, ConfigHash: hash, Batch: 1, BatchStartedAt: mtime(t0), FailedAgents: agents}
	}
	many := func(prefix string, n int, state fleetv1alpha1.AgentState) []fleetv1alpha1.FailedAgent {
		var out []fleetv1alpha1.FailedAgent
		for i := n - 1; i >= 0; i-- { // descending, so that the sort has work to do
			out = append(out, failedAgent(fmt.Sprintf("%s-%02d", prefix, i), state))
		}
		return out
	}
	tests := []struct {
		name    string
		reports []fleetv1alpha1.ReplicaReport
		live    map[string]readapi.Replica
		want    []string
	}{
		{
			name:    "no failures: no sample",
			reports: []fleetv1alpha1.ReplicaReport{report("a", hashNew)},
			live:    liveReplicas("a"),
			want:    []string{},
		},
		{
			name: "merged across replicas, Failed first, then by instance UID",
			reports: []fleetv1alpha1.ReplicaReport{
				report("a", hashNew, failedAgent("u3", fleetv1alpha1.AgentTimedOut), failedAgent("u5", fleetv1alpha1.AgentFailed)),
				report("b", hashNew, failedAgent("u1", fleetv1alpha1.AgentTimedOut), failedAgent("u4", fleetv1alpha1.AgentFailed),
					failedAgent("u2", fleetv1alpha1.AgentFailed)),
			},
			live: liveReplicas("a", "b"),
			want: []string{"u2/Failed", "u4/Failed", "u5/Failed", "u1/TimedOut", "u3/TimedOut"},
		},
		{
			name: "dead replicas and other revisions add no agent",
			reports: []fleetv1alpha1.ReplicaReport{
				report("a", hashNew, failedAgent("u9", fleetv1alpha1.AgentFailed)),
				report("dead", hashNew, failedAgent("u1", fleetv1alpha1.AgentFailed)),
				report("b", hashOld, failedAgent("u2", fleetv1alpha1.AgentFailed)),
			},
			live: liveReplicas("a", "b"),
			want: []string{"u9/Failed"},
		},
		{
			name: "bounded to the first ten",
			reports: []fleetv1alpha1.ReplicaReport{
				report("a", hashNew, many("a", 7, fleetv1alpha1.AgentFailed)...),
				report("b", hashNew, many("b", 7, fleetv1alpha1.AgentFailed)...),
			},
			live: liveReplicas("a", "b"),
			want: []string{"a-00/Failed", "a-01/Failed", "a-02/Failed", "a-03/Failed", "a-04/Failed", "a-05/Failed", "a-06/Failed",
				"b-00/Failed", "b-01/Failed", "b-02/Failed"},
		},
		{
			name: "Failed agents displace others at the bound, whatever their UIDs",
			reports: []fleetv1alpha1.ReplicaReport{
				report("a", hashNew, many("0-early", 5, fleetv1alpha1.AgentDisconnected)...),
				report("b", hashNew, many("z-late", 10, fleetv1alpha1.AgentFailed)...),
			},
			live: liveReplicas("a", "b"),
			want: []string{"z-late-00/Failed", "z-late-01/Failed", "z-late-02/Failed", "z-late-03/Failed", "z-late-04/Failed",
				"z-late-05/Failed", "z-late-06/Failed", "z-late-07/Failed", "z-late-08/Failed", "z-late-09/Failed"},
		},
		{
			name: "one other state: Failed first, the rest by UID, cut at ten",
			reports: []fleetv1alpha1.ReplicaReport{
				report("a", hashNew, many("t", 9, fleetv1alpha1.AgentTimedOut)...),
				report("b", hashNew, failedAgent("zz", fleetv1alpha1.AgentFailed), failedAgent("s", fleetv1alpha1.AgentTimedOut)),
			},
			live: liveReplicas("a", "b"),
			want: []string{"zz/Failed", "s/TimedOut", "t-00/TimedOut", "t-01/TimedOut", "t-02/TimedOut", "t-03/TimedOut",
				"t-04/TimedOut", "t-05/TimedOut", "t-06/TimedOut", "t-07/TimedOut"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := aggregate(tt.reports, tt.live, nil, hashNew, batch)
			if g := uids(got.failed); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("failed sample:\n got %v\nwant %v", g, tt.want)
			}
			if len(got.failed) > maxFailedSample {
				t.Errorf("sample of %d agents, want at most %d", len(got.failed), maxFailedSample)
			}
			for _, a := range got.failed {
				if a.Message != string(a.State)+" "+a.InstanceUID {
					t.Errorf("agent %s lost its message: %q", a.InstanceUID, a.Message)
				}
			}
		})
	}
}

func TestUpToDateAndBatchFinished(t *testing.T) {
	tests := []struct {
		name               string
		o                  observed
		upToDate, finished bool
	}{
		{"no live replica", observed{}, false, false},
		{"no live replica, batch empty of unfinished agents", observed{batch: fleetv1alpha1.AgentCounts{Applied: 3}}, false, false},
		{"one of two replicas current", observed{live: 2, current: 1, batch: fleetv1alpha1.AgentCounts{Applied: 3}}, false, false},
		{"all current, one pending", observed{live: 2, current: 2, batch: fleetv1alpha1.AgentCounts{Applied: 3, Pending: 1}}, true, false},
		{"all current, one applying", observed{live: 2, current: 2, batch: fleetv1alpha1.AgentCounts{Applied: 3, Applying: 1}}, true, false},
		{"all current, every agent final", observed{live: 2, current: 2, batch: fleetv1alpha1.AgentCounts{
			Applied: 3, Failed: 1, TimedOut: 1, Disconnected: 1, Unhealthy: 1, Incompatible: 1, Denied: 1, Unverifiable: 1}}, true, true},
		{"all current, pending agents of earlier batches do not matter", observed{live: 1, current: 1,
			counts: fleetv1alpha1.AgentCounts{Pending: 4}, batch: fleetv1alpha1.AgentCounts{Applied: 3}}, true, true},
		{"all current, no agent in the batch", observed{live: 1, current: 1}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.upToDate(); got != tt.upToDate {
				t.Errorf("upToDate = %v, want %v", got, tt.upToDate)
			}
			if got := batchFinished(tt.o); got != tt.finished {
				t.Errorf("batchFinished = %v, want %v", got, tt.finished)
			}
		})
	}
}

func TestETA(t *testing.T) {
	tests := []struct {
		name                      string
		perMinute, group, applied int32
		now                       time.Time
		want                      *metav1.Time
	}{
		{"no rate", 0, 200, 30, t0, nil},
		{"negative rate", -1, 200, 30, t0, nil},
		{"nothing remains", 20, 200, 200, t0, nil},
		{"more applied than the group", 20, 200, 210, t0, nil},
		{"no group size yet", 20, 0, 0, t0, nil},
		{"170 remaining at 20 a minute", 20, 200, 30, t0, mtime(t0.Add(8*time.Minute + 30*time.Second))},
		{"10 remaining at 7 a minute, truncated to the second", 7, 10, 0, t0, mtime(t0.Add(85 * time.Second))},
		{"now's fraction of a second is dropped", 3, 11, 10, t0.Add(700 * time.Millisecond), mtime(t0.Add(20 * time.Second))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := eta(tt.perMinute, tt.group, tt.applied, tt.now)
			switch {
			case got == nil && tt.want == nil:
			case got == nil || tt.want == nil:
				t.Errorf("eta = %v, want %v", got, tt.want)
			case !got.Equal(tt.want):
				t.Errorf("eta = %s, want %s", got.UTC().Format(time.RFC3339Nano), tt.want.UTC().Format(time.RFC3339Nano))
			}
		})
	}
}

func TestBatchDetail(t *testing.T) {
	tests := []struct {
		name string
		c    fleetv1alpha1.AgentCounts
		want string
	}{
		{"nothing", fleetv1alpha1.AgentCounts{}, ""},
		{"healthy progress names nothing", fleetv1alpha1.AgentCounts{Targeted: 9, Applied: 5, Applying: 2, Pending: 2}, ""},
		{"failed", fleetv1alpha1.AgentCounts{Failed: 3}, "3 failed"},
		{"timed out", fleetv1alpha1.AgentCounts{TimedOut: 1}, "1 timed out (no APPLIED within the apply timeout)"},
		{"capability mismatch", fleetv1alpha1.AgentCounts{Unverifiable: 2}, "2 cannot report remote config status (capability mismatch)"},
		{
			"every cause, in order",
			fleetv1alpha1.AgentCounts{Denied: 7, Incompatible: 6, Unverifiable: 5, Unhealthy: 4, Disconnected: 3, TimedOut: 2, Failed: 1, Applied: 9},
			"1 failed, 2 timed out (no APPLIED within the apply timeout), 3 lost their session after the push, " +
				"4 unhealthy after applying, 5 cannot report remote config status (capability mismatch), " +
				"6 lack a component the config needs, 7 denied by a push policy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := batchDetail(tt.c); got != tt.want {
				t.Errorf("batchDetail:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestProgressMessage(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	plan := []int32{10, 10, 10, 10}
	tests := []struct {
		name string
		st   fleetv1alpha1.RolloutStatus
		want string
	}{
		{"before the first batch", fleetv1alpha1.RolloutStatus{Plan: plan}, "waiting to start the first batch"},
		{
			"pushing",
			fleetv1alpha1.RolloutStatus{Plan: plan, CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 2, Size: 10, Phase: fleetv1alpha1.BatchPushing},
				BatchCounts: fleetv1alpha1.AgentCounts{Applied: 3, Applying: 4, Pending: 3}},
			"batch 2 of 4: 3 of 10 applied, 4 applying, 3 pending",
		},
		{
			"pushing, with what holds agents up",
			fleetv1alpha1.RolloutStatus{Plan: plan, CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 1, Size: 10, Phase: fleetv1alpha1.BatchPushing},
				BatchCounts: fleetv1alpha1.AgentCounts{Applied: 6, Applying: 1, Failed: 1, Disconnected: 2}},
			"batch 1 of 4: 6 of 10 applied, 1 applying, 0 pending; 1 failed, 2 lost their session after the push",
		},
		{
			"baking, in UTC whatever the zone",
			fleetv1alpha1.RolloutStatus{Plan: plan, CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 3, Size: 10, Phase: fleetv1alpha1.BatchBaking,
				BakeUntil: mtime(time.Date(2026, 11, 25, 13, 5, 0, 0, berlin))}},
			"batch 3 of 4 passed its gates; baking until 2026-11-25T12:05:00Z",
		},
		{
			"evaluating",
			fleetv1alpha1.RolloutStatus{Plan: plan, CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 4, Size: 10, Phase: fleetv1alpha1.BatchEvaluating},
				BatchCounts: fleetv1alpha1.AgentCounts{Failed: 9}},
			"batch 4 of 4",
		},
		{
			"done",
			fleetv1alpha1.RolloutStatus{Plan: plan, CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 4, Size: 10, Phase: fleetv1alpha1.BatchDone}},
			"batch 4 of 4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressMessage(&tt.st); got != tt.want {
				t.Errorf("progressMessage:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// cond is the part of a condition these tests check; the generation is checked separately.
type cond struct {
	status          metav1.ConditionStatus
	reason, message string
}

func TestSetConditions(t *testing.T) {
	const gen = 7
	gatePause := &fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseGateBreach, Gate: fleetv1alpha1.GateDisconnectRatio,
		Observed: "35 %", Threshold: "20 %", Batch: 2, Since: metav1.NewTime(t0), Message: "disconnect-ratio: 35 % > 20 %"}
	inconclusivePause := &fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseGateInconclusive, Gate: fleetv1alpha1.GateMinSample,
		Observed: "3", Threshold: "5", Batch: 1, Since: metav1.NewTime(t0), Message: "min-sample: 3 finished agents < 5"}
	manualPause := &fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseManual, Since: metav1.NewTime(t0), Message: "paused by spec.paused"}
	long := strings.Repeat("x", 2000)

	tests := []struct {
		name    string
		phase   fleetv1alpha1.RolloutPhase
		message string
		pause   *fleetv1alpha1.PauseDetail
		h       health
		want    map[string]cond
	}{
		{
			name: "pending, no health given: Progressing with the status message", phase: fleetv1alpha1.RolloutPending,
			message: "waiting to start the first batch",
			want: map[string]cond{
				"Ready":       {metav1.ConditionFalse, "Progressing", "waiting to start the first batch"},
				"Reconciling": {metav1.ConditionTrue, "Progressing", "waiting to start the first batch"},
			},
		},
		{
			name: "progressing", phase: fleetv1alpha1.RolloutProgressing, message: "batch 1 of 3: 0 of 10 applied, 0 applying, 10 pending",
			want: map[string]cond{
				"Ready":       {metav1.ConditionFalse, "Progressing", "batch 1 of 3: 0 of 10 applied, 0 applying, 10 pending"},
				"Reconciling": {metav1.ConditionTrue, "Progressing", "batch 1 of 3: 0 of 10 applied, 0 applying, 10 pending"},
			},
		},
		{
			name: "pending without agents: reconciling, not stalled", phase: fleetv1alpha1.RolloutPending,
			h: health{reason: "NoLiveSession", message: "no connected agent matches AgentGroup gateways"},
			want: map[string]cond{
				"Ready":       {metav1.ConditionFalse, "NoLiveSession", "no connected agent matches AgentGroup gateways"},
				"Reconciling": {metav1.ConditionTrue, "NoLiveSession", "no connected agent matches AgentGroup gateways"},
			},
		},
		{
			name: "blocked: reconciling", phase: fleetv1alpha1.RolloutBlocked,
			h: health{reason: "Blocked", message: "AgentGroup g is held by Rollout other; this rollout starts when that one finishes"},
			want: map[string]cond{
				"Ready":       {metav1.ConditionFalse, "Blocked", "AgentGroup g is held by Rollout other; this rollout starts when that one finishes"},
				"Reconciling": {metav1.ConditionTrue, "Blocked", "AgentGroup g is held by Rollout other; this rollout starts when that one finishes"},
			},
		},
		{
			name: "rolling back: reconciling", phase: fleetv1alpha1.RolloutRollingBack,
			h: health{reason: "RollingBack", message: "rolling back to abc: 1 of 10 agents back, 9 applying"},
			want: map[string]cond{
				"Ready":       {metav1.ConditionFalse, "RollingBack", "rolling back to abc: 1 of 10 agents back, 9 applying"},
				"Reconciling": {metav1.ConditionTrue, "RollingBack", "rolling back to abc: 1 of 10 agents back, 9 applying"},
			},
		},
		{
			name: "progressing but no sidecar: stalled, not reconciling", phase: fleetv1alpha1.RolloutProgressing,
			h: health{reason: "NoSidecarReporting", message: "no OpAMP sidecar replica is live", stalled: true},
			want: map[string]cond{
				"Ready":   {metav1.ConditionFalse, "NoSidecarReporting", "no OpAMP sidecar replica is live"},
				"Stalled": {metav1.ConditionTrue, "NoSidecarReporting", "no OpAMP sidecar replica is live"},
			},
		},
		{
			name: "pending, group missing: stalled", phase: fleetv1alpha1.RolloutPending,
			h: health{reason: "AgentGroupNotFound", message: "AgentGroup g not found", stalled: true},
			want: map[string]cond{
				"Ready":   {metav1.ConditionFalse, "AgentGroupNotFound", "AgentGroup g not found"},
				"Stalled": {metav1.ConditionTrue, "AgentGroupNotFound", "AgentGroup g not found"},
			},
		},
		{
			name: "no phase yet, ConfigMap missing: stalled", phase: "",
			h: health{reason: "ConfigNotFound", message: "ConfigMap cfg not found", stalled: true},
			want: map[string]cond{
				"Ready":   {metav1.ConditionFalse, "ConfigNotFound", "ConfigMap cfg not found"},
				"Stalled": {metav1.ConditionTrue, "ConfigNotFound", "ConfigMap cfg not found"},
			},
		},
		{
			name: "paused by a gate: stalled and paused", phase: fleetv1alpha1.RolloutPaused, pause: gatePause,
			h: health{reason: "GateBreach", message: "disconnect-ratio: 35 % > 20 % (batch 2: 7 lost their session after the push)", stalled: true},
			want: map[string]cond{
				"Ready":   {metav1.ConditionFalse, "GateBreach", "disconnect-ratio: 35 % > 20 % (batch 2: 7 lost their session after the push)"},
				"Stalled": {metav1.ConditionTrue, "GateBreach", "disconnect-ratio: 35 % > 20 % (batch 2: 7 lost their session after the push)"},
				"Paused":  {metav1.ConditionTrue, "GateBreach", "disconnect-ratio: 35 % > 20 %"},
			},
		},
		{
			name: "paused, inconclusive", phase: fleetv1alpha1.RolloutPaused, pause: inconclusivePause,
			h: health{reason: "GateInconclusive", message: "min-sample: 3 finished agents < 5", stalled: true},
			want: map[string]cond{
				"Ready":   {metav1.ConditionFalse, "GateInconclusive", "min-sample: 3 finished agents < 5"},
				"Stalled": {metav1.ConditionTrue, "GateInconclusive", "min-sample: 3 finished agents < 5"},
				"Paused":  {metav1.ConditionTrue, "GateInconclusive", "min-sample: 3 finished agents < 5"},
			},
		},
		{
			name: "paused by spec.paused: neither reconciling nor stalled", phase: fleetv1alpha1.RolloutPaused, pause: manualPause,
			h: health{reason: "ManualPause", message: "paused by spec.paused; set it to false to continue"},
			want: map[string]cond{
				"Ready":  {metav1.ConditionFalse, "ManualPause", "paused by spec.paused; set it to false to continue"},
				"Paused": {metav1.ConditionTrue, "ManualPause", "spec.paused is true"},
			},
		},
		{
			name: "paused without pause detail reads as a manual pause", phase: fleetv1alpha1.RolloutPaused,
			h: health{reason: "ManualPause", message: "paused by spec.paused; set it to false to continue"},
			want: map[string]cond{
				"Ready":  {metav1.ConditionFalse, "ManualPause", "paused by spec.paused; set it to false to continue"},
				"Paused": {metav1.ConditionTrue, "ManualPause", "spec.paused is true"},
			},
		},
		{
			name: "spec.paused over a gate pause: the Paused condition keeps the gate", phase: fleetv1alpha1.RolloutPaused, pause: gatePause,
			h: health{reason: "ManualPause", message: "paused by spec.paused; set it to false to continue"},
			want: map[string]cond{
				"Ready":  {metav1.ConditionFalse, "ManualPause", "paused by spec.paused; set it to false to continue"},
				"Paused": {metav1.ConditionTrue, "GateBreach", "disconnect-ratio: 35 % > 20 %"},
			},
		},
		{
			name: "completed: ready, with the status message", phase: fleetv1alpha1.RolloutCompleted,
			message: "revision abc rolled out in 3 batches: 30 applied, 0 failed, 0 timed out",
			h:       health{reason: "Completed", message: "ignored"},
			want: map[string]cond{
				"Ready": {metav1.ConditionTrue, "Completed", "revision abc rolled out in 3 batches: 30 applied, 0 failed, 0 timed out"},
			},
		},
		{
			name: "failed on an invalid config: stalled", phase: fleetv1alpha1.RolloutFailed,
			h: health{reason: "InvalidConfig", message: "invalid config: x", stalled: true},
			want: map[string]cond{
				"Ready":   {metav1.ConditionFalse, "InvalidConfig", "invalid config: x"},
				"Stalled": {metav1.ConditionTrue, "InvalidConfig", "invalid config: x"},
			},
		},
		{
			name: "failed without a stall: neither reconciling nor stalled", phase: fleetv1alpha1.RolloutFailed,
			h: health{reason: "InvalidSpec", message: "cannot plan batches"},
			want: map[string]cond{
				"Ready": {metav1.ConditionFalse, "InvalidSpec", "cannot plan batches"},
			},
		},
		{
			name: "aborted: stalled", phase: fleetv1alpha1.RolloutAborted,
			h: health{reason: "Aborted", message: "aborted by alice; agents keep the config they run", stalled: true},
			want: map[string]cond{
				"Ready":   {metav1.ConditionFalse, "Aborted", "aborted by alice; agents keep the config they run"},
				"Stalled": {metav1.ConditionTrue, "Aborted", "aborted by alice; agents keep the config they run"},
			},
		},
		{
			name: "rolled back: stalled", phase: fleetv1alpha1.RolloutRolledBack,
			h: health{reason: "RolledBack", message: "rolled back to abc: 10 agents returned", stalled: true},
			want: map[string]cond{
				"Ready":   {metav1.ConditionFalse, "RolledBack", "rolled back to abc: 10 agents returned"},
				"Stalled": {metav1.ConditionTrue, "RolledBack", "rolled back to abc: 10 agents returned"},
			},
		},
		{
			name: "messages are cut at 1024 bytes", phase: fleetv1alpha1.RolloutProgressing,
			h: health{reason: "Progressing", message: long},
			want: map[string]cond{
				"Ready":       {metav1.ConditionFalse, "Progressing", long[:1021] + "..."},
				"Reconciling": {metav1.ConditionTrue, "Progressing", long[:1021] + "..."},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "r", Generation: gen}}
			ro.Status.Phase, ro.Status.Message, ro.Status.Pause = tt.phase, tt.message, tt.pause
			// Conditions left by an earlier reconcile of an older generation: every one must be
			// rewritten or removed.
			for _, typ := range []string{"Ready", "Reconciling", "Stalled", "Paused"} {
				ro.Status.Conditions = append(ro.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue,
					Reason: "Old", Message: "old", ObservedGeneration: 3, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))})
			}
			setConditions(ro, tt.h, nil)

			got := map[string]cond{}
			for _, c := range ro.Status.Conditions {
				got[c.Type] = cond{c.Status, c.Reason, c.Message}
				if c.ObservedGeneration != gen {
					t.Errorf("%s: observedGeneration %d, want %d", c.Type, c.ObservedGeneration, gen)
				}
				// kstatus: Reconciling and Stalled (and Paused here) are present only while true.
				if c.Type != "Ready" && c.Status != metav1.ConditionTrue {
					t.Errorf("%s present with status %s", c.Type, c.Status)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("conditions:\n got %+v\nwant %+v", got, tt.want)
			}
			if meta.IsStatusConditionTrue(ro.Status.Conditions, "Reconciling") && meta.IsStatusConditionTrue(ro.Status.Conditions, "Stalled") {
				t.Error("Reconciling and Stalled are both true")
			}
		})
	}
}

func TestSetConditionsKeepsTransitionTimeOfAnUnchangedStatus(t *testing.T) {
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	ro.Status.Phase = fleetv1alpha1.RolloutProgressing
	before := metav1.NewTime(t0.Add(-time.Hour))
	ro.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Progressing", Message: "batch 1 of 2",
		ObservedGeneration: 1, LastTransitionTime: before}}
	setConditions(ro, health{reason: "Progressing", message: "batch 2 of 2"}, nil)
	ready := meta.FindStatusCondition(ro.Status.Conditions, "Ready")
	if ready == nil || !ready.LastTransitionTime.Equal(&before) || ready.Message != "batch 2 of 2" || ready.ObservedGeneration != 2 {
		t.Errorf("Ready = %+v, want the old transition time with the new message and generation", ready)
	}
}

func TestPauseFor(t *testing.T) {
	now := t0.Add(1500 * time.Millisecond)
	eff := fleetv1alpha1.EffectiveGates{GateThresholds: gates.Defaults()}
	// 7 of 20 finished agents lost their session: 35 % against the default 20 %.
	breach := gates.Evaluate(eff, fleetv1alpha1.AgentCounts{Applied: 13, Disconnected: 7}, fleetv1alpha1.AgentCounts{Applied: 13, Disconnected: 7}, nil)
	eff.MinSampleSize = new(int32(5))
	short := gates.Evaluate(eff, fleetv1alpha1.AgentCounts{Applied: 3}, fleetv1alpha1.AgentCounts{Applied: 3}, nil)

	tests := []struct {
		name  string
		r     gates.Result
		batch int32
		want  fleetv1alpha1.PauseDetail
	}{
		{"breach", breach, 2, fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseGateBreach, Gate: fleetv1alpha1.GateDisconnectRatio,
			Observed: "35 %", Threshold: "20 %", Batch: 2, Since: metav1.NewTime(t0.Add(time.Second)), Message: "disconnect-ratio: 35 % > 20 %"}},
		{"inconclusive", short, 1, fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseGateInconclusive, Gate: fleetv1alpha1.GateMinSample,
			Observed: "3", Threshold: "5", Batch: 1, Since: metav1.NewTime(t0.Add(time.Second)), Message: "min-sample: 3 finished agents < 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pauseFor(tt.r, tt.batch, now)
			if got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("pauseFor:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestStatusEqual(t *testing.T) {
	base := func() fleetv1alpha1.RolloutStatus {
		return fleetv1alpha1.RolloutStatus{
			ObservedGeneration: 3,
			Phase:              fleetv1alpha1.RolloutProgressing,
			Message:            "batch 1 of 2",
			Plan:               []int32{5, 5},
			CurrentBatch:       &fleetv1alpha1.BatchStatus{Number: 1, Size: 5, Phase: fleetv1alpha1.BatchPushing, StartedAt: mtime(t0)},
			Counts:             fleetv1alpha1.AgentCounts{Targeted: 5, Applied: 2, Pending: 3},
			Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Progressing", Message: "batch 1 of 2",
				ObservedGeneration: 3, LastTransitionTime: metav1.NewTime(t0)}},
			LastEvaluatedTime: mtime(t0),
		}
	}
	tests := []struct {
		name   string
		mutate func(*fleetv1alpha1.RolloutStatus)
		want   bool
	}{
		{"identical", func(*fleetv1alpha1.RolloutStatus) {}, true},
		{"only lastEvaluatedTime differs", func(s *fleetv1alpha1.RolloutStatus) { s.LastEvaluatedTime = mtime(t0.Add(time.Hour)) }, true},
		{"lastEvaluatedTime unset on one side", func(s *fleetv1alpha1.RolloutStatus) { s.LastEvaluatedTime = nil }, true},
		{"an empty list equals an unset one", func(s *fleetv1alpha1.RolloutStatus) { s.FailedAgents = []fleetv1alpha1.FailedAgent{} }, true},
		{"the same instant in another zone", func(s *fleetv1alpha1.RolloutStatus) {
			s.CurrentBatch.StartedAt = mtime(t0.In(time.FixedZone("CET", 3600)))
		}, true},
		{"phase differs", func(s *fleetv1alpha1.RolloutStatus) { s.Phase = fleetv1alpha1.RolloutPaused }, false},
		{"a count differs", func(s *fleetv1alpha1.RolloutStatus) { s.Counts.Applied++ }, false},
		{"a nested batch field differs", func(s *fleetv1alpha1.RolloutStatus) { s.CurrentBatch.ToRank = "00000000000000ff" }, false},
		{"a condition message differs", func(s *fleetv1alpha1.RolloutStatus) { s.Conditions[0].Message = "batch 2 of 2" }, false},
		{"a second differs in a time", func(s *fleetv1alpha1.RolloutStatus) { s.CurrentBatch.StartedAt = mtime(t0.Add(time.Second)) }, false},
		{"observedGeneration differs", func(s *fleetv1alpha1.RolloutStatus) { s.ObservedGeneration = 4 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base(), base()
			tt.mutate(&b)
			if got := statusEqual(a, b); got != tt.want {
				t.Errorf("statusEqual = %v, want %v", got, tt.want)
			}
			if got := statusEqual(b, a); got != tt.want {
				t.Errorf("statusEqual (swapped) = %v, want %v", got, tt.want)
			}
			if a.LastEvaluatedTime == nil {
				t.Error("statusEqual cleared the caller's lastEvaluatedTime")
			}
		})
	}
}

func TestSmallHelpers(t *testing.T) {
	if got := durationOr(nil, time.Minute); got != time.Minute {
		t.Errorf("durationOr(nil) = %v", got)
	}
	if got := durationOr(&metav1.Duration{}, time.Minute); got != 0 {
		t.Errorf("durationOr(0s) = %v, want 0: a set zero is not the default", got)
	}
	if got := batchNumber(&fleetv1alpha1.RolloutStatus{}); got != 0 {
		t.Errorf("batchNumber without a batch = %d", got)
	}
	if got := batchNumber(&fleetv1alpha1.RolloutStatus{CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 4}}); got != 4 {
		t.Errorf("batchNumber = %d, want 4", got)
	}
	fifty := make([]string, 51)
	if got, truncated := bounded(fifty, false); len(got) != 50 || !truncated {
		t.Errorf("bounded(51) = %d items, truncated %v", len(got), truncated)
	}
	if got, truncated := bounded(fifty[:50], false); len(got) != 50 || truncated {
		t.Errorf("bounded(50) = %d items, truncated %v", len(got), truncated)
	}
	if _, truncated := bounded(nil, true); !truncated {
		t.Error("bounded forgot an earlier truncation")
	}
}

func TestSummarizeGroup(t *testing.T) {
	const gen = 4
	conflicts := func(prefix string, n int) []fleetv1alpha1.AgentConflict {
		var out []fleetv1alpha1.AgentConflict
		for i := n - 1; i >= 0; i-- {
			out = append(out, fleetv1alpha1.AgentConflict{InstanceUID: fmt.Sprintf("%s-%02d", prefix, i), Groups: []string{"g", "other"}})
		}
		return out
	}
	manyVersions := func() []fleetv1alpha1.VersionCount {
		var out []fleetv1alpha1.VersionCount
		for i := range 60 {
			out = append(out, fleetv1alpha1.VersionCount{Version: fmt.Sprintf("0.%03d.0", i), Count: int32(i + 1)})
		}
		return out
	}
	type want struct {
		matching, connected, conflicting int32
		versions                         []fleetv1alpha1.VersionCount
		conflictUIDs                     []string
		conditions                       map[string]cond
	}
	tests := []struct {
		name     string
		replicas []fleetv1alpha1.GroupReplicaReport
		live     map[string]readapi.Replica
		want     want
	}{
		{
			name: "live replicas only, versions merged and sorted by count then version",
			replicas: []fleetv1alpha1.GroupReplicaReport{
				{Replica: "a", Matching: 5, Connected: 4, Versions: []fleetv1alpha1.VersionCount{{Version: "0.139.0", Count: 3}, {Version: "0.138.0", Count: 1}}},
				{Replica: "b", Matching: 3, Connected: 3, Versions: []fleetv1alpha1.VersionCount{{Version: "0.138.0", Count: 2}, {Version: "unknown", Count: 1}}},
				{Replica: "dead", Matching: 100, Connected: 100, Conflicting: 9, Conflicts: conflicts("d", 9),
					Versions: []fleetv1alpha1.VersionCount{{Version: "0.100.0", Count: 100}}},
			},
			live: liveReplicas("a", "b"),
			want: want{
				matching: 8, connected: 7,
				versions: []fleetv1alpha1.VersionCount{{Version: "0.138.0", Count: 3}, {Version: "0.139.0", Count: 3}, {Version: "unknown", Count: 1}},
				conditions: map[string]cond{
					"Ready": {metav1.ConditionTrue, "Reconciled", "8 agents match, 7 connected"},
				},
			},
		},
		{
			name: "no live replica: zeros, and ready",
			replicas: []fleetv1alpha1.GroupReplicaReport{
				{Replica: "dead", Matching: 10, Connected: 10, Versions: []fleetv1alpha1.VersionCount{{Version: "1", Count: 10}}},
			},
			live: liveReplicas(),
			want: want{conditions: map[string]cond{
				"Ready": {metav1.ConditionTrue, "Reconciled", "0 agents match, 0 connected"},
			}},
		},
		{
			name: "conflicts: summed, sample sorted by UID and bounded to ten, Ready false and Stalled",
			replicas: []fleetv1alpha1.GroupReplicaReport{
				{Replica: "a", Matching: 10, Connected: 3, Conflicting: 6, Conflicts: conflicts("b", 6)},
				{Replica: "b", Matching: 8, Connected: 3, Conflicting: 5, Conflicts: conflicts("a", 5)},
			},
			live: liveReplicas("a", "b"),
			want: want{
				matching: 18, connected: 6, conflicting: 11,
				conflictUIDs: []string{"a-00", "a-01", "a-02", "a-03", "a-04", "b-00", "b-01", "b-02", "b-03", "b-04"},
				conditions: map[string]cond{
					"Ready": {metav1.ConditionFalse, "AgentConflict",
						"11 agents are matched by another AgentGroup too; they keep their config and no rollout pushes to them until the overlap is resolved"},
					"Stalled": {metav1.ConditionTrue, "AgentConflict",
						"11 agents are matched by another AgentGroup too; they keep their config and no rollout pushes to them until the overlap is resolved"},
				},
			},
		},
		{
			name:     "versions bounded to the 50 largest",
			replicas: []fleetv1alpha1.GroupReplicaReport{{Replica: "a", Matching: 1830, Connected: 1830, Versions: manyVersions()}},
			live:     liveReplicas("a"),
			want: want{
				matching: 1830, connected: 1830,
				versions: func() []fleetv1alpha1.VersionCount {
					var out []fleetv1alpha1.VersionCount
					for i := 59; i >= 10; i-- {
						out = append(out, fleetv1alpha1.VersionCount{Version: fmt.Sprintf("0.%03d.0", i), Count: int32(i + 1)})
					}
					return out
				}(),
				conditions: map[string]cond{"Ready": {metav1.ConditionTrue, "Reconciled", "1830 agents match, 1830 connected"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Name: "g", Generation: gen}}
			// Totals and conditions of an earlier pass, which must be recomputed, not added to.
			g.Status = fleetv1alpha1.AgentGroupStatus{
				MatchingAgents: 99, ConnectedAgents: 99, ConflictingAgents: 99,
				Versions:  []fleetv1alpha1.VersionCount{{Version: "stale", Count: 99}},
				Conflicts: []fleetv1alpha1.AgentConflict{{InstanceUID: "stale"}},
				Conditions: []metav1.Condition{
					{Type: "Ready", Status: metav1.ConditionUnknown, Reason: "Old", ObservedGeneration: 1},
					{Type: "Reconciling", Status: metav1.ConditionTrue, Reason: "Old", ObservedGeneration: 1},
					{Type: "Stalled", Status: metav1.ConditionTrue, Reason: "Old", ObservedGeneration: 1},
				},
				Replicas:        tt.replicas,
				CurrentRevision: "abc",
			}
			summarizeGroup(g, tt.live, nil)
			st := g.Status
			if st.MatchingAgents != tt.want.matching || st.ConnectedAgents != tt.want.connected || st.ConflictingAgents != tt.want.conflicting {
				t.Errorf("matching/connected/conflicting = %d/%d/%d, want %d/%d/%d", st.MatchingAgents, st.ConnectedAgents,
					st.ConflictingAgents, tt.want.matching, tt.want.connected, tt.want.conflicting)
			}
			if !reflect.DeepEqual(st.Versions, tt.want.versions) {
				t.Errorf("versions:\n got %v\nwant %v", st.Versions, tt.want.versions)
			}
			var gotUIDs []string
			for _, c := range st.Conflicts {
				gotUIDs = append(gotUIDs, c.InstanceUID)
			}
			if !reflect.DeepEqual(gotUIDs, tt.want.conflictUIDs) {
				t.Errorf("conflicts:\n got %v\nwant %v", gotUIDs, tt.want.conflictUIDs)
			}
			got := map[string]cond{}
			for _, c := range st.Conditions {
				got[c.Type] = cond{c.Status, c.Reason, c.Message}
				if c.ObservedGeneration != gen {
					t.Errorf("%s: observedGeneration %d, want %d", c.Type, c.ObservedGeneration, gen)
				}
			}
			if !reflect.DeepEqual(got, tt.want.conditions) {
				t.Errorf("conditions:\n got %+v\nwant %+v", got, tt.want.conditions)
			}
			if st.CurrentRevision != "abc" || len(st.Replicas) != len(tt.replicas) {
				t.Error("summarizeGroup touched fields it does not own")
			}
		})
	}
}
