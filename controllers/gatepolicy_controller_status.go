package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
)

// policyInForce decides which spec of a GatePolicy is in force: spec itself, unless the change
// from the approved spec loosens a policy that requires approvals and does not have them yet;
// then the approved spec stays and the change waits, described by the returned PolicyChange.
// fallback holds the thresholds that apply where the policy sets none.
func policyInForce(p *fleetv1alpha1.GatePolicy, rec approval.Record, fallback fleetv1alpha1.GateThresholds) (*fleetv1alpha1.GatePolicySpec, *fleetv1alpha1.PolicyChange) {
	inForce := p.Status.ApprovedSpec
	if inForce == nil || equality.Semantic.DeepEqual(*inForce, p.Spec) {
		return p.Spec.DeepCopy(), nil
	}
	req := inForce.RequiredApprovals
	loosens := approval.Loosens(inForce, &p.Spec, fallback)
	if req == nil || len(loosens) == 0 {
		return p.Spec.DeepCopy(), nil
	}
	hash := approval.SpecHash(&p.Spec)
	// Who may approve is decided by the rule in force, not by the change that waits.
	by := rec.ApprovedBy(hash, approval.PolicyRequirements(p)...)
	if int32(len(by)) >= req.Count {
		return p.Spec.DeepCopy(), nil
	}
	if len(loosens) > 16 {
		loosens = loosens[:16]
	}
	change := &fleetv1alpha1.PolicyChange{Generation: p.Generation, Loosens: loosens,
		Approvals: fleetv1alpha1.ApprovalStatus{Policy: p.Name, Required: req.Count, Author: rec.AuthorOf(hash), ApprovedBy: by}}
	boundApprovals(&change.Approvals)
	return inForce, change
}

// pendingMessage explains a change that waits for approval.
func pendingMessage(name string, c *fleetv1alpha1.PolicyChange) string {
	a := c.Approvals
	msg := fmt.Sprintf("generation %d loosens the policy (%s) and waits for %d of %d approvals",
		c.Generation, strings.Join(c.Loosens, "; "), a.Required-int32(len(a.ApprovedBy)), a.Required)
	if a.Author != "" {
		msg += " by users other than " + a.Author
	}
	return msg + "; the approved spec stays in force until then; approve with: kubectl ampora approve gatepolicy/" + name
}
