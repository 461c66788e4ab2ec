package gates

import (
	"math"
	"slices"
	"time"
)

// Buckets are the upper bounds of the apply-duration histogram that sidecars report in
// ReplicaReport.applyDurationBuckets. A report holds len(Buckets)+1 counters, the last for
// durations above the last bound (+Inf). Every replica counts in the same buckets, so reports
// merge by adding counters; changing the bounds changes the report format.
var Buckets = []time.Duration{
	1 * time.Second,
	2 * time.Second,
	5 * time.Second,
	10 * time.Second,
	20 * time.Second,
	30 * time.Second,
	1 * time.Minute,
	2 * time.Minute,
	5 * time.Minute,
	10 * time.Minute,
	30 * time.Minute,
}

// BucketIndex returns the counter a duration goes in: the first bucket whose upper bound is at
// least d (bounds are inclusive, like Prometheus' le), or len(Buckets) for the +Inf bucket.
func BucketIndex(d time.Duration) int {
	i, _ := slices.BinarySearch(Buckets, d)
	return i
}

// MergeBuckets adds replicas' reports into one histogram of len(Buckets)+1 counters. A
// report may be shorter (missing counters are zero); counters past the last of a longer
// report are added to +Inf, so a sidecar with other bounds can make the gate stricter but
// never hide an apply. Negative counters are ignored and sums stop at math.MaxInt32.
func MergeBuckets(reports ...[]int32) []int32 {
	sums := make([]int64, len(Buckets)+1)
	for _, r := range reports {
		for i, c := range r {
			sums[min(i, len(Buckets))] += int64(max(c, 0))
		}
	}
	out := make([]int32, len(sums))
	for i, s := range sums {
		out[i] = int32(min(s, math.MaxInt32))
	}
	return out
}

// quantileScale is the precision Percentile keeps of q, so that the rank is computed in
// integers and 0.95 of 20 applies is exactly the 19th rather than a float's 19.000000000000004.
const quantileScale = 1_000_000

// Percentile returns the upper bound of the bucket that holds the q-quantile (0 ≤ q ≤ 1) of a
// histogram: the smallest bound that at least q of the counted durations lie at or below.
// When the quantile lies in the +Inf bucket, overflow is true and d is the last finite bound,
// so that callers can say "> 30m". An empty histogram gives 0 and false. Counters past
// len(Buckets) count as +Inf, as in MergeBuckets.
func Percentile(buckets []int32, q float64) (d time.Duration, overflow bool) {
	var total int64
	for _, c := range buckets {
		total += int64(max(c, 0))
	}
	if total == 0 {
		return 0, false
	}
	if !(q > 0) { // also NaN
		q = 0
	}
	qs := int64(math.Round(min(q, 1) * quantileScale))
	// rank = ceil(qs*total/quantileScale), split so the product cannot overflow.
	rank := qs*(total/quantileScale) + (qs*(total%quantileScale)+quantileScale-1)/quantileScale
	rank = max(rank, 1)

	var seen int64
	for i, c := range buckets {
		seen += int64(max(c, 0))
		if seen >= rank {
			if i < len(Buckets) {
				return Buckets[i], false
			}
			break
		}
	}
	return Buckets[len(Buckets)-1], true
}
