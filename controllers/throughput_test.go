package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestAddSample(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	smp := func(s int, applied int32) appliedSample { return appliedSample{at: at(s), applied: applied} }
	every := func(step, until int) []appliedSample {
		var out []appliedSample
		for s := 0; s <= until; s += step {
			out = addSample(out, smp(s, int32(s)), DefaultRateWindow)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		samples []appliedSample
		wantAt  []int // seconds of the samples kept
	}{
		{"the first sample is kept", addSample(nil, smp(0, 0), DefaultRateWindow), []int{0}},
		{"the second sample is kept", addSample([]appliedSample{smp(0, 0)}, smp(5, 3), DefaultRateWindow), []int{0, 5}},
		{"a sample under a step after the one before the last replaces the last", addSample([]appliedSample{smp(0, 0), smp(5, 3)}, smp(8, 4), DefaultRateWindow), []int{0, 8}},
		{"a sample a step after the one before the last is added", addSample([]appliedSample{smp(0, 0), smp(5, 3)}, smp(10, 4), DefaultRateWindow), []int{0, 5, 10}},
		{"counts that fell start over", addSample([]appliedSample{smp(0, 5), smp(10, 8)}, smp(15, 2), DefaultRateWindow), []int{15}},
		{"the window keeps one sample beyond it, as the base", every(10, 300), []int{180, 190, 200, 210, 220, 230, 240, 250, 260, 270, 280, 290, 300}},
		{"the newest count is kept however soon it comes", addSample(every(10, 20), smp(23, 23), DefaultRateWindow), []int{0, 10, 20, 23}},
		{"a sample every second keeps one about each step, and the newest", every(1, 35), []int{0, 9, 18, 27, 35}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			for _, s := range tc.samples {
				got = append(got, int(s.at.Sub(t0)/time.Second))
			}
			if len(got) != len(tc.wantAt) {
				t.Fatalf("samples at %v s, want %v", got, tc.wantAt)
			}
			for i := range got {
				if got[i] != tc.wantAt[i] {
					t.Fatalf("samples at %v s, want %v", got, tc.wantAt)
				}
			}
		})
	}
	for _, step := range []int{1, 3, 5, 7, 10, 17} {
		if n := len(every(step, 3600)); n > 2*samplesPerWindow+2 {
			t.Errorf("%d samples kept after an hour of one every %d s, bound %d", n, step, 2*samplesPerWindow+2)
		}
	}
}

func TestRecentRate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		samples   []appliedSample
		applied   int32
		now       time.Time
		want      int32
		wantKnown bool
	}{
		{"no samples", nil, 10, t0, 0, false},
		{"under rateMinSpan", []appliedSample{{t0, 0}}, 10, t0.Add(500 * time.Millisecond), 0, false},
		{"60 applies in 30 s", []appliedSample{{t0, 0}}, 60, t0.Add(30 * time.Second), 120, true},
		{"from the oldest sample, not the start", []appliedSample{{t0, 100}, {t0.Add(10 * time.Second), 150}}, 160, t0.Add(time.Minute), 60, true},
		{"paused: nothing applied over the window", []appliedSample{{t0, 500}}, 500, t0.Add(2 * time.Minute), 0, true},
		{"counts that fell read as no applies", []appliedSample{{t0, 50}}, 40, t0.Add(time.Minute), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, known := recentRate(tc.samples, tc.applied, tc.now)
			if got != tc.want || known != tc.wantKnown {
				t.Errorf("recentRate = %d, %v; want %d, %v", got, known, tc.want, tc.wantKnown)
			}
		})
	}
}

// A rollout that applies quickly, then pauses: its rate falls to zero over the window, where an
// average since the start would keep a positive figure for as long as it stays paused.
func TestApplyRatesFallWhilePaused(t *testing.T) {
	var rates applyRates
	key := types.NamespacedName{Namespace: "ns", Name: "r"}
	now := t0
	for applied := int32(0); applied <= 100; applied += 10 {
		rates.observe(key, "uid", "rev", applied, now)
		now = now.Add(time.Second)
	}
	if rate, _ := rates.observe(key, "uid", "rev", 100, now); rate < 500 {
		t.Fatalf("rate while applying %d a minute, want about 600", rate)
	}
	for range 30 { // paused: a pass every 5 s for 150 s
		now = now.Add(5 * time.Second)
		rates.observe(key, "uid", "rev", 100, now)
	}
	if rate, known := rates.observe(key, "uid", "rev", 100, now); rate != 0 || !known {
		t.Errorf("rate after %s paused = %d (%v), want 0", 150*time.Second, rate, known)
	}
	// A new revision, or the same name for a new rollout, starts afresh.
	if _, known := rates.observe(key, "uid", "rev-2", 0, now); known {
		t.Error("a new revision inherited the old one's samples")
	}
	if _, known := rates.observe(key, "uid-2", "rev-2", 0, now.Add(5*time.Second)); known {
		t.Error("a new rollout of the same name inherited the old one's samples")
	}
	rates.forget(key)
	if len(rates.byRollout) != 0 {
		t.Errorf("%d rollouts remembered after forget", len(rates.byRollout))
	}
}

func TestSettleEstimate(t *testing.T) {
	eta := mtime(t0.Add(time.Minute))
	for _, p := range []fleetv1alpha1.RolloutPhase{fleetv1alpha1.RolloutPending, fleetv1alpha1.RolloutProgressing,
		fleetv1alpha1.RolloutPaused, fleetv1alpha1.RolloutRollingBack, fleetv1alpha1.RolloutCompleted, fleetv1alpha1.RolloutRolledBack,
		fleetv1alpha1.RolloutAborted, fleetv1alpha1.RolloutBlocked, fleetv1alpha1.RolloutFailed} {
		st := fleetv1alpha1.RolloutStatus{Phase: p, EstimatedCompletionTime: eta}
		settleEstimate(&st)
		if keep := p == fleetv1alpha1.RolloutProgressing; (st.EstimatedCompletionTime != nil) != keep {
			t.Errorf("phase %s: estimate %v, want kept %v", p, st.EstimatedCompletionTime, keep)
		}
	}
}
