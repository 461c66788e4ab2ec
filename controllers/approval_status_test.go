package controllers

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/gates"
)

func policyWith(name string, req *fleetv1alpha1.ApprovalRequirement) *fleetv1alpha1.GatePolicy {
	return &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)},
		Spec: fleetv1alpha1.GatePolicySpec{RequiredApprovals: req}}
}

func TestApprovalsFor(t *testing.T) {
	var hash = strings.Repeat("ab", 32)
	prod := &fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "production"}}
	group := func(env string) *fleetv1alpha1.AgentGroup {
		return &fleetv1alpha1.AgentGroup{Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": env}}}}
	}
	rec := approval.Record{Author: &approval.Author{User: "alice", Hash: hash}, Approvals: []approval.Approval{
		{User: "bob", Hash: hash}, {User: "alice", Hash: hash}, {User: "carol", Hash: "old"},
	}}
	tests := []struct {
		name     string
		policies []*fleetv1alpha1.GatePolicy
		group    *fleetv1alpha1.AgentGroup
		rec      approval.Record
		want     *fleetv1alpha1.ApprovalStatus
	}{
		{"no policy asks", []*fleetv1alpha1.GatePolicy{policyWith("p", nil)}, group("production"), rec, nil},
		{"a policy asks; the author's own approval and an old one do not count",
			[]*fleetv1alpha1.GatePolicy{policyWith("p", &fleetv1alpha1.ApprovalRequirement{Count: 2})}, group("production"), rec,
			&fleetv1alpha1.ApprovalStatus{Policy: "p", Required: 2, Decision: hash, Author: "alice", ApprovedBy: []string{"bob"}}},
		{"the strictest policy wins",
			[]*fleetv1alpha1.GatePolicy{policyWith("named", &fleetv1alpha1.ApprovalRequirement{Count: 1}), policyWith("default", &fleetv1alpha1.ApprovalRequirement{Count: 3})},
			group("production"), approval.Record{},
			&fleetv1alpha1.ApprovalStatus{Policy: "default", Required: 3, Decision: hash}},
		{"a selector that matches the group's agents asks",
			[]*fleetv1alpha1.GatePolicy{policyWith("p", &fleetv1alpha1.ApprovalRequirement{Count: 1, Selector: prod})}, group("production"), approval.Record{},
			&fleetv1alpha1.ApprovalStatus{Policy: "p", Required: 1, Decision: hash}},
		{"a selector that excludes the group's agents does not",
			[]*fleetv1alpha1.GatePolicy{policyWith("p", &fleetv1alpha1.ApprovalRequirement{Count: 1, Selector: prod})}, group("staging"), approval.Record{}, nil},
		{"the policy in force counts, not a change waiting for approval",
			[]*fleetv1alpha1.GatePolicy{func() *fleetv1alpha1.GatePolicy {
				p := policyWith("p", nil)
				p.Status.ApprovedSpec = &fleetv1alpha1.GatePolicySpec{RequiredApprovals: &fleetv1alpha1.ApprovalRequirement{Count: 1}}
				return p
			}()}, group("production"), approval.Record{},
			&fleetv1alpha1.ApprovalStatus{Policy: "p", Required: 1, Decision: hash}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, approvalsFor(tt.policies, tt.group, tt.rec, hash)); diff != "" {
				t.Errorf("approvalsFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetApproved(t *testing.T) {
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 3}, Status: fleetv1alpha1.RolloutStatus{Revision: "abcdef0123"}}
	setApproved(ro, &fleetv1alpha1.ApprovalStatus{Policy: "prod", Required: 2, Author: "alice", ApprovedBy: []string{"bob"}})
	c := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionApproved)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != fleetv1alpha1.ReasonAwaitingApproval || c.ObservedGeneration != 3 {
		t.Fatalf("condition = %+v", c)
	}
	if want := "revision abcdef0123 has 1 of 2 approvals required by GatePolicy prod (bob); alice wrote it and cannot approve it"; c.Message != want {
		t.Errorf("message = %q, want %q", c.Message, want)
	}
	setApproved(ro, &fleetv1alpha1.ApprovalStatus{Policy: "prod", Required: 2, ApprovedBy: []string{"bob", "carol"}})
	if c := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionApproved); c.Status != metav1.ConditionTrue ||
		c.Message != "revision abcdef0123 approved by bob, carol (2 needed by GatePolicy prod)" {
		t.Errorf("condition = %+v", c)
	}
	setApproved(ro, nil)
	if meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionApproved) != nil {
		t.Error("the condition stays when no policy asks for approvals")
	}
	if got, want := awaitingMessage("web", "abcdef0123", &fleetv1alpha1.ApprovalStatus{Policy: "prod", Required: 1}),
		"waiting for approval: revision abcdef0123 has 0 of 1 approvals required by GatePolicy prod; approve with: kubectl ampora approve web"; got != want {
		t.Errorf("awaitingMessage = %q, want %q", got, want)
	}
}

func TestPolicyInForce(t *testing.T) {
	strict := fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(5))},
		RequiredApprovals: &fleetv1alpha1.ApprovalRequirement{Count: 1}}
	loose := *strict.DeepCopy()
	loose.Gates.MaxFailurePercent = new(int32(50))
	tighter := *strict.DeepCopy()
	tighter.Gates.MaxFailurePercent = new(int32(1))
	unguarded := fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(5))}}
	looseUnguarded := *unguarded.DeepCopy()
	looseUnguarded.Gates.MaxFailurePercent = new(int32(50))
	policy := func(spec fleetv1alpha1.GatePolicySpec, approved *fleetv1alpha1.GatePolicySpec) *fleetv1alpha1.GatePolicy {
		return &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Name: "prod", Generation: 4}, Spec: spec,
			Status: fleetv1alpha1.GatePolicyStatus{ApprovedSpec: approved}}
	}
	looseHash := approval.SpecHash(&loose)
	tests := []struct {
		name        string
		p           *fleetv1alpha1.GatePolicy
		rec         approval.Record
		wantInForce fleetv1alpha1.GatePolicySpec
		wantPending *fleetv1alpha1.PolicyChange
	}{
		{"a new policy is in force at once", policy(strict, nil), approval.Record{}, strict, nil},
		{"a tightening is in force at once", policy(tighter, &strict), approval.Record{}, tighter, nil},
		{"loosening a policy without approvals needs none", policy(looseUnguarded, &unguarded), approval.Record{}, looseUnguarded, nil},
		{"loosening a guarded policy waits", policy(loose, &strict),
			approval.Record{Author: &approval.Author{User: "alice", Hash: looseHash}, Approvals: []approval.Approval{{User: "alice", Hash: looseHash}}},
			strict, &fleetv1alpha1.PolicyChange{Generation: 4, Loosens: []string{"maxFailurePercent 5 → 50"},
				Approvals: fleetv1alpha1.ApprovalStatus{Policy: "prod", Required: 1, Author: "alice"}}},
		{"an approval of another spec does not count", policy(loose, &strict),
			approval.Record{Approvals: []approval.Approval{{User: "bob", Hash: approval.SpecHash(&strict)}}},
			strict, &fleetv1alpha1.PolicyChange{Generation: 4, Loosens: []string{"maxFailurePercent 5 → 50"},
				Approvals: fleetv1alpha1.ApprovalStatus{Policy: "prod", Required: 1}}},
		{"an approval by another user puts it in force", policy(loose, &strict),
			approval.Record{Author: &approval.Author{User: "alice", Hash: looseHash}, Approvals: []approval.Approval{{User: "bob", Hash: looseHash}}},
			loose, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pending := policyInForce(tt.p, tt.rec, gates.Defaults())
			if diff := cmp.Diff(tt.wantInForce, *got); diff != "" {
				t.Errorf("in force (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPending, pending); diff != "" {
				t.Errorf("pending (-want +got):\n%s", diff)
			}
		})
	}
	msg := pendingMessage("prod", &fleetv1alpha1.PolicyChange{Generation: 4, Loosens: []string{"maxFailurePercent 5 → 50", "push policy freeze removed"},
		Approvals: fleetv1alpha1.ApprovalStatus{Policy: "prod", Required: 1, Author: "alice"}})
	if want := "generation 4 loosens the policy (maxFailurePercent 5 → 50; push policy freeze removed) and waits for 1 of 1 approvals by users other than alice; the approved spec stays in force until then; approve with: kubectl ampora approve gatepolicy/prod"; msg != want {
		t.Errorf("pendingMessage = %q\nwant %q", msg, want)
	}
}
