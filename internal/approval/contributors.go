package approval

import (
	"fmt"
	"time"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Contributor is someone who moved a Rollout's push decision from outside the Rollout.
type Contributor struct {
	User, Kind, Name string
}

// Contributors are those who moved a Rollout's push decision since (its last approval, of
// any revision, else its creation): the last author of its AgentGroup's spec, and of each
// policy it runs under that requires no approvals of its own (a policy that does has its
// loosenings approved by someone else already). A later edit of the Rollout itself does not
// make their change any less unapproved. Like the Rollout's author, they
// may not approve what they moved: an editor who widens a group, or loosens a namespace's
// default policy, would otherwise approve the result alone. Only records key sealed count.
func Contributors(key Key, since time.Time, group *fleetv1alpha1.AgentGroup, ps Policies) []Contributor {
	var out []Contributor
	add := func(kind, name string, r Record) {
		if r.Author != nil && r.Author.At.After(since) {
			out = append(out, Contributor{User: r.Author.User, Kind: kind, Name: name})
		}
	}
	if group != nil {
		r, _ := key.ReadSealed(group.Annotations, GroupSubject(group))
		add("AgentGroup", group.Name, r)
	}
	for _, p := range ps.All() {
		if p.InForce().RequiredApprovals != nil {
			continue
		}
		r, _ := key.ReadSealed(p.Annotations, PolicySubject(p))
		add("GatePolicy", p.Namespace+"/"+p.Name, r)
	}
	return out
}

// GroupSubject is the subject of an AgentGroup's record: its spec.
func GroupSubject(g *fleetv1alpha1.AgentGroup) Subject {
	return Subject{Kind: "AgentGroup", Namespace: g.Namespace, Name: g.Name, UID: string(g.UID), Spec: jsonHash(&g.Spec)}
}

// refuseContributor says why user may not approve, when they are among cs.
func refuseContributor(cs []Contributor, user, kind, name string) error {
	for _, c := range cs {
		if c.User == user {
			return fmt.Errorf("%s last changed %s %s, which the approval of %s %s covers: an approval must come from someone who changed none of what it approves", user, c.Kind, c.Name, kind, name)
		}
	}
	return nil
}

// Since is the time after which a change of what a Rollout's decision is made of has not been
// covered by any approval: the Rollout's last approval (rec, its sealed record), else its
// creation.
func Since(ro *fleetv1alpha1.Rollout, rec Record) time.Time {
	since := ro.CreationTimestamp.Time
	if rec.Author != nil && rec.Author.Approved.After(since) {
		since = rec.Author.Approved
	}
	return since
}
