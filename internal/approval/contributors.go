package approval

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Contributor is someone who moved a Rollout's push decision from outside the Rollout. An
// empty User stands for someone the records cannot name, Why says how.
type Contributor struct {
	User, Kind, Name string
	Why              string
}

// Contributors are those who moved a Rollout's push decision since (its last approval, of
// any revision, else its creation): the authors of its AgentGroup's spec, and of each policy
// it runs under that requires no approvals of its own (a policy that does has its loosenings
// approved by someone else already), who changed it after since. A later edit of the Rollout
// itself does not make their change any less unapproved. Like the Rollout's authors, they may
// not approve what they moved: an editor who widens a group, or loosens a namespace's default
// policy, would otherwise approve the result alone. Only records key sealed count; a group or
// policy changed since its creation (or created after since) without a sealed record, or whose
// record dropped an author of a change after since, has changes nobody can be named for, and
// then no approval counts.
func Contributors(key Key, since time.Time, group *fleetv1alpha1.AgentGroup, ps Policies) []Contributor {
	var out []Contributor
	add := func(kind, name string, obj metav1.Object, r Record, sealed bool) {
		switch {
		case !sealed && (obj.GetGeneration() > 1 || obj.GetCreationTimestamp().After(since)):
			out = append(out, Contributor{Kind: kind, Name: name,
				Why: "it was changed while the approvals webhook was bypassed (its record is missing or does not match its spec)"})
			return
		case r.Author.forgotten().After(since):
			out = append(out, Contributor{Kind: kind, Name: name,
				Why: fmt.Sprintf("more than %d users changed it, and who all of them were is no longer recorded", MaxEarlier+1)})
		}
		for _, e := range r.Author.Editors() {
			if e.At.After(since) {
				out = append(out, Contributor{User: e.User, Kind: kind, Name: name})
			}
		}
	}
	if group != nil {
		r, sealed := key.ReadSealed(group.Annotations, GroupSubject(group))
		add("AgentGroup", group.Name, group, r, sealed)
	}
	for _, p := range ps.All() {
		if p.InForce().RequiredApprovals != nil {
			continue
		}
		r, sealed := key.ReadSealed(p.Annotations, PolicySubject(p))
		add("GatePolicy", p.Namespace+"/"+p.Name, p, r, sealed)
	}
	return out
}

// GroupSubject is the subject of an AgentGroup's record: its spec.
func GroupSubject(g *fleetv1alpha1.AgentGroup) Subject {
	return Subject{Kind: "AgentGroup", Namespace: g.Namespace, Name: g.Name, UID: string(g.UID), Spec: jsonHash(&g.Spec)}
}

// refuseContributor says why user may not approve, when they are among cs, or when cs has
// someone it cannot name.
func refuseContributor(cs []Contributor, user, kind, name string) error {
	for _, c := range cs {
		if c.User == "" {
			return fmt.Errorf("%s %s changed what the approval of %s %s covers, and nothing records who did: %s; have its owner change its spec through the webhook to record them, then approve", c.Kind, c.Name, kind, name, c.Why)
		}
		if c.User == user {
			return fmt.Errorf("%s changed %s %s, which the approval of %s %s covers: an approval must come from someone who changed none of what it approves", user, c.Kind, c.Name, kind, name)
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
