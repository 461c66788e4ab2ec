package selector

import (
	"slices"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Disjoint says whether no set of attributes can satisfy both selectors, judged key by key.
// It errs towards false: two selectors it cannot tell apart are taken to overlap, which is
// the safe answer for a rule such as "rollouts that reach production agents need approval".
func Disjoint(a, b fleetv1alpha1.AgentSelector) bool {
	ra, rb := requirements(a), requirements(b)
	for _, x := range ra {
		for _, y := range rb {
			if x.Key == y.Key && exclusive(x, y) {
				return true
			}
		}
	}
	return false
}

// requirements expresses matchAttributes as In requirements, next to matchExpressions.
func requirements(s fleetv1alpha1.AgentSelector) []fleetv1alpha1.AttributeRequirement {
	out := slices.Clone(s.MatchExpressions)
	for k, v := range s.MatchAttributes {
		out = append(out, fleetv1alpha1.AttributeRequirement{Key: k, Operator: fleetv1alpha1.AttributeOpIn, Values: []string{v}})
	}
	return out
}

// exclusive says whether two requirements on the same key cannot both hold.
func exclusive(x, y fleetv1alpha1.AttributeRequirement) bool {
	has := func(r fleetv1alpha1.AttributeRequirement) bool {
		return r.Operator == fleetv1alpha1.AttributeOpIn || r.Operator == fleetv1alpha1.AttributeOpExists
	}
	switch {
	case x.Operator == fleetv1alpha1.AttributeOpDoesNotExist:
		return has(y)
	case y.Operator == fleetv1alpha1.AttributeOpDoesNotExist:
		return has(x)
	case x.Operator == fleetv1alpha1.AttributeOpIn && y.Operator == fleetv1alpha1.AttributeOpIn:
		return !slices.ContainsFunc(x.Values, func(v string) bool { return slices.Contains(y.Values, v) })
	case x.Operator == fleetv1alpha1.AttributeOpIn && y.Operator == fleetv1alpha1.AttributeOpNotIn:
		return allIn(x.Values, y.Values)
	case x.Operator == fleetv1alpha1.AttributeOpNotIn && y.Operator == fleetv1alpha1.AttributeOpIn:
		return allIn(y.Values, x.Values)
	}
	return false
}

// allIn says whether every value of vs is in excluded.
func allIn(vs, excluded []string) bool {
	for _, v := range vs {
		if !slices.Contains(excluded, v) {
			return false
		}
	}
	return true
}
