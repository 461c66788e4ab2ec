package gates

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

// Resolve returns the gate values in force for a Rollout, field by field: the Rollout's own
// value, else the named GatePolicy's, else the namespace's "default" GatePolicy's, else the
// operator's. rollout, policy and namespaceDefault may each be nil when absent. Policy in the
// result names the GatePolicy in the chain: the named one if given, else "default" if it
// exists, else it is empty.
//
// The result shares no pointers with its inputs, so it can be stored in status and the inputs
// changed afterwards.
func Resolve(rollout *v1alpha1.GateThresholds, policy *v1alpha1.GatePolicy, namespaceDefault *v1alpha1.GatePolicy, operator v1alpha1.GateThresholds) v1alpha1.EffectiveGates {
	levels := make([]*v1alpha1.GateThresholds, 0, 4)
	if rollout != nil {
		levels = append(levels, rollout)
	}
	var out v1alpha1.EffectiveGates
	if policy != nil {
		levels = append(levels, &policy.InForce().Gates)
		out.Policy = policy.Name
	}
	if namespaceDefault != nil {
		levels = append(levels, &namespaceDefault.InForce().Gates)
		if policy == nil {
			out.Policy = v1alpha1.DefaultGatePolicyName
		}
	}
	levels = append(levels, &operator)

	g := &out.GateThresholds
	g.MaxFailurePercent = first(levels, func(t *v1alpha1.GateThresholds) *int32 { return t.MaxFailurePercent })
	g.MaxDisconnectPercent = first(levels, func(t *v1alpha1.GateThresholds) *int32 { return t.MaxDisconnectPercent })
	g.MaxUnhealthyPercent = first(levels, func(t *v1alpha1.GateThresholds) *int32 { return t.MaxUnhealthyPercent })
	g.MaxApplyDurationP95 = first(levels, func(t *v1alpha1.GateThresholds) *metav1.Duration { return t.MaxApplyDurationP95 })
	g.MaxFailures = first(levels, func(t *v1alpha1.GateThresholds) *int32 { return t.MaxFailures })
	g.MinSampleSize = first(levels, func(t *v1alpha1.GateThresholds) *int32 { return t.MinSampleSize })
	g.BakeTime = first(levels, func(t *v1alpha1.GateThresholds) *metav1.Duration { return t.BakeTime })
	g.ProgressDeadline = first(levels, func(t *v1alpha1.GateThresholds) *metav1.Duration { return t.ProgressDeadline })
	g.DisconnectGrace = first(levels, func(t *v1alpha1.GateThresholds) *metav1.Duration { return t.DisconnectGrace })
	for _, l := range levels {
		if l.OnFailure != "" {
			g.OnFailure = l.OnFailure
			break
		}
	}
	return out
}

// first returns a copy of the first level's field that is set, or nil when none is.
func first[T any](levels []*v1alpha1.GateThresholds, field func(*v1alpha1.GateThresholds) *T) *T {
	for _, l := range levels {
		if v := field(l); v != nil {
			return new(*v)
		}
	}
	return nil
}
