package gates

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

func TestSummary(t *testing.T) {
	g := v1alpha1.EffectiveGates{Policy: "prod", GateThresholds: v1alpha1.GateThresholds{
		MaxFailurePercent: new(int32(5)), MaxUnhealthyPercent: new(int32(0)), MaxFailures: new(int32(20)), MinSampleSize: new(int32(3)),
		MaxApplyDurationP95: &metav1.Duration{Duration: 90 * time.Second}, ProgressDeadline: &metav1.Duration{Duration: time.Hour},
		OnFailure: v1alpha1.GateFailureRollback}}
	want := "failure-ratio 5 %, unhealthy-ratio 0 %, apply-duration-p95 1m30s, failures 20, min-sample 3, progress deadline 1h, on failure Rollback (GatePolicy prod)"
	if got := Summary(g, ", "); got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if got := Summary(v1alpha1.EffectiveGates{GateThresholds: v1alpha1.GateThresholds{MaxFailurePercent: new(int32(1)), BakeTime: &metav1.Duration{}}}, " · "); got != "failure-ratio 1 % · bake 0s" {
		t.Errorf("Summary = %q", got)
	}
}
