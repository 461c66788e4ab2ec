package approval

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestEligible(t *testing.T) {
	const sa = "system:serviceaccount:team:ci"
	req := func(r fleetv1alpha1.ApprovalRequirement) Requirement {
		r.Count = 1
		return Requirement{Policy: "production", ApprovalRequirement: &r}
	}
	tests := []struct {
		name    string
		req     Requirement
		user    string
		groups  []string
		wantErr string
	}{
		{"a user, no groups named", req(fleetv1alpha1.ApprovalRequirement{}), "bob", nil, ""},
		{"a ServiceAccount, not allowed", req(fleetv1alpha1.ApprovalRequirement{}), sa, []string{"system:serviceaccounts"}, "takes no approvals from ServiceAccounts"},
		{"a ServiceAccount, allowed", req(fleetv1alpha1.ApprovalRequirement{AllowServiceAccounts: true}), sa, nil, ""},
		{"a member of an approver group", req(fleetv1alpha1.ApprovalRequirement{ApproverGroups: []string{"sre"}}), "carol", []string{"dev", "sre"}, ""},
		{"not a member", req(fleetv1alpha1.ApprovalRequirement{ApproverGroups: []string{"sre"}}), "bob", []string{"dev"}, "bob is in none of them"},
		{"a ServiceAccount in a named group", req(fleetv1alpha1.ApprovalRequirement{ApproverGroups: []string{"system:serviceaccounts:team"}}), sa, []string{"system:serviceaccounts:team"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Eligible(tt.user, tt.groups)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Eligible(%s) = %v, want %q", tt.user, err, tt.wantErr)
			}
		})
	}
}

func TestApprovedByAppliesTheRulesInForce(t *testing.T) {
	sre := Requirement{Policy: "p", ApprovalRequirement: &fleetv1alpha1.ApprovalRequirement{Count: 1, ApproverGroups: []string{"sre"}}}
	rec := Record{Approvals: []Approval{
		{User: "bob", Hash: "h"},
		{User: "carol", Groups: []string{"sre"}, Hash: "h"},
		{User: "system:serviceaccount:ns:ci", Hash: "h"},
	}}
	if got := rec.ApprovedBy("h", sre); strings.Join(got, ",") != "carol" {
		t.Errorf("with approver groups: %v", got)
	}
	open := Requirement{Policy: "p", ApprovalRequirement: &fleetv1alpha1.ApprovalRequirement{Count: 1}}
	if got := rec.ApprovedBy("h", open); strings.Join(got, ",") != "bob,carol" {
		t.Errorf("without: %v", got)
	}
}

func TestRolloutDigest(t *testing.T) {
	one, two := fleetv1alpha1.FromInt(1), fleetv1alpha1.FromInt(2)
	body := "receivers: {}"
	base := fleetv1alpha1.RolloutSpec{AgentGroup: "g", Config: fleetv1alpha1.RolloutConfig{Inline: &body}, Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &one}}
	d := RolloutDigest(&base, "h", Policies{}, nil)
	// The digest of this spec before disconnectGrace existed: an upgrade keeps approvals.
	if want := "fb5e9f381edeefcf458252187ffc60d16c7174a5cea7e89d671e35f9b9e8adbf"; d != want {
		t.Errorf("the digest of an unchanged spec moved across releases: %s, was %s", d, want)
	}
	longer := base.DeepCopy()
	longer.Gates = &fleetv1alpha1.GateThresholds{DisconnectGrace: &metav1.Duration{Duration: time.Hour}}
	if RolloutDigest(longer, "h", Policies{}, nil) == d {
		t.Error("a longer disconnect grace kept the digest")
	}
	same := base.DeepCopy()
	same.Paused = true
	if RolloutDigest(same, "h", Policies{}, nil) != d {
		t.Error("pausing changed the digest")
	}
	for name, mutate := range map[string]func(*fleetv1alpha1.RolloutSpec){
		"strategy": func(s *fleetv1alpha1.RolloutSpec) { s.Strategy.BatchSize = &two },
		"gates": func(s *fleetv1alpha1.RolloutSpec) {
			s.Gates = &fleetv1alpha1.GateThresholds{MaxFailures: new(int32(100))}
		},
		"policy":        func(s *fleetv1alpha1.RolloutSpec) { s.GatePolicyRef = &fleetv1alpha1.LocalObjectReference{Name: "lax"} },
		"group":         func(s *fleetv1alpha1.RolloutSpec) { s.AgentGroup = "other" },
		"apply timeout": func(s *fleetv1alpha1.RolloutSpec) { s.ApplyTimeout = &metav1.Duration{Duration: time.Second} },
	} {
		s := base.DeepCopy()
		mutate(s)
		if RolloutDigest(s, "h", Policies{}, nil) == d {
			t.Errorf("a change of %s kept the digest", name)
		}
	}
	// A policy the rollout falls through to, loosened or with a push policy removed, is a new
	// decision too.
	nsDefault := &fleetv1alpha1.GatePolicy{Spec: fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{BakeTime: &metav1.Duration{Duration: time.Minute}},
		PushPolicies: []fleetv1alpha1.PushPolicy{{Name: "freeze", Deny: fleetv1alpha1.DenyAlways}}}}
	withDefault := RolloutDigest(&base, "h", Policies{NSDefault: nsDefault}, nil)
	if withDefault == d {
		t.Error("a namespace default's bake time kept the digest")
	}
	nsDefault.Spec.PushPolicies = nil
	if RolloutDigest(&base, "h", Policies{NSDefault: nsDefault}, nil) == withDefault {
		t.Error("removing a push policy kept the digest")
	}
	g := &fleetv1alpha1.AgentGroup{Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "staging"}}}}
	staging := RolloutDigest(&base, "h", Policies{}, g)
	g.Spec.Selector.MatchAttributes["env"] = "production"
	if RolloutDigest(&base, "h", Policies{}, g) == staging {
		t.Error("a change of the group's selector kept the digest")
	}
	if RolloutDigest(&base, "other", Policies{}, nil) == d {
		t.Error("a change of config kept the digest")
	}
}
