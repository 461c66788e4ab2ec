package gates

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

// DefaultDisconnectGrace is the disconnect grace when no level sets one.
const DefaultDisconnectGrace = 30 * time.Second

// Defaults returns the operator's gate values, the last level of the fall-through. Every
// field is set except MaxFailures: nil there means no absolute limit on failures. Each call
// returns fresh pointers, so a caller may change the result.
func Defaults() v1alpha1.GateThresholds {
	return v1alpha1.GateThresholds{
		MaxFailurePercent:    new(int32(10)),
		MaxDisconnectPercent: new(int32(20)),
		MaxUnhealthyPercent:  new(int32(10)),
		MaxApplyDurationP95:  &metav1.Duration{Duration: 10 * time.Minute},
		MaxFailures:          nil,
		MinSampleSize:        new(int32(1)),
		BakeTime:             &metav1.Duration{},
		ProgressDeadline:     &metav1.Duration{Duration: 10 * time.Minute},
		DisconnectGrace:      &metav1.Duration{Duration: DefaultDisconnectGrace},
		OnFailure:            v1alpha1.GateFailurePause,
	}
}
