package approval

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	const h1, h2 = "1111111111aaaa", "2222222222bbbb"
	authored := func(user, hash string, approvals ...Approval) Record {
		return Record{Author: &Author{User: user, Hash: hash}, Approvals: approvals}
	}
	by := func(user, hash string) Approval { return Approval{User: user, Hash: hash, At: now} }
	// approvedAt is r with its last approval at t.
	approvedAt := func(r Record, t time.Time) Record { a := *r.Author; a.Approved = t; r.Author = &a; return r }
	tests := []struct {
		name    string
		old     Record
		change  Change
		want    Record
		wantErr string
	}{
		{name: "creation records the author",
			change: Change{User: "alice", Changed: true, Hash: h1},
			want:   authored("alice", h1)},
		{name: "a config change makes a new author and voids approvals of the old config, but keeps when it was last approved",
			old:    approvedAt(authored("alice", h1, by("bob", h1)), now),
			change: Change{User: "carol", Changed: true, Hash: h2},
			want:   approvedAt(authored("carol", h2), now)},
		{name: "another update keeps author and approvals",
			old:    authored("alice", h1, by("bob", h1)),
			change: Change{User: "system:serviceaccount:ampora:manager", Hash: h1},
			want:   authored("alice", h1, by("bob", h1))},
		{name: "a second user approves",
			old:    authored("alice", h1),
			change: Change{User: "bob", Hash: h1, Ask: h1[:10], Now: now},
			want:   approvedAt(authored("alice", h1, by("bob", h1)), now)},
		{name: "approving twice counts once",
			old:    authored("alice", h1, by("bob", h1)),
			change: Change{User: "bob", Hash: h1, Ask: h1, Now: now.Add(time.Minute)},
			want:   authored("alice", h1, by("bob", h1))},
		{name: "the author cannot approve",
			old:     authored("alice", h1),
			change:  Change{User: "alice", Hash: h1, Ask: h1, Kind: "Rollout", Name: "web"},
			wantErr: "alice wrote revision 1111111111 of Rollout web: an approval must come from another user"},
		{name: "an approval of another revision is refused",
			old:     authored("alice", h2),
			change:  Change{User: "bob", Hash: h2, Ask: h1[:10], Kind: "Rollout", Name: "web"},
			wantErr: "Rollout web is at revision 2222222222, not 1111111111: review the current one and approve again"},
		{name: "a revision prefix shorter than 7 is refused",
			old:     authored("alice", h1),
			change:  Change{User: "bob", Hash: h1, Ask: "1111", Kind: "Rollout", Name: "web"},
			wantErr: "not 1111"},
		{name: "changing and approving at once is refused",
			old:     authored("alice", h1),
			change:  Change{User: "bob", Changed: true, Hash: h2, Ask: h2, Kind: "Rollout", Name: "web"},
			wantErr: "cannot approve it"},
		{name: "a hash moved outside the object (ConfigMap, policy): its last author still cannot approve it",
			old:     authored("alice", h1),
			change:  Change{User: "alice", Hash: h2, Ask: h2, Kind: "Rollout", Name: "web", Now: now},
			wantErr: "alice wrote revision 2222222222 of Rollout web"},
		{name: "a hash moved outside the object: another user may approve it",
			old:    authored("alice", h1),
			change: Change{User: "bob", Hash: h2, Ask: h2, Now: now},
			want:   approvedAt(authored("alice", h1, by("bob", h2)), now)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.old, tt.change)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if diff := cmp.Diff(tt.old, got); diff != "" {
					t.Errorf("a refused request changed the record (-old +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordRoundTripAndApprovedBy(t *testing.T) {
	rec := Record{Author: &Author{User: "alice", Hash: "h"}, Approvals: []Approval{
		{User: "bob", Hash: "h"}, {User: "alice", Hash: "h"}, {User: "bob", Hash: "h"}, {User: "carol", Hash: "old"}, {User: "dan", Hash: "h"},
	}}
	ann := rec.Write(map[string]string{"other": "kept"})
	got := Read(ann)
	if diff := cmp.Diff(rec, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if ann["other"] != "kept" {
		t.Errorf("an unrelated annotation was lost")
	}
	if diff := cmp.Diff([]string{"bob", "dan"}, got.ApprovedBy("h")); diff != "" {
		t.Errorf("ApprovedBy (-want +got):\n%s", diff)
	}
	if Read(map[string]string{fleetv1alpha1.AnnotationAuthor: "{", fleetv1alpha1.AnnotationApprovals: "x"}).Author != nil {
		t.Errorf("a malformed author must read as absent")
	}
	if empty := (Record{}).Write(ann); len(empty) != 1 {
		t.Errorf("an empty record leaves its annotations behind: %v", empty)
	}
}

func TestDecideRefusesAnApprovalOfAnotherDecision(t *testing.T) {
	rev, read, now := strings.Repeat("c", 64), strings.Repeat("d", 64), strings.Repeat("e", 64)
	old := Record{Author: &Author{User: "alice", Hash: now}}
	c := Change{User: "bob", Hash: now, Revision: rev, Kind: "Rollout", Name: "web", Now: time.Now()}
	c.Ask = rev[:10] + "@" + read[:12]
	if _, err := Decide(old, c); err == nil || !strings.Contains(err.Error(), "changed since it was read") {
		t.Errorf("an approval of the decision as it was read before a change: %v", err)
	}
	c.Ask = rev[:10] + "@" + now
	if rec, err := Decide(old, c); err != nil || len(rec.ApprovedBy(now)) != 1 {
		t.Errorf("an approval of the decision as it is: %v, %v", rec, err)
	}
	c.Ask = rev[:10]
	if _, err := Decide(old, c); err != nil {
		t.Errorf("an approval that names the revision only: %v", err)
	}
}
