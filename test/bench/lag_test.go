package main

import (
	"math"
	"slices"
	"testing"
	"time"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestFleetCurveMidpoints(t *testing.T) {
	// Two processes sampling every 200 ms, out of phase.
	a := []point{{at(0), 0}, {at(200), 2}, {at(400), 3}}
	b := []point{{at(100), 0}, {at(300), 1}}
	got := fleetCurve([][]point{a, b})
	want := []point{{at(100), 2}, {at(200), 3}, {at(300), 4}}
	if !slices.Equal(got, want) {
		t.Fatalf("fleetCurve = %v, want %v", got, want)
	}
	// An increase in a process's first line is placed at that line.
	got = fleetCurve([][]point{{{at(50), 5}}})
	if !slices.Equal(got, []point{{at(50), 5}}) {
		t.Fatalf("first line: %v", got)
	}
}

func TestFirstReach(t *testing.T) {
	curve := []point{{at(0), 0}, {at(10), 2}, {at(20), 1}, {at(30), 4}}
	got := firstReach(curve, 5)
	want := []time.Time{at(10), at(10), at(30), at(30), {}}
	if !slices.Equal(got, want) {
		t.Fatalf("firstReach = %v, want %v", got, want)
	}
	if l := lagsMs(want, []time.Time{at(110), at(1010), {}, at(30), at(1)}); !slices.Equal(l, []float64{100, 1000, 0}) {
		t.Fatalf("lagsMs = %v", l)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ p, want float64 }{{50, 3}, {99, 5}, {100, 5}, {1, 1}, {20, 1}, {21, 2}} {
		if got := percentile(xs, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if !slices.Equal(xs, []float64{5, 1, 4, 2, 3}) {
		t.Error("percentile sorted its input")
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestCumulativeTargets(t *testing.T) {
	if got := cumulative([]int32{100, 100, 50}); !slices.Equal(got, []int{100, 200, 250}) {
		t.Fatalf("cumulative = %v", got)
	}
	reach := []time.Time{at(1), at(2), at(3)}
	if got := atTargets(reach, []int{1, 3, 4}); !slices.Equal(got, []time.Time{at(1), at(3), {}}) {
		t.Fatalf("atTargets = %v", got)
	}
}

func TestStatusLags(t *testing.T) {
	// 4 agents, 2 batches of 2. The fleet applies 2 at ~100 ms and 2 at ~2100 ms; the
	// replicas report them 1 s later, the manager 100 ms after that.
	fleet := [][]point{{{at(0), 0}, {at(200), 2}, {at(2000), 2}, {at(2200), 4}}}
	ro := func(top, rep int) *fleetv1alpha1.Rollout {
		r := &fleetv1alpha1.Rollout{}
		r.Status.ConfigHash = "h"
		r.Status.Counts.Applied = int32(top)
		r.Status.Replicas = []fleetv1alpha1.ReplicaReport{
			{Replica: "a", ConfigHash: "h", Counts: fleetv1alpha1.AgentCounts{Applied: int32(rep)}},
			{Replica: "b", ConfigHash: "old", Counts: fleetv1alpha1.AgentCounts{Applied: 99}},
		}
		return r
	}
	evs := []observed{
		{at(0), ro(0, 0)}, {at(1100), ro(0, 2)}, {at(1200), ro(2, 2)},
		{at(3100), ro(2, 4)}, {at(3200), ro(4, 4)},
	}
	got := statusLags(fleet, evs, 4, []int32{2, 2})
	check := func(name string, p *float64, want float64) {
		t.Helper()
		if p == nil || *p != want {
			t.Errorf("%s = %v, want %v", name, p, want)
		}
	}
	check("end-to-end p50", got.endToEnd.p50, 1100)
	check("end-to-end p99", got.endToEnd.p99, 1100)
	check("sidecar p50", got.sidecar.p50, 1000)
	check("manager p99", got.manager.p99, 100)
	if len(got.perBatch) != 2 {
		t.Fatalf("per batch: %v", got.perBatch)
	}
	check("batch 1", got.perBatch[0], 1100)
	check("batch 2", got.perBatch[1], 1100)

	// Nothing observed: nulls, not NaN.
	none := statusLags(nil, nil, 4, []int32{4})
	if none.endToEnd.p50 != nil || none.perBatch[0] != nil {
		t.Errorf("no data: %+v", none)
	}
}

func rolloutWith(batch int32, applied int32) *fleetv1alpha1.Rollout {
	r := &fleetv1alpha1.Rollout{}
	r.Status.CurrentBatch = &fleetv1alpha1.BatchStatus{Number: batch, Phase: fleetv1alpha1.BatchPushing}
	r.Status.Counts.Applied = applied
	r.Status.Replicas = []fleetv1alpha1.ReplicaReport{{Replica: "a"}}
	return r
}
