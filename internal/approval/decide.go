package approval

import (
	"fmt"
	"slices"
	"time"
)

// Change is one admission request on a Rollout or GatePolicy, as the webhook sees it.
type Change struct {
	// User is the user Kubernetes authenticated for the request.
	User string
	// Changed is true when the request creates the object or changes its config (spec).
	Changed bool
	// Groups are the user's groups, as Kubernetes authenticated them.
	Groups []string
	// Hash is what approvals bind to after the request: a Rollout's digest (RolloutDigest),
	// a GatePolicy's spec hash.
	Hash string
	// Revision is what an approval names and messages show: a Rollout's config hash; for a
	// GatePolicy, empty (Hash then).
	Revision string
	// Ask is the value of the approve annotation the request sets, if any.
	Ask string
	// Requirements are the approval rules that apply; an approver must satisfy each.
	Requirements []Requirement
	// Contributors moved the decision from outside the object; they may not approve it.
	Contributors []Contributor
	// Kind and Name name the object in messages.
	Kind, Name string
	// Now stamps a new approval.
	Now time.Time
}

// Named is what an approval names and messages show: the Revision, else the Hash.
func (c Change) Named() string {
	if c.Revision != "" {
		return c.Revision
	}
	return c.Hash
}

// Decide computes the record after the request from the record before it, or refuses the
// request with a message for the user. An approval binds to the hash of what it approves: a
// change of it drops every approval of another hash.
func Decide(old Record, c Change) (Record, error) {
	rec := Record{Author: old.Author}
	if c.Changed {
		rec.Author = &Author{User: c.User, Hash: c.Hash, At: c.Now.UTC()}
		if old.Author != nil {
			rec.Author.Approved = old.Author.Approved
		}
	}
	for _, a := range old.Approvals {
		if a.Hash == c.Hash {
			rec.Approvals = append(rec.Approvals, a)
		}
	}
	if c.Ask == "" {
		return rec, nil
	}
	rev := c.Named()
	if !Names(c.Ask, rev) {
		return old, fmt.Errorf("%s %s is at revision %s, not %s: review the current one and approve again", c.Kind, c.Name, Short(rev), c.Ask)
	}
	if c.Changed {
		return old, fmt.Errorf("a request that changes %s %s cannot approve it: its author cannot approve their own change", c.Kind, c.Name)
	}
	if author := rec.AuthorOf(c.Hash); author == c.User {
		return old, fmt.Errorf("%s wrote revision %s of %s %s: an approval must come from another user", c.User, Short(rev), c.Kind, c.Name)
	}
	if err := refuseContributor(c.Contributors, c.User, c.Kind, c.Name); err != nil {
		return old, err
	}
	if err := eligibleAll(c.Requirements, c.User, c.Groups); err != nil {
		return old, fmt.Errorf("approval of %s %s refused: %w", c.Kind, c.Name, err)
	}
	if slices.ContainsFunc(rec.Approvals, func(a Approval) bool { return a.User == c.User }) {
		return rec, nil
	}
	if len(rec.Approvals) >= MaxApprovals {
		return old, fmt.Errorf("%s %s already has %d approvals for revision %s", c.Kind, c.Name, len(rec.Approvals), Short(c.Hash))
	}
	rec.Approvals = append(rec.Approvals, Approval{User: c.User, Groups: boundGroups(c.Groups), Hash: c.Hash, At: c.Now.UTC().Truncate(time.Second)})
	if rec.Author != nil {
		a := *rec.Author
		a.Approved = c.Now.UTC()
		rec.Author = &a
	}
	return rec, nil
}
