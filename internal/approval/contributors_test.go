package approval

import (
	"fmt"
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
	if _, err := Decide(old, c); err == nil || !strings.Contains(err.Error(), "mallory changed AgentGroup gateways") {
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

func TestContributorsNobodyCanName(t *testing.T) {
	key, _ := NewKey()
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	after := since.Add(time.Minute)
	for _, tc := range []struct {
		name       string
		generation int64
		created    time.Time
		rec        *Record // sealed; nil: no record at all
		want       []Contributor
	}{
		{"never changed, no record (made before the webhook)", 1, since.Add(-time.Hour), nil, nil},
		{"changed since its creation without the webhook", 3, since.Add(-time.Hour), nil,
			[]Contributor{{Kind: "AgentGroup", Name: "gateways", Why: "it was changed while the approvals webhook was bypassed (its record is missing or does not match its spec)"}}},
		{"created after the rollout's approval without the webhook", 1, after, nil,
			[]Contributor{{Kind: "AgentGroup", Name: "gateways", Why: "it was changed while the approvals webhook was bypassed (its record is missing or does not match its spec)"}}},
		{"each author since, not only the last", 4, since.Add(-time.Hour),
			&Record{Author: &Author{User: "alice", At: after.Add(time.Minute), Earlier: []Editor{{User: "dave", At: after}, {User: "erin", At: since.Add(-time.Minute)}}}},
			[]Contributor{{User: "alice", Kind: "AgentGroup", Name: "gateways"}, {User: "dave", Kind: "AgentGroup", Name: "gateways"}}},
		{"an author dropped after since", 40, since.Add(-time.Hour),
			&Record{Author: &Author{User: "alice", At: after.Add(time.Minute), Forgotten: after}},
			[]Contributor{{Kind: "AgentGroup", Name: "gateways", Why: "more than 32 users changed it, and who all of them were is no longer recorded"},
				{User: "alice", Kind: "AgentGroup", Name: "gateways"}}},
		{"an author dropped before since", 40, since.Add(-time.Hour),
			&Record{Author: &Author{User: "alice", At: after, Forgotten: since.Add(-time.Minute)}},
			[]Contributor{{User: "alice", Kind: "AgentGroup", Name: "gateways"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "gateways", UID: "g1",
				Generation: tc.generation, CreationTimestamp: metav1.NewTime(tc.created)}}
			if tc.rec != nil {
				g.Annotations = key.Seal(tc.rec.Write(nil), GroupSubject(g))
			}
			got := Contributors(key, since, g, Policies{})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("contributors (-want +got):\n%s", diff)
			}
			if tc.want != nil && tc.want[0].User == "" {
				err := refuseContributor(got, "bob", "Rollout", "web")
				if err == nil || !strings.Contains(err.Error(), "nothing records who did") {
					t.Errorf("bob's approval: %v", err)
				}
			}
		})
	}
}

func TestDecideKeepsEarlierAuthors(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	one := []Requirement{{Policy: "production", ApprovalRequirement: &fleetv1alpha1.ApprovalRequirement{Count: 1}}}
	step := func(t *testing.T, rec Record, c Change) Record {
		t.Helper()
		now = now.Add(time.Minute)
		c.Now, c.Kind, c.Name = now, "Rollout", "web"
		if c.Requirements == nil {
			c.Requirements = one
		}
		next, err := Decide(rec, c)
		if err != nil {
			t.Fatalf("%s: %v", c.User, err)
		}
		return next
	}
	refused := func(t *testing.T, rec Record, user, hash, want string) {
		t.Helper()
		_, err := Decide(rec, Change{User: user, Hash: hash, Ask: hash[:7], Requirements: one, Now: now, Kind: "Rollout", Name: "web"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s's approval: got %v, want %q", user, err, want)
		}
	}
	h1, h2, h3 := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)

	var rec Record
	rec = step(t, rec, Change{User: "alice", Changed: true, Hash: h1})
	rec = step(t, rec, Change{User: "mallory", Changed: true, Hash: h2})
	rec = step(t, rec, Change{User: "alice", Changed: true, Hash: h2})
	if diff := cmp.Diff([]string{"alice", "mallory"}, rec.Authors()); diff != "" {
		t.Fatalf("authors (-want +got):\n%s", diff)
	}
	refused(t, rec, "mallory", h2, "mallory changed Rollout web since its last approved revision")
	if by := (Record{Author: rec.Author, Approvals: []Approval{{User: "mallory", Hash: h2}, {User: "bob", Hash: h2}}}).ApprovedBy(h2); !cmp.Equal(by, []string{"bob"}) {
		t.Errorf("approved by %v, want only bob: mallory's approval does not count", by)
	}

	rec = step(t, rec, Change{User: "bob", Hash: h2, Ask: h2[:7]})
	rec = step(t, rec, Change{User: "carol", Changed: true, Hash: h3})
	if diff := cmp.Diff([]string{"carol"}, rec.Authors()); diff != "" {
		t.Errorf("after an approved revision, authors (-want +got):\n%s", diff)
	}

	t.Run("a revision short of its approvals keeps its authors", func(t *testing.T) {
		two := []Requirement{{Policy: "production", ApprovalRequirement: &fleetv1alpha1.ApprovalRequirement{Count: 2}}}
		r := step(t, Record{}, Change{User: "alice", Changed: true, Hash: h1, Requirements: two})
		r = step(t, r, Change{User: "bob", Hash: h1, Ask: h1[:7], Requirements: two})
		r = step(t, r, Change{User: "mallory", Changed: true, Hash: h2, Requirements: two})
		if diff := cmp.Diff([]string{"mallory", "alice"}, r.Authors()); diff != "" {
			t.Errorf("authors (-want +got):\n%s", diff)
		}
	})

	t.Run("a revision nobody approved settles nothing, though no approval was asked for", func(t *testing.T) {
		none := []Requirement{}
		r := step(t, Record{}, Change{User: "mallory", Changed: true, Hash: h1, Requirements: none})
		r = step(t, r, Change{User: "carol", Changed: true, Hash: h2, Requirements: none})
		if diff := cmp.Diff([]string{"carol", "mallory"}, r.Authors()); diff != "" {
			t.Errorf("authors (-want +got):\n%s", diff)
		}
	})

	t.Run("only the approval that completes the count dates the last approval", func(t *testing.T) {
		two := []Requirement{{Policy: "production", ApprovalRequirement: &fleetv1alpha1.ApprovalRequirement{Count: 2}}}
		r := step(t, Record{}, Change{User: "alice", Changed: true, Hash: h1, Requirements: two})
		r = step(t, r, Change{User: "bob", Hash: h1, Ask: h1[:7], Requirements: two})
		if !r.Author.Approved.IsZero() {
			t.Errorf("the first of two approvals dated the last approval: %v", r.Author.Approved)
		}
		r = step(t, r, Change{User: "carol", Hash: h1, Ask: h1[:7], Requirements: two})
		if !r.Author.Approved.Equal(now) {
			t.Errorf("the second of two approvals: approved %v, want %v", r.Author.Approved, now)
		}
	})

	t.Run("objects nothing approves keep every author; beyond the bound, the drop is recorded", func(t *testing.T) {
		var r Record
		for i := range MaxEarlier + 3 {
			r = step(t, r, Change{User: fmt.Sprintf("user-%02d", i), Changed: true, Hash: h1, KeepAuthors: true, Requirements: []Requirement{}})
		}
		if n := len(r.Author.Earlier); n != MaxEarlier {
			t.Errorf("kept %d earlier authors, want %d", n, MaxEarlier)
		}
		if want := r.Author.At.Add(-time.Duration(MaxEarlier+1) * time.Minute); !r.Author.Forgotten.Equal(want) {
			t.Errorf("forgotten at %v, want %v (user-01's change)", r.Author.Forgotten, want)
		}
		refused(t, r, "nobody-else", h1, "no longer recorded")
	})
}
