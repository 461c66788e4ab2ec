package approval

import (
	"context"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/gates"
)

// Policies are the GatePolicies that apply to a Rollout: the one it names, its namespace's
// default and the operator namespace's default.
type Policies struct {
	// Named is spec.gatePolicyRef's policy; nil when unset. NamedMissing says it is set but
	// does not exist.
	Named        *fleetv1alpha1.GatePolicy
	NamedMissing bool
	NSDefault    *fleetv1alpha1.GatePolicy
	Operator     *fleetv1alpha1.GatePolicy
}

// ReadPolicies reads the policies that apply to ro; operatorNS may be empty.
func ReadPolicies(ctx context.Context, c client.Reader, ro *fleetv1alpha1.Rollout, operatorNS string) (Policies, error) {
	var out Policies
	get := func(ns, name string) (*fleetv1alpha1.GatePolicy, error) {
		var p fleetv1alpha1.GatePolicy
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	var err error
	if ref := ro.Spec.GatePolicyRef; ref != nil {
		out.Named, err = get(ro.Namespace, ref.Name)
		if apierrors.IsNotFound(err) {
			out.NamedMissing, err = true, nil
		} else if err != nil {
			return out, err
		}
	}
	if out.Named == nil || out.Named.Name != fleetv1alpha1.DefaultGatePolicyName {
		if out.NSDefault, err = get(ro.Namespace, fleetv1alpha1.DefaultGatePolicyName); client.IgnoreNotFound(err) != nil {
			return out, err
		}
	}
	if operatorNS != "" {
		if out.Operator, err = get(operatorNS, fleetv1alpha1.DefaultGatePolicyName); client.IgnoreNotFound(err) != nil {
			return out, err
		}
	}
	return out, nil
}

// Gates are the gate values in force, field by field: the Rollout's overrides, then the
// named policy, the namespace's default, the operator's default and the built-in defaults.
func (p Policies) Gates(overrides *fleetv1alpha1.GateThresholds) fleetv1alpha1.EffectiveGates {
	defaults := gates.Defaults()
	if p.Operator != nil {
		defaults = gates.Resolve(nil, p.Operator, nil, defaults).GateThresholds
	}
	return gates.Resolve(overrides, p.Named, p.NSDefault, defaults)
}

// Push are the push policies in force: the named policy's, else the namespace default's.
func (p Policies) Push() []fleetv1alpha1.PushPolicy {
	switch {
	case p.Named != nil:
		return p.Named.InForce().PushPolicies
	case p.NSDefault != nil:
		return p.NSDefault.InForce().PushPolicies
	}
	return nil
}

// All lists the policies that exist, each once.
func (p Policies) All() []*fleetv1alpha1.GatePolicy {
	var out []*fleetv1alpha1.GatePolicy
	for _, q := range []*fleetv1alpha1.GatePolicy{p.Named, p.NSDefault, p.Operator} {
		if q != nil && !slices.ContainsFunc(out, func(o *fleetv1alpha1.GatePolicy) bool { return o.Namespace == q.Namespace && o.Name == q.Name }) {
			out = append(out, q)
		}
	}
	return out
}

// PolicyRequirements is the approval rule a change of p is approved under: that of the spec
// in force.
func PolicyRequirements(p *fleetv1alpha1.GatePolicy) []Requirement {
	if req := p.InForce().RequiredApprovals; req != nil {
		return []Requirement{{Policy: p.Name, ApprovalRequirement: req}}
	}
	return nil
}
