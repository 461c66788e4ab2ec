package approval

import (
	"fmt"
	"slices"
	"strings"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/selector"
)

// serviceAccountPrefix starts the username the API server gives a ServiceAccount.
const serviceAccountPrefix = "system:serviceaccount:"

// maxGroups bounds the groups recorded with an approval.
const maxGroups = 32

// Requirement is one GatePolicy's approval rule.
type Requirement struct {
	Policy string
	*fleetv1alpha1.ApprovalRequirement
}

// Requirements are the approval rules of the policies that apply to a rollout of group: those
// whose approval selector can match an agent of the group. When that cannot be told (no
// group), every rule applies.
func Requirements(policies []*fleetv1alpha1.GatePolicy, group *fleetv1alpha1.AgentGroup) []Requirement {
	var out []Requirement
	for _, p := range policies {
		req := p.InForce().RequiredApprovals
		if req == nil || (req.Selector != nil && group != nil && selector.Disjoint(group.Spec.Selector, *req.Selector)) {
			continue
		}
		out = append(out, Requirement{Policy: p.Name, ApprovalRequirement: req})
	}
	return out
}

// Strictest is the requirement that asks for the most approvals, or nil.
func Strictest(reqs []Requirement) *Requirement {
	var out *Requirement
	for i := range reqs {
		if out == nil || reqs[i].Count > out.Count {
			out = &reqs[i]
		}
	}
	return out
}

// Eligible says why user, in groups as the API server authenticated them, may not approve
// under r; nil when they may. With approver groups, membership decides. Without, a
// ServiceAccount may approve only where the policy allows it: anyone who may impersonate a
// ServiceAccount of the namespace (Kubernetes' edit role may) would otherwise approve their own
// change under its name.
func (r Requirement) Eligible(user string, groups []string) error {
	if len(r.ApproverGroups) > 0 {
		if slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(r.ApproverGroups, g) }) {
			return nil
		}
		return fmt.Errorf("GatePolicy %s takes approvals only from members of %s, and %s is in none of them",
			r.Policy, strings.Join(r.ApproverGroups, ", "), user)
	}
	if strings.HasPrefix(user, serviceAccountPrefix) && !r.AllowServiceAccounts {
		return fmt.Errorf("GatePolicy %s takes no approvals from ServiceAccounts (%s): a user who may impersonate one could approve their own change; set requiredApprovals.allowServiceAccounts or approverGroups to allow it",
			r.Policy, user)
	}
	return nil
}

// ServiceAccount splits a ServiceAccount's username into its namespace and name.
func ServiceAccount(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, serviceAccountPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != "" && !strings.Contains(name, ":")
}

// eligibleAll is the first refusal among reqs.
func eligibleAll(reqs []Requirement, user string, groups []string) error {
	for _, r := range reqs {
		if err := r.Eligible(user, groups); err != nil {
			return err
		}
	}
	return nil
}

// boundGroups keeps at most maxGroups groups, for the record.
func boundGroups(groups []string) []string {
	if len(groups) > maxGroups {
		groups = groups[:maxGroups]
	}
	return slices.Clone(groups)
}
