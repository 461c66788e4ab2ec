package approval

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestContributors(t *testing.T) {
	key, _ := NewKey()
	rolloutChanged := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	before, after := rolloutChanged.Add(-time.Hour), rolloutChanged.Add(time.Minute)
	group := func(user string, at time.Time, sealed bool) *fleetv1alpha1.AgentGroup {
		g := &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "gateways", UID: "g1"}}
		g.Annotations = Record{Author: &Author{User: user, At: at}}.Write(nil)
		if sealed {
			g.Annotations = key.Seal(g.Annotations, GroupSubject(g))
		}
		return g
	}
	policy := func(name, user string, at time.Time, approvals bool) *fleetv1alpha1.GatePolicy {
		p := &fleetv1alpha1.GatePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: name, UID: types.UID("p-" + name)}}
		if approvals {
			p.Spec.RequiredApprovals = &fleetv1alpha1.ApprovalRequirement{Count: 1}
		}
		p.Annotations = key.Seal(Record{Author: &Author{User: user, At: at}}.Write(nil), PolicySubject(p))
		return p
	}
	for _, tc := range []struct {
		name  string
		since time.Time
		group *fleetv1alpha1.AgentGroup
		ps    Policies
		want  []Contributor
	}{
		{"the group changed after the rollout", rolloutChanged, group("mallory", after, true), Policies{},
			[]Contributor{{User: "mallory", Kind: "AgentGroup", Name: "gateways"}}},
		{"the group changed before the rollout", rolloutChanged, group("alice", before, true), Policies{}, nil},
		{"a group record not sealed", rolloutChanged, group("mallory", after, false), Policies{}, nil},
		{"the rollout's time unknown: any dated change counts", time.Time{}, group("alice", before, true), Policies{},
			[]Contributor{{User: "alice", Kind: "AgentGroup", Name: "gateways"}}},
		{"a fall-through policy without approvals, changed after", rolloutChanged, nil,
			Policies{Named: policy("production", "carol", after, true), NSDefault: policy("default", "mallory", after, false)},
			[]Contributor{{User: "mallory", Kind: "GatePolicy", Name: "payments/default"}}},
		{"a policy without approvals, changed before", rolloutChanged, nil, Policies{NSDefault: policy("default", "mallory", before, false)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Contributors(key, tc.since, tc.group, tc.ps)); diff != "" {
				t.Errorf("contributors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideRefusesContributors(t *testing.T) {
	h := strings.Repeat("ab", 32)
	old := Record{Author: &Author{User: "alice", Hash: h}}
	c := Change{User: "mallory", Hash: h, Ask: h, Kind: "Rollout", Name: "web",
		Contributors: []Contributor{{User: "mallory", Kind: "AgentGroup", Name: "gateways"}}}
	if _, err := Decide(old, c); err == nil || !strings.Contains(err.Error(), "mallory last changed AgentGroup gateways") {
		t.Errorf("a contributor's approval: %v", err)
	}
	c.User = "bob"
	if rec, err := Decide(old, c); err != nil || len(rec.Approvals) != 1 {
		t.Errorf("another user's approval: %v, %+v", err, rec)
	}
}

func TestSince(t *testing.T) {
	created := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
	if got := Since(ro, Record{}); !got.Equal(created) {
		t.Errorf("never approved: since %v, want the creation %v", got, created)
	}
	approved := created.Add(time.Hour)
	// A later change of the Rollout (At) does not move it: only an approval does.
	rec := Record{Author: &Author{User: "argocd", At: approved.Add(time.Hour), Approved: approved}}
	if got := Since(ro, rec); !got.Equal(approved) {
		t.Errorf("approved, then changed: since %v, want the approval %v", got, approved)
	}
}
