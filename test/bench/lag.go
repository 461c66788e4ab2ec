package main

import (
	"math"
	"slices"
	"sort"
	"time"
)

// point is a cumulative count as observed at a moment.
type point struct {
	at time.Time
	v  int
}

// fleetCurve merges the applied counts that several load-generator processes print into one
// cumulative curve for the whole fleet. A process prints its count every few hundred
// milliseconds; an increase between two of its lines happened somewhere between them, so it
// is placed at their midpoint (error at most half an interval either way). An increase in a
// process's first line is placed at that line.
func fleetCurve(series [][]point) []point {
	type inc struct {
		at time.Time
		d  int
	}
	var incs []inc
	for _, s := range series {
		prev := point{}
		for i, p := range s {
			if d := p.v - prev.v; d != 0 {
				at := p.at
				if i > 0 {
					at = prev.at.Add(p.at.Sub(prev.at) / 2)
				}
				incs = append(incs, inc{at, d})
			}
			prev = p
		}
	}
	sort.SliceStable(incs, func(i, j int) bool { return incs[i].at.Before(incs[j].at) })
	out := make([]point, 0, len(incs))
	total := 0
	for _, c := range incs {
		total += c.d
		out = append(out, point{c.at, total})
	}
	return out
}

// firstReach returns, for k = 1..n (index k-1), the first moment the curve's value was at
// least k; the zero time when it never was. The curve is in time order.
func firstReach(curve []point, n int) []time.Time {
	out := make([]time.Time, n)
	high := 0
	for _, p := range curve {
		for ; high < p.v && high < n; high++ {
			out[high] = p.at
		}
	}
	return out
}

// lagsMs is to[k] - from[k] in milliseconds, for every k where both are known.
func lagsMs(from, to []time.Time) []float64 {
	var out []float64
	for k := range min(len(from), len(to)) {
		if !from[k].IsZero() && !to[k].IsZero() {
			out = append(out, float64(to[k].Sub(from[k]))/float64(time.Millisecond))
		}
	}
	return out
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of xs; NaN when xs is empty.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// cumulative turns batch sizes into cumulative targets: [10 10 5] -> [10 20 25].
func cumulative(plan []int32) []int {
	out := make([]int, len(plan))
	total := 0
	for i, n := range plan {
		total += int(n)
		out[i] = total
	}
	return out
}

// atTargets picks, from per-agent moments (index k-1 for the k-th agent), those of the
// cumulative targets.
func atTargets(reach []time.Time, targets []int) []time.Time {
	out := make([]time.Time, len(targets))
	for i, t := range targets {
		if t >= 1 && t <= len(reach) {
			out[i] = reach[t-1]
		}
	}
	return out
}

// round1 rounds to one decimal, for readable JSON.
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// round3 rounds to three decimals.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
