package gates

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

// effective returns the operator defaults with the given changes, as Resolve would.
func effective(change func(*v1alpha1.GateThresholds)) v1alpha1.EffectiveGates {
	g := Defaults()
	if change != nil {
		change(&g)
	}
	return v1alpha1.EffectiveGates{GateThresholds: g}
}

func withMinSample(n int32) func(*v1alpha1.GateThresholds) {
	return func(g *v1alpha1.GateThresholds) { g.MinSampleSize = new(n) }
}

func withP95(d time.Duration) func(*v1alpha1.GateThresholds) {
	return func(g *v1alpha1.GateThresholds) { g.MaxApplyDurationP95 = &metav1.Duration{Duration: d} }
}

// histogram puts n applies in the bucket of each duration given, in pairs (d, n).
func histogram(pairs ...any) []int32 {
	h := make([]int32, len(Buckets)+1)
	for i := 0; i < len(pairs); i += 2 {
		h[BucketIndex(pairs[i].(time.Duration))] += int32(pairs[i+1].(int))
	}
	return h
}

func TestEvaluate(t *testing.T) {
	type counts = v1alpha1.AgentCounts
	tests := []struct {
		name         string
		gates        v1alpha1.EffectiveGates
		batch, total counts
		buckets      []int32
		want         Result
	}{
		{
			name:    "all healthy",
			gates:   effective(nil),
			batch:   counts{Applied: 100},
			total:   counts{Applied: 100},
			buckets: histogram(3*time.Second, 100),
			want:    Result{Outcome: Pass, Message: "all gates passed"},
		},

		// failures
		{
			name:  "failures breach",
			gates: effective(func(g *v1alpha1.GateThresholds) { g.MaxFailures = new(int32(10)) }),
			batch: counts{Applied: 200, Failed: 2},
			total: counts{Applied: 1000, Failed: 12},
			want:  Result{Breach, v1alpha1.GateFailures, "12", "10", "failures: 12 > 10"},
		},
		{
			name:  "failures at the limit pass",
			gates: effective(func(g *v1alpha1.GateThresholds) { g.MaxFailures = new(int32(10)) }),
			batch: counts{Applied: 200, Failed: 2},
			total: counts{Applied: 1000, Failed: 10},
			want:  passed,
		},
		{
			name:  "failures come before failure-ratio",
			gates: effective(func(g *v1alpha1.GateThresholds) { g.MaxFailures = new(int32(0)) }),
			batch: counts{Failed: 1},
			total: counts{Failed: 1},
			want:  Result{Breach, v1alpha1.GateFailures, "1", "0", "failures: 1 > 0"},
		},
		{
			name:  "failures need no sample",
			gates: effective(func(g *v1alpha1.GateThresholds) { g.MaxFailures = new(int32(2)); g.MinSampleSize = new(int32(50)) }),
			batch: counts{Failed: 3},
			total: counts{Failed: 3},
			want:  Result{Breach, v1alpha1.GateFailures, "3", "2", "failures: 3 > 2"},
		},
		{
			name:  "no maxFailures means no absolute limit",
			gates: effective(func(g *v1alpha1.GateThresholds) { g.MaxFailurePercent = new(int32(100)) }),
			batch: counts{Applied: 10, Failed: 1},
			total: counts{Applied: 10000, Failed: 5000},
			want:  passed,
		},

		// failure-ratio
		{
			name:  "failure-ratio one decimal",
			gates: effective(nil),
			batch: counts{Applied: 2, Failed: 1},
			total: counts{Applied: 2, Failed: 1},
			want:  Result{Breach, v1alpha1.GateFailureRatio, "33.3 %", "10 %", "failure-ratio: 33.3 % > 10 %"},
		},
		{
			name:  "failure-ratio rounds half up",
			gates: effective(nil),
			batch: counts{Applied: 1, Failed: 2},
			total: counts{Applied: 1, Failed: 2},
			want:  Result{Breach, v1alpha1.GateFailureRatio, "66.7 %", "10 %", "failure-ratio: 66.7 % > 10 %"},
		},
		{
			name:  "failure-ratio tie passes",
			gates: effective(nil),
			batch: counts{Applied: 9, Failed: 1},
			total: counts{Applied: 9, Failed: 1},
			want:  passed,
		},
		{
			name:  "failure-ratio just above shows the difference",
			gates: effective(nil),
			batch: counts{Applied: 90000, Failed: 10001},
			total: counts{Applied: 90000, Failed: 10001},
			want:  Result{Breach, v1alpha1.GateFailureRatio, "10.001 %", "10 %", "failure-ratio: 10.001 % > 10 %"},
		},
		{
			name:  "failure-ratio counts timed-out agents as failures, over unverifiable agents too",
			gates: effective(nil),
			batch: counts{Failed: 1, TimedOut: 4, Unverifiable: 4},
			total: counts{Failed: 1, TimedOut: 4, Unverifiable: 4},
			want:  Result{Breach, v1alpha1.GateFailureRatio, "55.6 %", "10 %", "failure-ratio: 55.6 % > 10 %"},
		},
		{
			name:  "incompatible, denied, pending and applying agents do not count",
			gates: effective(nil),
			batch: counts{Applied: 1, Failed: 1, Incompatible: 50, Denied: 50, Pending: 50, Applying: 50},
			total: counts{Applied: 1, Failed: 1, Incompatible: 50, Denied: 50, Pending: 50, Applying: 50},
			want:  Result{Breach, v1alpha1.GateFailureRatio, "50 %", "10 %", "failure-ratio: 50 % > 10 %"},
		},

		// disconnect-ratio
		{
			name:  "disconnect-ratio whole percent",
			gates: effective(nil),
			batch: counts{Applied: 13, Disconnected: 7},
			total: counts{Applied: 13, Disconnected: 7},
			want:  Result{Breach, v1alpha1.GateDisconnectRatio, "35 %", "20 %", "disconnect-ratio: 35 % > 20 %"},
		},
		{
			name:  "disconnect-ratio tie passes",
			gates: effective(nil),
			batch: counts{Applied: 16, Disconnected: 4},
			total: counts{Applied: 16, Disconnected: 4},
			want:  passed,
		},
		{
			name:  "failure-ratio comes before disconnect-ratio",
			gates: effective(nil),
			batch: counts{Applied: 5, Failed: 2, Disconnected: 3},
			total: counts{Applied: 5, Failed: 2, Disconnected: 3},
			want:  Result{Breach, v1alpha1.GateFailureRatio, "20 %", "10 %", "failure-ratio: 20 % > 10 %"},
		},

		// unhealthy-ratio
		{
			name:  "unhealthy-ratio",
			gates: effective(nil),
			batch: counts{Applied: 8, Unhealthy: 2},
			total: counts{Applied: 8, Unhealthy: 2},
			want:  Result{Breach, v1alpha1.GateUnhealthyRatio, "20 %", "10 %", "unhealthy-ratio: 20 % > 10 %"},
		},
		{
			name:  "unhealthy-ratio is over applied agents only",
			gates: effective(nil),
			batch: counts{Applied: 9, Unhealthy: 1, Unverifiable: 10},
			total: counts{Applied: 9, Unhealthy: 1, Unverifiable: 10},
			want:  passed,
		},
		{
			name:  "unhealthy-ratio excludes failed agents from its base",
			gates: effective(func(g *v1alpha1.GateThresholds) { g.MaxFailurePercent = new(int32(100)) }),
			batch: counts{Applied: 17, Unhealthy: 2, Failed: 1},
			total: counts{Applied: 17, Unhealthy: 2, Failed: 1},
			want:  Result{Breach, v1alpha1.GateUnhealthyRatio, "10.5 %", "10 %", "unhealthy-ratio: 10.5 % > 10 %"},
		},
		{
			name:  "unhealthy-ratio with no applied agent",
			gates: effective(nil),
			batch: counts{Unverifiable: 5},
			total: counts{Unverifiable: 5},
			want:  passed,
		},
		{
			name:  "disconnect-ratio comes before unhealthy-ratio",
			gates: effective(nil),
			batch: counts{Applied: 2, Unhealthy: 3, Disconnected: 5},
			total: counts{Applied: 2, Unhealthy: 3, Disconnected: 5},
			want:  Result{Breach, v1alpha1.GateDisconnectRatio, "50 %", "20 %", "disconnect-ratio: 50 % > 20 %"},
		},

		// apply-duration-p95
		{
			name:    "apply-duration-p95 breach",
			gates:   effective(withP95(2 * time.Minute)),
			batch:   counts{Applied: 20},
			total:   counts{Applied: 20},
			buckets: histogram(3*time.Second, 18, 4*time.Minute, 2),
			want:    Result{Breach, v1alpha1.GateApplyDurationP95, "5m", "2m", "apply-duration-p95: 5m > 2m"},
		},
		{
			name:    "apply-duration-p95 at the threshold passes",
			gates:   effective(withP95(2 * time.Minute)),
			batch:   counts{Applied: 20},
			total:   counts{Applied: 20},
			buckets: histogram(3*time.Second, 18, 90*time.Second, 2),
			want:    passed,
		},
		{
			name:    "apply-duration-p95 below the 95th apply passes",
			gates:   effective(withP95(2 * time.Minute)),
			batch:   counts{Applied: 20},
			total:   counts{Applied: 20},
			buckets: histogram(3*time.Second, 19, 4*time.Minute, 1),
			want:    passed,
		},
		{
			name:    "apply-duration-p95 threshold between bounds",
			gates:   effective(withP95(3 * time.Minute)),
			batch:   counts{Applied: 20},
			total:   counts{Applied: 20},
			buckets: histogram(150*time.Second, 20),
			want:    Result{Breach, v1alpha1.GateApplyDurationP95, "5m", "3m", "apply-duration-p95: 5m > 3m"},
		},
		{
			name:    "apply-duration-p95 compact threshold",
			gates:   effective(withP95(90 * time.Second)),
			batch:   counts{Applied: 20},
			total:   counts{Applied: 20},
			buckets: histogram(100*time.Second, 20),
			want:    Result{Breach, v1alpha1.GateApplyDurationP95, "2m", "1m30s", "apply-duration-p95: 2m > 1m30s"},
		},
		{
			name:    "apply-duration-p95 beyond the last bucket",
			gates:   effective(nil),
			batch:   counts{Applied: 20},
			total:   counts{Applied: 20},
			buckets: histogram(time.Hour, 20),
			want:    Result{Breach, v1alpha1.GateApplyDurationP95, "> 30m", "10m", "apply-duration-p95: > 30m > 10m"},
		},
		{
			name:    "apply-duration-p95 beyond the last bucket breaches a longer threshold",
			gates:   effective(withP95(time.Hour)),
			batch:   counts{Applied: 20},
			total:   counts{Applied: 20},
			buckets: histogram(2*time.Hour, 20),
			want:    Result{Breach, v1alpha1.GateApplyDurationP95, "> 30m", "1h", "apply-duration-p95: > 30m > 1h"},
		},
		{
			name:  "apply-duration-p95 with no verified apply",
			gates: effective(nil),
			batch: counts{Applied: 20},
			total: counts{Applied: 20},
			want:  passed,
		},
		{
			name:    "unhealthy-ratio comes before apply-duration-p95",
			gates:   effective(nil),
			batch:   counts{Applied: 1, Unhealthy: 1},
			total:   counts{Applied: 1, Unhealthy: 1},
			buckets: histogram(time.Hour, 2),
			want:    Result{Breach, v1alpha1.GateUnhealthyRatio, "50 %", "10 %", "unhealthy-ratio: 50 % > 10 %"},
		},

		// min-sample
		{
			name:  "small batch falls back to the rollout's totals, which pass",
			gates: effective(withMinSample(5)),
			batch: counts{Applied: 2, Failed: 1},
			total: counts{Applied: 99, Failed: 1},
			want:  passed,
		},
		{
			name:  "small batch falls back to the rollout's totals, which breach",
			gates: effective(withMinSample(5)),
			batch: counts{Applied: 2},
			total: counts{Applied: 13, Disconnected: 7},
			want:  Result{Breach, v1alpha1.GateDisconnectRatio, "35 %", "20 %", "disconnect-ratio: 35 % > 20 %"},
		},
		{
			name:  "batch at the minimum sample is judged alone",
			gates: effective(withMinSample(5)),
			batch: counts{Applied: 4, Failed: 1},
			total: counts{Applied: 99, Failed: 1},
			want:  Result{Breach, v1alpha1.GateFailureRatio, "20 %", "10 %", "failure-ratio: 20 % > 10 %"},
		},
		{
			name:  "too few finished agents anywhere",
			gates: effective(withMinSample(5)),
			batch: counts{Applied: 2, Failed: 1, Applying: 10},
			total: counts{Applied: 2, Failed: 1, Applying: 10},
			want:  Result{Inconclusive, v1alpha1.GateMinSample, "3", "5", "min-sample: 3 finished agents < 5"},
		},
		{
			name:  "incompatible and denied agents are no sample",
			gates: effective(withMinSample(5)),
			batch: counts{Applied: 2, Incompatible: 40, Denied: 40},
			total: counts{Applied: 2, Incompatible: 40, Denied: 40},
			want:  Result{Inconclusive, v1alpha1.GateMinSample, "2", "5", "min-sample: 2 finished agents < 5"},
		},
		{
			name:  "nothing finished is never a pass",
			gates: effective(nil),
			batch: counts{Denied: 10},
			total: counts{Denied: 10},
			want:  Result{Inconclusive, v1alpha1.GateMinSample, "0", "1", "min-sample: 0 finished agents < 1"},
		},
		{
			name:  "unset minSampleSize is 1",
			gates: effective(func(g *v1alpha1.GateThresholds) { g.MinSampleSize = nil }),
			batch: counts{},
			total: counts{},
			want:  Result{Inconclusive, v1alpha1.GateMinSample, "0", "1", "min-sample: 0 finished agents < 1"},
		},

		// gates turned off
		{
			name:    "unset thresholds turn their gates off",
			gates:   v1alpha1.EffectiveGates{},
			batch:   counts{Failed: 5, Disconnected: 5, Unhealthy: 5},
			total:   counts{Failed: 5, Disconnected: 5, Unhealthy: 5},
			buckets: histogram(time.Hour, 15),
			want:    passed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Evaluate(tt.gates, tt.batch, tt.total, tt.buckets); got != tt.want {
				t.Errorf("Evaluate =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	g := Resolve(nil, nil, nil, Defaults())
	batch := v1alpha1.AgentCounts{Targeted: 500, Applied: 480, Unhealthy: 5, Failed: 10, Disconnected: 3, TimedOut: 2}
	total := v1alpha1.AgentCounts{Targeted: 1000, Applied: 970, Unhealthy: 8, Failed: 15, Disconnected: 5, TimedOut: 2}
	buckets := histogram(800*time.Millisecond, 100, 3*time.Second, 300, 15*time.Second, 70, 90*time.Second, 10)
	for b.Loop() {
		if r := Evaluate(g, batch, total, buckets); r.Outcome != Pass {
			b.Fatal(r.Message)
		}
	}
}
