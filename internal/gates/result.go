package gates

import (
	"fmt"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

// Outcome is the verdict of one evaluation of a batch's gates.
type Outcome string

const (
	// Pass: every gate held; the batch may bake and the next may start.
	Pass Outcome = "Pass"
	// Breach: a gate's observed value was above its threshold; onFailure applies.
	Breach Outcome = "Breach"
	// Inconclusive: too few agents finished to judge the ratios; the rollout must not go on.
	Inconclusive Outcome = "Inconclusive"
)

// Result is an evaluation's verdict with what a pause records (PauseDetail's gate, observed,
// threshold and message), so the engine copies it rather than rebuilding the text.
type Result struct {
	Outcome Outcome
	// Gate is the gate that breached, or GateMinSample when inconclusive; empty on a pass.
	Gate v1alpha1.GateName
	// Observed and Threshold are the two sides of the comparison, such as "35 %" and "20 %".
	Observed, Threshold string
	// Message reads like "disconnect-ratio: 35 % > 20 %".
	Message string
}

var passed = Result{Outcome: Pass, Message: "all gates passed"}

func breach(gate v1alpha1.GateName, observed, threshold string) Result {
	return Result{
		Outcome:   Breach,
		Gate:      gate,
		Observed:  observed,
		Threshold: threshold,
		Message:   fmt.Sprintf("%s: %s > %s", gate, observed, threshold),
	}
}

func inconclusive(finished, minSample int64) Result {
	return Result{
		Outcome:   Inconclusive,
		Gate:      v1alpha1.GateMinSample,
		Observed:  formatInt(finished),
		Threshold: formatInt(minSample),
		Message:   fmt.Sprintf("%s: %d finished agents < %d", v1alpha1.GateMinSample, finished, minSample),
	}
}

// Unreported is the verdict on a batch while live replicas are silent: inconclusive, never
// judged on the other replicas' counts, since the silent ones' agents could be anywhere.
// silent names them ("replica X has not reported since ..."); n is how many.
func Unreported(n int, silent string) Result {
	return Result{
		Outcome:   Inconclusive,
		Gate:      v1alpha1.GateReplicaReports,
		Observed:  fmt.Sprintf("%d silent", n),
		Threshold: "0 silent",
		Message:   fmt.Sprintf("%s: %s; the batch is not judged without its counts", v1alpha1.GateReplicaReports, silent),
	}
}
