package approval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/gates"
)

// RolloutDigest is what a Rollout's approvals are bound to: the whole push decision, that is
// the config's hash, every spec field that decides where and how fast it goes (group,
// strategy, apply timeout, policy and gate overrides), and the gates and push policies in
// force from the policies it falls through to, and which agents the group selects. Only
// spec.paused is left out: pausing and resuming do not widen the push.
func RolloutDigest(spec *fleetv1alpha1.RolloutSpec, configHash string, ps Policies, group *fleetv1alpha1.AgentGroup) string {
	decision := struct {
		ConfigHash string                        `json:"configHash"`
		Spec       fleetv1alpha1.RolloutSpec     `json:"spec"`
		Gates      fleetv1alpha1.GateThresholds  `json:"gates"`
		Push       []fleetv1alpha1.PushPolicy    `json:"push,omitempty"`
		Group      *fleetv1alpha1.AgentGroupSpec `json:"group,omitempty"`
	}{ConfigHash: configHash, Spec: *DecisionSpec(spec), Gates: digestGates(ps.Gates(spec.Gates).GateThresholds), Push: ps.Push()}
	if group != nil {
		decision.Group = &group.Spec
	}
	return jsonHash(decision)
}

// digestGates is the gates in force as the digest weighs them. A threshold added in a later
// release weighs as absent while it holds its built-in default, which is how the earlier
// release behaved: an upgrade keeps the approvals given under it.
func digestGates(g fleetv1alpha1.GateThresholds) fleetv1alpha1.GateThresholds {
	if g.DisconnectGrace != nil && g.DisconnectGrace.Duration == gates.DefaultDisconnectGrace {
		g.DisconnectGrace = nil
	}
	return g
}

// DecisionSpec is the part of a Rollout spec that approvals cover, without the config body
// (its hash stands for it).
func DecisionSpec(spec *fleetv1alpha1.RolloutSpec) *fleetv1alpha1.RolloutSpec {
	out := spec.DeepCopy()
	out.Config, out.Paused = fleetv1alpha1.RolloutConfig{}, false
	return out
}

// jsonHash is the SHA-256 of v as JSON, in hex: what approvals and seals bind to.
func jsonHash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("a spec always marshals: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
