// Package present words a Rollout's status the same way in every place that shows it to a
// person: the kubectl plugin and the dashboard.
package present

import (
	"cmp"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Phase is the rollout's phase, or that the engine has not evaluated it yet.
func Phase(p fleetv1alpha1.RolloutPhase) string { return cmp.Or(string(p), "not evaluated yet") }

// Batch is "N of M" for the current batch of the plan, or "-" before the first.
func Batch(st *fleetv1alpha1.RolloutStatus) string {
	if b := st.CurrentBatch; b != nil {
		return fmt.Sprintf("%d of %d", b.Number, len(st.Plan))
	}
	return "-"
}

// Ago is how long before now t was ("3m ago"), or how long after ("in 3m"); "-" for no time.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + duration.HumanDuration(-d)
	}
	return duration.HumanDuration(d) + " ago"
}
