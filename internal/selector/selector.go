// Package selector matches agents against AgentSelectors, the way a label selector matches
// labels: every condition must hold.
package selector

import (
	"slices"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Matches says whether attributes satisfy sel. An empty selector matches nothing: the API
// refuses it, and an agent group that matched every agent by accident would be worse than one
// that matches none.
func Matches(sel fleetv1alpha1.AgentSelector, attrs map[string]string) bool {
	if len(sel.MatchAttributes) == 0 && len(sel.MatchExpressions) == 0 {
		return false
	}
	for k, want := range sel.MatchAttributes {
		if got, ok := attrs[k]; !ok || got != want {
			return false
		}
	}
	for _, req := range sel.MatchExpressions {
		got, ok := attrs[req.Key]
		switch req.Operator {
		case fleetv1alpha1.AttributeOpIn:
			if !ok || !slices.Contains(req.Values, got) {
				return false
			}
		case fleetv1alpha1.AttributeOpNotIn:
			if ok && slices.Contains(req.Values, got) {
				return false
			}
		case fleetv1alpha1.AttributeOpExists:
			if !ok {
				return false
			}
		case fleetv1alpha1.AttributeOpDoesNotExist:
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}
