package approval

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// KeyBytes is the size of a seal key.
const KeyBytes = 32

// Key seals the records the approvals webhook writes. Only the manager holds it (a Secret in
// the operator namespace), so a record written any other way, while the webhook was bypassed
// (failurePolicy Ignore, the webhook turned off, its configuration edited), or copied from
// another object, reads as absent: its author and approvals do not count.
type Key []byte

// NewKey returns a random key.
func NewKey() (Key, error) {
	k := make(Key, KeyBytes)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// Subject is what a record is about: the object, and the spec the webhook recorded it for.
type Subject struct {
	Kind, Namespace, Name string
	// UID binds records that hold approvals to the object: approvals are only ever recorded on
	// an update, when the object has its UID (a create's admission request has none yet).
	UID string
	// Spec is the hash of the spec the record is of; a spec changed without the webhook breaks
	// the seal.
	Spec string
}

// RolloutSubject is the subject of a Rollout's record: its whole spec but spec.paused.
func RolloutSubject(ro *fleetv1alpha1.Rollout) Subject {
	spec := ro.Spec.DeepCopy()
	spec.Paused = false
	return Subject{Kind: "Rollout", Namespace: ro.Namespace, Name: ro.Name, UID: string(ro.UID), Spec: jsonHash(spec)}
}

// PolicySubject is the subject of a GatePolicy's record.
func PolicySubject(p *fleetv1alpha1.GatePolicy) Subject {
	return Subject{Kind: "GatePolicy", Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Spec: SpecHash(&p.Spec)}
}

// Seal sets the seal annotation of the record in annotations (as Write left them) for s, or
// removes it when there is no record.
func (k Key) Seal(annotations map[string]string, s Subject) map[string]string {
	author, hasAuthor := annotations[fleetv1alpha1.AnnotationAuthor]
	approvals, hasApprovals := annotations[fleetv1alpha1.AnnotationApprovals]
	if !hasAuthor && !hasApprovals {
		delete(annotations, fleetv1alpha1.AnnotationSeal)
		return annotations
	}
	annotations[fleetv1alpha1.AnnotationSeal] = k.mac(s, author, approvals)
	return annotations
}

// Sealed reports whether annotations hold a record that k sealed for s. No record at all is
// not sealed either: every object the webhook admitted has one (its author).
func (k Key) Sealed(annotations map[string]string, s Subject) bool {
	got, ok := annotations[fleetv1alpha1.AnnotationSeal]
	if !ok || len(k) == 0 {
		return false
	}
	want := k.mac(s, annotations[fleetv1alpha1.AnnotationAuthor], annotations[fleetv1alpha1.AnnotationApprovals])
	return hmac.Equal([]byte(got), []byte(want))
}

// ReadSealed is Read of a record k sealed for s; any other reads as absent, and sealed is
// false.
func (k Key) ReadSealed(annotations map[string]string, s Subject) (r Record, sealed bool) {
	if !k.Sealed(annotations, s) {
		return Record{}, false
	}
	return Read(annotations), true
}

func (k Key) mac(s Subject, author, approvals string) string {
	uid := ""
	if approvals != "" {
		uid = s.UID
	}
	m := hmac.New(sha256.New, k)
	for _, part := range []string{"ampora approval record v1", s.Kind, s.Namespace, s.Name, uid, s.Spec, author, approvals} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	return hex.EncodeToString(m.Sum(nil))
}
