package selector

import (
	"testing"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestMatches(t *testing.T) {
	attrs := map[string]string{"service.name": "otelcol", "os.type": "linux", "deployment.environment": "production"}
	expr := func(key string, op fleetv1alpha1.AttributeSelectorOperator, values ...string) fleetv1alpha1.AgentSelector {
		return fleetv1alpha1.AgentSelector{MatchExpressions: []fleetv1alpha1.AttributeRequirement{{Key: key, Operator: op, Values: values}}}
	}
	tests := []struct {
		name string
		sel  fleetv1alpha1.AgentSelector
		want bool
	}{
		{"empty selector matches nothing", fleetv1alpha1.AgentSelector{}, false},
		{"equal attribute", fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"os.type": "linux"}}, true},
		{"different value", fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"os.type": "windows"}}, false},
		{"missing attribute", fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"host.name": "a"}}, false},
		{"In hit", expr("deployment.environment", fleetv1alpha1.AttributeOpIn, "staging", "production"), true},
		{"In miss", expr("deployment.environment", fleetv1alpha1.AttributeOpIn, "staging"), false},
		{"In on missing key", expr("region", fleetv1alpha1.AttributeOpIn, "eu"), false},
		{"NotIn hit", expr("os.type", fleetv1alpha1.AttributeOpNotIn, "windows"), true},
		{"NotIn miss", expr("os.type", fleetv1alpha1.AttributeOpNotIn, "linux"), false},
		{"NotIn on missing key", expr("region", fleetv1alpha1.AttributeOpNotIn, "eu"), true},
		{"Exists", expr("service.name", fleetv1alpha1.AttributeOpExists), true},
		{"Exists on missing key", expr("region", fleetv1alpha1.AttributeOpExists), false},
		{"DoesNotExist", expr("region", fleetv1alpha1.AttributeOpDoesNotExist), true},
		{"DoesNotExist on present key", expr("os.type", fleetv1alpha1.AttributeOpDoesNotExist), false},
		{"all conditions must hold", fleetv1alpha1.AgentSelector{
			MatchAttributes:  map[string]string{"os.type": "linux"},
			MatchExpressions: []fleetv1alpha1.AttributeRequirement{{Key: "region", Operator: fleetv1alpha1.AttributeOpExists}},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Matches(tt.sel, attrs); got != tt.want {
				t.Errorf("Matches() = %v, want %v", got, tt.want)
			}
		})
	}
}
