// Package approval holds the four-eyes rules: what the approvals webhook records on a Rollout
// or GatePolicy, which approvals count, and whether a change loosens a GatePolicy.
package approval

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// MaxApprovals bounds the approvals kept for one hash, so that the annotation stays small.
const MaxApprovals = 10

// Author is who last changed the config (or the policy's spec), and the hash it then had.
type Author struct {
	User string `json:"user"`
	Hash string `json:"hash"`
	// At is when the change was recorded, so that a change of what a Rollout's decision is
	// made of (its AgentGroup, a policy) can be told to come after the Rollout's last approval.
	At time.Time `json:"at,omitzero"`
	// Approved is when the object last got an approval, of any hash; changes keep it.
	Approved time.Time `json:"approved,omitzero"`
}

// Approval is one user's approval of one hash.
type Approval struct {
	User string `json:"user"`
	// Groups are the user's groups when they approved, as Kubernetes authenticated them, for
	// policies that name approver groups.
	Groups []string  `json:"groups,omitempty"`
	Hash   string    `json:"hash"`
	At     time.Time `json:"at"`
}

// Record is what the webhook keeps in an object's annotations.
type Record struct {
	Author    *Author
	Approvals []Approval
}

// Read decodes the record from annotations; a malformed value reads as absent, since only the
// webhook writes these annotations and it never writes one malformed.
func Read(annotations map[string]string) Record {
	var r Record
	if v, ok := annotations[fleetv1alpha1.AnnotationAuthor]; ok {
		var a Author
		if json.Unmarshal([]byte(v), &a) == nil && a.User != "" {
			r.Author = &a
		}
	}
	if v, ok := annotations[fleetv1alpha1.AnnotationApprovals]; ok {
		_ = json.Unmarshal([]byte(v), &r.Approvals)
	}
	return r
}

// Write puts the record into annotations, removing what is empty, and returns them.
func (r Record) Write(annotations map[string]string) map[string]string {
	if annotations == nil {
		annotations = map[string]string{}
	}
	delete(annotations, fleetv1alpha1.AnnotationAuthor)
	delete(annotations, fleetv1alpha1.AnnotationApprovals)
	if r.Author != nil {
		b, _ := json.Marshal(r.Author)
		annotations[fleetv1alpha1.AnnotationAuthor] = string(b)
	}
	if len(r.Approvals) > 0 {
		b, _ := json.Marshal(r.Approvals)
		annotations[fleetv1alpha1.AnnotationApprovals] = string(b)
	}
	return annotations
}

// AuthorOf is who may not approve hash: the user who last changed the object's spec. That
// holds when the hash moved without a spec change (a Rollout's ConfigMap edited, or a policy
// it falls through to changed): its last author still cannot approve what it now pushes.
func (r Record) AuthorOf(string) string {
	if r.Author != nil {
		return r.Author.User
	}
	return ""
}

// ApprovedHash is the hash the recorded approvals are bound to: the webhook keeps only those
// of the current one.
func (r Record) ApprovedHash() string {
	if len(r.Approvals) == 0 {
		return ""
	}
	return r.Approvals[len(r.Approvals)-1].Hash
}

// ApprovedBy lists, in order, the distinct users who approved hash and may approve under each
// of reqs (the rules in force now, not when they approved), its author excluded.
func (r Record) ApprovedBy(hash string, reqs ...Requirement) []string {
	author := r.AuthorOf(hash)
	var users []string
	for _, a := range r.Approvals {
		if a.Hash == hash && a.User != author && !slices.Contains(users, a.User) && eligibleAll(reqs, a.User, a.Groups) == nil {
			users = append(users, a.User)
		}
	}
	return users
}

// Names says whether ref, a full hash or a revision (a prefix of at least 7 hex digits),
// names hash.
func Names(ref, hash string) bool {
	ref = strings.ToLower(strings.TrimSpace(ref))
	return hash != "" && len(ref) >= 7 && strings.HasPrefix(hash, ref)
}

// Short is the revision form of a hash, as status and kubectl show it.
func Short(hash string) string {
	if len(hash) > 10 {
		return hash[:10]
	}
	return hash
}

// SpecHash is the hash a GatePolicy's approvals are bound to: SHA-256 of its spec as JSON.
func SpecHash(spec *fleetv1alpha1.GatePolicySpec) string { return jsonHash(spec) }
