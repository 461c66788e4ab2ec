package gates

import (
	"github.com/ampora-io/ampora/api/v1alpha1"
)

// p95 is the quantile the apply-duration gate judges.
const p95 = 0.95

// Evaluate judges a batch: batch counts its agents, total every agent admitted so far (this
// batch included), and applyBuckets is the batch's merged apply-duration histogram. The
// definitions, the order of the gates and the message formats are in the package
// documentation.
func Evaluate(g v1alpha1.EffectiveGates, batch, total v1alpha1.AgentCounts, applyBuckets []int32) Result {
	if g.MaxFailures != nil && total.Failures() > int64(*g.MaxFailures) {
		return breach(v1alpha1.GateFailures, formatInt(total.Failures()), formatInt(int64(*g.MaxFailures)))
	}

	minSample := int64(1)
	if g.MinSampleSize != nil {
		minSample = max(int64(*g.MinSampleSize), 1)
	}
	sample := batch
	if batch.Finished() < minSample {
		if n := total.Finished(); n < minSample {
			return inconclusive(max(n, batch.Finished()), minSample)
		}
		sample = total
	}

	n := sample.Finished()
	ratios := []struct {
		gate      v1alpha1.GateName
		threshold *int32
		num, den  int64
	}{
		{v1alpha1.GateFailureRatio, g.MaxFailurePercent, sample.Failures(), n},
		{v1alpha1.GateDisconnectRatio, g.MaxDisconnectPercent, int64(sample.Disconnected), n},
		{v1alpha1.GateUnhealthyRatio, g.MaxUnhealthyPercent, int64(sample.Unhealthy), int64(sample.Applied) + int64(sample.Unhealthy)},
	}
	for _, r := range ratios {
		if r.threshold == nil || r.den == 0 {
			continue
		}
		// num/den > t% compared in integers, so that a tie is never a breach by rounding.
		if r.num*100 > int64(*r.threshold)*r.den {
			return breach(r.gate, formatPercent(r.num, r.den, *r.threshold), formatInt(int64(*r.threshold))+" %")
		}
	}

	if g.MaxApplyDurationP95 != nil {
		limit := g.MaxApplyDurationP95.Duration
		d, overflow := Percentile(applyBuckets, p95)
		switch {
		case overflow:
			return breach(v1alpha1.GateApplyDurationP95, "> "+FormatDuration(d), FormatDuration(limit))
		case d > limit:
			return breach(v1alpha1.GateApplyDurationP95, FormatDuration(d), FormatDuration(limit))
		}
	}
	return passed
}
