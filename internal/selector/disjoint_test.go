package selector

import (
	"testing"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestDisjoint(t *testing.T) {
	attr := func(k, v string) fleetv1alpha1.AgentSelector {
		return fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{k: v}}
	}
	expr := func(key string, op fleetv1alpha1.AttributeSelectorOperator, values ...string) fleetv1alpha1.AgentSelector {
		return fleetv1alpha1.AgentSelector{MatchExpressions: []fleetv1alpha1.AttributeRequirement{{Key: key, Operator: op, Values: values}}}
	}
	const env = "deployment.environment"
	tests := []struct {
		name string
		a, b fleetv1alpha1.AgentSelector
		want bool
	}{
		{"same attribute, other value", attr(env, "staging"), attr(env, "production"), true},
		{"same attribute, same value", attr(env, "production"), attr(env, "production"), false},
		{"different keys may overlap", attr("os.type", "linux"), attr(env, "production"), false},
		{"In sets without a common value", expr(env, fleetv1alpha1.AttributeOpIn, "dev", "staging"), expr(env, fleetv1alpha1.AttributeOpIn, "production"), true},
		{"In sets with a common value", expr(env, fleetv1alpha1.AttributeOpIn, "dev", "production"), attr(env, "production"), false},
		{"In against NotIn of all its values", attr(env, "production"), expr(env, fleetv1alpha1.AttributeOpNotIn, "production"), true},
		{"NotIn against In of a value it allows", expr(env, fleetv1alpha1.AttributeOpNotIn, "dev"), attr(env, "production"), false},
		{"DoesNotExist against a value", expr(env, fleetv1alpha1.AttributeOpDoesNotExist), attr(env, "production"), true},
		{"Exists against DoesNotExist", expr(env, fleetv1alpha1.AttributeOpExists), expr(env, fleetv1alpha1.AttributeOpDoesNotExist), true},
		{"DoesNotExist against NotIn may overlap", expr(env, fleetv1alpha1.AttributeOpDoesNotExist), expr(env, fleetv1alpha1.AttributeOpNotIn, "x"), false},
		{"Exists against a value may overlap", expr(env, fleetv1alpha1.AttributeOpExists), attr(env, "production"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Disjoint(tt.a, tt.b); got != tt.want {
				t.Errorf("Disjoint(a, b) = %v, want %v", got, tt.want)
			}
			if got := Disjoint(tt.b, tt.a); got != tt.want {
				t.Errorf("Disjoint(b, a) = %v, want %v", got, tt.want)
			}
		})
	}
}
