// Package gates decides whether a rollout may go on after a batch: it resolves the gate
// values in force for a Rollout and evaluates them against the verified states of its agents.
//
// # Resolution
//
// Each gate value falls through on its own: the Rollout's spec.gates, else the GatePolicy it
// names, else the namespace's GatePolicy named "default", else the operator's defaults. The
// operator's defaults (Defaults) are maxFailurePercent 10, maxDisconnectPercent 20,
// maxUnhealthyPercent 10, maxApplyDurationP95 10m, minSampleSize 1, bakeTime 0s,
// progressDeadline 10m and onFailure Pause. maxFailures has no default, so the failures gate is
// off unless a Rollout or GatePolicy sets it: no absolute number suits a fleet of ten and a
// fleet of ten thousand alike, and the ratio gates already guard both.
//
// # Evaluation
//
// For a set of agent counts:
//
//   - finished = applied + unhealthy + failed + disconnected + timedOut + unverifiable.
//     Incompatible and denied agents were never pushed to and do not count; pending and
//     applying agents have not finished yet.
//   - failures = failed and timed-out agents over the whole rollout so far, against
//     maxFailures: an agent silent past the apply timeout did not apply either.
//   - failure-ratio = (failed + timedOut) / finished, against maxFailurePercent.
//   - disconnect-ratio = disconnected / finished, against maxDisconnectPercent.
//   - unhealthy-ratio = unhealthy / (applied + unhealthy), against maxUnhealthyPercent; 0 when
//     no agent has applied.
//   - apply-duration-p95 = the 95th percentile of the batch's apply durations, against
//     maxApplyDurationP95. Sidecars report durations in fixed buckets (Buckets), so the value is
//     the upper bound of the bucket that holds the percentile. A threshold between two bounds
//     therefore acts as the lower of them: with a threshold of 3m, a p95 in (2m, 5m] reads 5m
//     and breaches. A p95 beyond the last bound reads "> 30m" and breaches any threshold. A
//     batch with no verified apply has nothing to judge here.
//
// The ratios are taken over the current batch. When the batch has fewer finished agents than
// minSampleSize they are taken over the whole rollout so far (the batch and every batch
// before it); when even that is short, the result is Inconclusive with gate "min-sample",
// never a silent pass. The failures gate needs no sample.
//
// The gates are checked in the order failures, failure-ratio, disconnect-ratio,
// unhealthy-ratio, apply-duration-p95, and the first breach wins. A gate breaches when its
// observed value is strictly above its threshold: a value equal to the threshold passes. A
// threshold that is unset turns its gate off.
//
// # Messages
//
// A breach reads "<gate>: <observed> > <threshold>", an inconclusive result
// "min-sample: <finished> finished agents < <minSampleSize>", a pass "all gates passed":
//
//	failures: 12 > 10
//	failure-ratio: 33.3 % > 10 %
//	disconnect-ratio: 35 % > 20 %
//	apply-duration-p95: 5m > 2m
//	apply-duration-p95: > 30m > 10m
//	min-sample: 3 finished agents < 5
//
// A percentage prints as a whole number when it is one, else with one decimal; when one
// decimal would round it down to the threshold it gets as many more as it takes to show it is
// above ("10.04 % > 10 %"). A duration prints without its zero units: 1m30s, 2m, 1h.
package gates
