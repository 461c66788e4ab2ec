package gates

import (
	"fmt"
	"strings"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

// Summary lists the thresholds in force in one line, joined by sep, naming the policy they
// come from: "failure-ratio 10 %, min-sample 5, bake 30s, on failure Pause (GatePolicy default)".
func Summary(g v1alpha1.EffectiveGates, sep string) string {
	var parts []string
	pct := func(name string, v *int32) {
		if v != nil {
			parts = append(parts, fmt.Sprintf("%s %d %%", name, *v))
		}
	}
	pct("failure-ratio", g.MaxFailurePercent)
	pct("disconnect-ratio", g.MaxDisconnectPercent)
	pct("unhealthy-ratio", g.MaxUnhealthyPercent)
	if g.MaxApplyDurationP95 != nil {
		parts = append(parts, "apply-duration-p95 "+FormatDuration(g.MaxApplyDurationP95.Duration))
	}
	if g.MaxFailures != nil {
		parts = append(parts, fmt.Sprintf("failures %d", *g.MaxFailures))
	}
	if g.MinSampleSize != nil {
		parts = append(parts, fmt.Sprintf("min-sample %d", *g.MinSampleSize))
	}
	if g.BakeTime != nil {
		parts = append(parts, "bake "+FormatDuration(g.BakeTime.Duration))
	}
	if g.ProgressDeadline != nil {
		parts = append(parts, "progress deadline "+FormatDuration(g.ProgressDeadline.Duration))
	}
	if g.OnFailure != "" {
		parts = append(parts, "on failure "+string(g.OnFailure))
	}
	s := strings.Join(parts, sep)
	if g.Policy != "" {
		s += " (GatePolicy " + g.Policy + ")"
	}
	return s
}
