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

// MaxEarlier bounds the earlier authors kept besides the last one, so that the annotation
// stays small; who is dropped is not forgotten silently (Author.Forgotten).
const MaxEarlier = 31

// Author is who last changed the config (or the policy's spec), and the hash it then had.
type Author struct {
	User string `json:"user"`
	Hash string `json:"hash"`
	// At is when the change was recorded, so that a change of what a Rollout's decision is
	// made of (its AgentGroup, a policy) can be told to come after the Rollout's last approval.
	At time.Time `json:"at,omitzero"`
	// Approved is when a revision of the object last got all the approvals it needed (at least
	// one); changes keep it. Changes of its group or policies since then are unapproved.
	Approved time.Time `json:"approved,omitzero"`
	// Earlier are the other users who changed it before, newest first, each at their last
	// change: since its last revision that had every approval it needed (a Rollout, a policy
	// that requires approvals of its own), or ever (an AgentGroup, a policy that does not:
	// their authors are judged against each Rollout's last approval). Each of them wrote part
	// of what is approved next, so none of them may approve it.
	Earlier []Editor `json:"earlier,omitempty"`
	// Forgotten is the time of the newest change whose author was dropped from Earlier (more
	// than MaxEarlier users): an approval that covers a change after it cannot be told apart
	// from theirs, and is refused.
	Forgotten time.Time `json:"forgotten,omitzero"`
}

// Editor is one user who changed an object, at their last change.
type Editor struct {
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

// Editors are everyone the record names as having changed the object, the last author first.
func (a *Author) Editors() []Editor {
	if a == nil {
		return nil
	}
	return append([]Editor{{User: a.User, At: a.At}}, a.Earlier...)
}

// after is the author who changed the object from a, by user at now: a's editors are kept
// (when keep) as the new author's earlier ones, user's own earlier change folded in.
func (a *Author) after(user, hash string, now time.Time, keep bool) *Author {
	next := &Author{User: user, Hash: hash, At: now}
	if a == nil {
		return next
	}
	next.Approved = a.Approved
	if !keep {
		return next
	}
	next.Forgotten = a.Forgotten
	for _, e := range a.Editors() {
		if e.User == user || slices.ContainsFunc(next.Earlier, func(k Editor) bool { return k.User == e.User }) {
			continue
		}
		if len(next.Earlier) == MaxEarlier {
			if e.At.After(next.Forgotten) {
				next.Forgotten = e.At
			}
			continue
		}
		next.Earlier = append(next.Earlier, e)
	}
	return next
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

// AuthorOf is the user who last changed the object's spec, as status shows it.
func (r Record) AuthorOf(string) string {
	if r.Author != nil {
		return r.Author.User
	}
	return ""
}

// Authors are who may not approve what the object is now: its last author, and the earlier
// ones the record keeps. That holds when the hash moved without a spec change (a Rollout's
// ConfigMap edited, or a policy it falls through to changed): they still cannot approve what
// it now pushes.
func (r Record) Authors() []string {
	var out []string
	for _, e := range r.Author.Editors() {
		out = append(out, e.User)
	}
	return out
}

// settled says whether the object's last revision had every approval reqs ask for, and at
// least one: a change after it has no earlier authors, since what it changes was approved. A
// revision nobody approved (none were asked for) settles nothing: a requirement added later
// still finds its authors.
func (r Record) settled(reqs []Requirement) bool {
	if r.Author == nil {
		return true
	}
	return r.approvedEnough(r.Author.Hash, reqs)
}

// approvedEnough says whether hash has at least one approval that counts, and as many as the
// strictest of reqs asks for.
func (r Record) approvedEnough(hash string, reqs []Requirement) bool {
	need := 1
	if s := Strictest(reqs); s != nil && int(s.Count) > need {
		need = int(s.Count)
	}
	return len(r.ApprovedBy(hash, reqs...)) >= need
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
// of reqs (the rules in force now, not when they approved), its authors excluded.
func (r Record) ApprovedBy(hash string, reqs ...Requirement) []string {
	authors := r.Authors()
	var users []string
	for _, a := range r.Approvals {
		if a.Hash == hash && !slices.Contains(authors, a.User) && !slices.Contains(users, a.User) && eligibleAll(reqs, a.User, a.Groups) == nil {
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

// forgotten is Forgotten of a, which may be nil.
func (a *Author) forgotten() time.Time {
	if a == nil {
		return time.Time{}
	}
	return a.Forgotten
}
