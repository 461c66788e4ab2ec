package approval

import (
	"testing"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestSeal(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKey()
	subject := Subject{Kind: "Rollout", Namespace: "payments", Name: "otel", UID: "u1", Spec: "s1"}
	authorOnly := Record{Author: &Author{User: "alice", Hash: "h"}}
	approved := Record{Author: &Author{User: "alice", Hash: "h"}, Approvals: []Approval{{User: "bob", Hash: "h"}}}
	sealed := func(r Record, s Subject) map[string]string { return key.Seal(r.Write(nil), s) }
	with := func(s Subject, f func(*Subject)) Subject { f(&s); return s }

	for _, tc := range []struct {
		name        string
		annotations map[string]string
		subject     Subject
		key         Key
		want        bool
	}{
		{"what the webhook sealed", sealed(approved, subject), subject, key, true},
		{"written by hand", approved.Write(nil), subject, key, false},
		{"sealed with another key", other.Seal(approved.Write(nil), subject), subject, key, false},
		{"no key", sealed(approved, subject), subject, nil, false},
		{"no record", map[string]string{}, subject, key, false},
		{"copied to another object", sealed(approved, subject), with(subject, func(s *Subject) { s.Name = "other" }), key, false},
		{"copied to another namespace", sealed(approved, subject), with(subject, func(s *Subject) { s.Namespace = "dev" }), key, false},
		{"copied to a recreated object of the same name", sealed(approved, subject), with(subject, func(s *Subject) { s.UID = "u2" }), key, false},
		{"another kind", sealed(approved, subject), with(subject, func(s *Subject) { s.Kind = "GatePolicy" }), key, false},
		{"the spec changed without the webhook", sealed(approved, subject), with(subject, func(s *Subject) { s.Spec = "s2" }), key, false},
		{"an author sealed at create, before the object had a UID", sealed(authorOnly, with(subject, func(s *Subject) { s.UID = "" })), subject, key, true},
		{"an approval added by hand", func() map[string]string {
			a := sealed(authorOnly, subject)
			a[fleetv1alpha1.AnnotationApprovals] = `[{"user":"bob","hash":"h"}]`
			return a
		}(), subject, key, false},
		{"the author rewritten by hand", func() map[string]string {
			a := sealed(approved, subject)
			a[fleetv1alpha1.AnnotationAuthor] = `{"user":"mallory","hash":"h"}`
			return a
		}(), subject, key, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, ok := tc.key.ReadSealed(tc.annotations, tc.subject)
			if ok != tc.want {
				t.Fatalf("sealed = %v, want %v", ok, tc.want)
			}
			if !ok && (rec.Author != nil || rec.Approvals != nil) {
				t.Errorf("an unsealed record was read: %+v", rec)
			}
		})
	}
	if got := key.Seal(Record{}.Write(map[string]string{fleetv1alpha1.AnnotationSeal: "x"}), subject); len(got) != 0 {
		t.Errorf("an empty record keeps a seal: %v", got)
	}
}

func TestSubjectsFollowTheSpec(t *testing.T) {
	ro := &fleetv1alpha1.Rollout{}
	ro.Namespace, ro.Name, ro.UID = "payments", "otel", "u1"
	base := RolloutSubject(ro)
	ro.Spec.Paused = true
	if RolloutSubject(ro) != base {
		t.Error("pausing changed the Rollout's subject")
	}
	ro.Spec.AgentGroup = "edge"
	if RolloutSubject(ro).Spec == base.Spec {
		t.Error("a spec change left the Rollout's subject as it was")
	}
	p := &fleetv1alpha1.GatePolicy{}
	before := PolicySubject(p)
	p.Spec.RequiredApprovals = &fleetv1alpha1.ApprovalRequirement{Count: 1}
	if PolicySubject(p).Spec == before.Spec {
		t.Error("a spec change left the GatePolicy's subject as it was")
	}
}
