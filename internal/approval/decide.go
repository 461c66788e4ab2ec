package approval

import (
	"fmt"
	"slices"
	"strings"
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
	// Requirements are the approval rules that apply; an approver must satisfy each. A change
	// keeps its earlier authors while the revision it changes lacks approvals they ask for.
	Requirements []Requirement
	// Contributors moved the decision from outside the object; they may not approve it.
	Contributors []Contributor
	// KeepAuthors keeps every earlier author of a change, not only those since the last
	// revision that had its approvals: for an object nothing approves (an AgentGroup, a policy
	// without approvals of its own), whose authors count as contributors to each Rollout.
	KeepAuthors bool
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
		rec.Author = old.Author.after(c.User, c.Hash, c.Now.UTC(), c.KeepAuthors || !old.settled(c.Requirements))
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
	ask, decision, withDecision := strings.Cut(c.Ask, "@")
	if !Names(ask, rev) {
		return old, fmt.Errorf("%s %s is at revision %s, not %s: review the current one and approve again", c.Kind, c.Name, Short(rev), ask)
	}
	if withDecision && !Names(decision, c.Hash) {
		return old, fmt.Errorf("the push decision of %s %s changed since it was read (its group, its gates or the policies it falls through to): review it again, then approve", c.Kind, c.Name)
	}
	if c.Changed {
		return old, fmt.Errorf("a request that changes %s %s cannot approve it: its author cannot approve their own change", c.Kind, c.Name)
	}
	if rec.Author != nil && rec.Author.User == c.User {
		return old, fmt.Errorf("%s wrote revision %s of %s %s: an approval must come from another user", c.User, Short(rev), c.Kind, c.Name)
	}
	if slices.Contains(rec.Authors(), c.User) {
		return old, fmt.Errorf("%s changed %s %s since its last approved revision, and revision %s builds on that change: an approval must come from someone who changed none of it", c.User, c.Kind, c.Name, Short(rev))
	}
	if !rec.Author.forgotten().IsZero() {
		return old, fmt.Errorf("more than %d users changed %s %s since its last approved revision, and who all of them were is no longer recorded: no approval can be told apart from theirs (create it anew to start a new record)", MaxEarlier+1, c.Kind, c.Name)
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
	// Only the approval that completes what the rules ask for covers what moved the decision
	// from outside: a first of two leaves those changes unapproved.
	if rec.Author != nil && rec.approvedEnough(c.Hash, c.Requirements) {
		a := *rec.Author
		a.Approved = c.Now.UTC()
		rec.Author = &a
	}
	return rec, nil
}
