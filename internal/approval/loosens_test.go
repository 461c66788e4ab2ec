package approval

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestLoosens(t *testing.T) {
	fallback := fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(10)), BakeTime: &metav1.Duration{}, DisconnectGrace: &metav1.Duration{Duration: 30 * time.Second}}
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	freeze := fleetv1alpha1.PushPolicy{Name: "freeze", Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "prod"}}, Deny: fleetv1alpha1.DenyAlways}
	base := func() *fleetv1alpha1.GatePolicySpec {
		return &fleetv1alpha1.GatePolicySpec{
			Gates:             fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(5)), BakeTime: dur(time.Minute), OnFailure: fleetv1alpha1.GateFailureRollback},
			PushPolicies:      []fleetv1alpha1.PushPolicy{freeze},
			RequiredApprovals: &fleetv1alpha1.ApprovalRequirement{Count: 2},
		}
	}
	tests := []struct {
		name   string
		change func(*fleetv1alpha1.GatePolicySpec)
		want   []string
	}{
		{"no change", func(*fleetv1alpha1.GatePolicySpec) {}, nil},
		{"a threshold lowered tightens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.MaxFailurePercent = new(int32(1)) }, nil},
		{"a threshold raised loosens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.MaxFailurePercent = new(int32(20)) },
			[]string{"maxFailurePercent 5 → 20"}},
		{"a threshold unset loosens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.MaxFailurePercent = nil },
			[]string{"maxFailurePercent 5 → unset"}},
		{"a new absolute cap tightens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.MaxFailures = new(int32(3)) }, nil},
		{"a shorter bake loosens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.BakeTime = dur(10 * time.Second) },
			[]string{"bakeTime 1m0s → 10s"}},
		{"a longer bake tightens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.BakeTime = dur(time.Hour) }, nil},
		{"a longer disconnect grace loosens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.DisconnectGrace = dur(5 * time.Minute) },
			[]string{"disconnectGrace 30s → 5m0s"}},
		{"a shorter disconnect grace tightens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.DisconnectGrace = dur(time.Second) }, nil},
		{"rollback to pause loosens", func(s *fleetv1alpha1.GatePolicySpec) { s.Gates.OnFailure = fleetv1alpha1.GateFailurePause },
			[]string{"onFailure Rollback → Pause"}},
		{"a push policy removed loosens", func(s *fleetv1alpha1.GatePolicySpec) { s.PushPolicies = nil },
			[]string{"push policy freeze removed"}},
		{"a push policy changed loosens", func(s *fleetv1alpha1.GatePolicySpec) { s.PushPolicies[0].Deny = fleetv1alpha1.DenyInsideWindows },
			[]string{"push policy freeze changed"}},
		{"a push policy added tightens", func(s *fleetv1alpha1.GatePolicySpec) {
			s.PushPolicies = append(s.PushPolicies, fleetv1alpha1.PushPolicy{Name: "more", Deny: fleetv1alpha1.DenyAlways})
		}, nil},
		{"fewer approvals loosen", func(s *fleetv1alpha1.GatePolicySpec) { s.RequiredApprovals.Count = 1 },
			[]string{"requiredApprovals.count 2 → 1"}},
		{"approvals removed loosen", func(s *fleetv1alpha1.GatePolicySpec) { s.RequiredApprovals = nil },
			[]string{"requiredApprovals removed"}},
		{"approvals narrowed by a selector loosen", func(s *fleetv1alpha1.GatePolicySpec) {
			s.RequiredApprovals.Selector = &fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "prod"}}
		}, []string{"requiredApprovals.selector changed"}},
		{"ServiceAccounts allowed to approve loosens", func(s *fleetv1alpha1.GatePolicySpec) { s.RequiredApprovals.AllowServiceAccounts = true },
			[]string{"requiredApprovals.allowServiceAccounts false → true"}},
		{"approver groups named where any user could approve tightens", func(s *fleetv1alpha1.GatePolicySpec) {
			s.RequiredApprovals.ApproverGroups = []string{"sre"}
		}, nil},
		{"approver groups that every ServiceAccount of a namespace is in loosen: ServiceAccounts were refused", func(s *fleetv1alpha1.GatePolicySpec) {
			s.RequiredApprovals.ApproverGroups = []string{"sre", "system:serviceaccounts:payments"}
		}, []string{"requiredApprovals.approverGroups admit ServiceAccounts"}},
		{"system:authenticated as approver group loosens", func(s *fleetv1alpha1.GatePolicySpec) {
			s.RequiredApprovals.ApproverGroups = []string{"system:authenticated"}
		}, []string{"requiredApprovals.approverGroups admit ServiceAccounts"}},
		{"several at once", func(s *fleetv1alpha1.GatePolicySpec) {
			s.Gates.MaxFailurePercent, s.RequiredApprovals = new(int32(50)), nil
		}, []string{"maxFailurePercent 5 → 50", "requiredApprovals removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base()
			tt.change(next)
			if diff := cmp.Diff(tt.want, Loosens(base(), next, fallback)); diff != "" {
				t.Errorf("Loosens (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("approver groups widen when one is added or all are removed, narrow when one is removed", func(t *testing.T) {
		groups := func(g ...string) *fleetv1alpha1.GatePolicySpec {
			return &fleetv1alpha1.GatePolicySpec{RequiredApprovals: &fleetv1alpha1.ApprovalRequirement{Count: 1, ApproverGroups: g}}
		}
		widened := []string{"requiredApprovals.approverGroups widened"}
		if got := Loosens(groups("sre"), groups("sre", "dev"), fallback); !cmp.Equal(got, widened) {
			t.Errorf("adding a group: %q", got)
		}
		if got := Loosens(groups("sre"), groups(), fallback); !cmp.Equal(got, widened) {
			t.Errorf("removing every group: %q", got)
		}
		if got := Loosens(groups("sre", "ops"), groups("sre"), fallback); got != nil {
			t.Errorf("removing one group: %q", got)
		}
	})

	t.Run("a threshold set where none was is compared with the fallback", func(t *testing.T) {
		old := &fleetv1alpha1.GatePolicySpec{}
		if got := Loosens(old, &fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(30))}}, fallback); len(got) != 1 || got[0] != "maxFailurePercent 10 → 30" {
			t.Errorf("got %q", got)
		}
		if got := Loosens(old, &fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(5))}}, fallback); got != nil {
			t.Errorf("got %q", got)
		}
	})
}

func TestSpecHashFollowsTheSpec(t *testing.T) {
	a := &fleetv1alpha1.GatePolicySpec{Gates: fleetv1alpha1.GateThresholds{MaxFailurePercent: new(int32(5))}}
	b := a.DeepCopy()
	if SpecHash(a) != SpecHash(b) {
		t.Fatal("equal specs hash differently")
	}
	b.Gates.MaxFailurePercent = new(int32(6))
	if SpecHash(a) == SpecHash(b) {
		t.Fatal("different specs hash alike")
	}
}
