package approval

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Loosens lists how next loosens the policy in force. What cannot be shown to be at least as
// strict counts as loosening: a threshold raised or unset, a bake time shortened, a push policy
// removed or changed, fewer approvals. A threshold set where none was is compared with
// fallback, the value that applied before.
func Loosens(inForce, next *fleetv1alpha1.GatePolicySpec, fallback fleetv1alpha1.GateThresholds) []string {
	var out []string
	o, n := inForce.Gates, next.Gates
	out = upperBound(out, "maxFailurePercent", o.MaxFailurePercent, n.MaxFailurePercent, fallback.MaxFailurePercent)
	out = upperBound(out, "maxDisconnectPercent", o.MaxDisconnectPercent, n.MaxDisconnectPercent, fallback.MaxDisconnectPercent)
	out = upperBound(out, "maxUnhealthyPercent", o.MaxUnhealthyPercent, n.MaxUnhealthyPercent, fallback.MaxUnhealthyPercent)
	out = upperBound(out, "maxFailures", o.MaxFailures, n.MaxFailures, fallback.MaxFailures)
	out = upperBound(out, "maxApplyDurationP95", durationPtr(o.MaxApplyDurationP95), durationPtr(n.MaxApplyDurationP95), durationPtr(fallback.MaxApplyDurationP95))
	out = lowerBound(out, "minSampleSize", o.MinSampleSize, n.MinSampleSize, fallback.MinSampleSize)
	out = lowerBound(out, "bakeTime", durationPtr(o.BakeTime), durationPtr(n.BakeTime), durationPtr(fallback.BakeTime))
	out = upperBound(out, "disconnectGrace", durationPtr(o.DisconnectGrace), durationPtr(n.DisconnectGrace), durationPtr(fallback.DisconnectGrace))
	if !equality.Semantic.DeepEqual(o.ProgressDeadline, n.ProgressDeadline) {
		out = append(out, fmt.Sprintf("progressDeadline %s → %s", show(durationPtr(o.ProgressDeadline)), show(durationPtr(n.ProgressDeadline))))
	}
	if o.OnFailure == fleetv1alpha1.GateFailureRollback && n.OnFailure != fleetv1alpha1.GateFailureRollback {
		out = append(out, "onFailure Rollback → "+cmp.Or(string(n.OnFailure), "unset"))
	}
	for _, p := range inForce.PushPolicies {
		i := indexOf(next.PushPolicies, p.Name)
		switch {
		case i < 0:
			out = append(out, "push policy "+p.Name+" removed")
		case !equality.Semantic.DeepEqual(p, next.PushPolicies[i]):
			out = append(out, "push policy "+p.Name+" changed")
		}
	}
	if oa, na := inForce.RequiredApprovals, next.RequiredApprovals; oa != nil {
		switch {
		case na == nil:
			out = append(out, "requiredApprovals removed")
		case na.Count < oa.Count:
			out = append(out, fmt.Sprintf("requiredApprovals.count %d → %d", oa.Count, na.Count))
		}
		if na != nil && !equality.Semantic.DeepEqual(oa.Selector, na.Selector) {
			out = append(out, "requiredApprovals.selector changed")
		}
		if na != nil && na.AllowServiceAccounts && !oa.AllowServiceAccounts {
			out = append(out, "requiredApprovals.allowServiceAccounts false → true")
		}
		// Fewer approver groups narrow who may approve; any other change widens it. Groups
		// named where there were none narrow it too, but for groups every ServiceAccount of a
		// namespace is in: the rule without groups refuses ServiceAccounts (unless it allowed
		// them), and with groups membership alone decides.
		switch {
		case na == nil:
		case len(oa.ApproverGroups) > 0 && (len(na.ApproverGroups) == 0 ||
			slices.ContainsFunc(na.ApproverGroups, func(g string) bool { return !slices.Contains(oa.ApproverGroups, g) })):
			out = append(out, "requiredApprovals.approverGroups widened")
		case len(oa.ApproverGroups) == 0 && !oa.AllowServiceAccounts && slices.ContainsFunc(na.ApproverGroups, serviceAccountsGroup):
			out = append(out, "requiredApprovals.approverGroups admit ServiceAccounts")
		}
	}
	return out
}

type ordered interface{ ~int32 | ~int64 }

// upperBound notes a limit that rose or was removed.
func upperBound[T ordered](out []string, name string, old, next, fallback *T) []string {
	return loosened(out, name, old, next, fallback, func(n, b T) bool { return n > b })
}

// lowerBound notes a floor that fell or was removed.
func lowerBound[T ordered](out []string, name string, old, next, fallback *T) []string {
	return loosened(out, name, old, next, fallback, func(n, b T) bool { return n < b })
}

// loosened notes a bound that was removed, or whose new value looser says is looser than the
// old one (or, when the old one was unset, than the fallback in force).
func loosened[T ordered](out []string, name string, old, next, fallback *T, looser func(next, before T) bool) []string {
	before := old
	if before == nil {
		before = fallback
	}
	switch {
	case next == nil && old != nil:
		return append(out, fmt.Sprintf("%s %s → unset", name, show(old)))
	case next != nil && before != nil && looser(*next, *before):
		return append(out, fmt.Sprintf("%s %s → %s", name, show(before), show(next)))
	}
	return out
}

type nanos int64

func durationPtr(d *metav1.Duration) *nanos {
	if d == nil {
		return nil
	}
	n := nanos(d.Duration)
	return &n
}

func show[T ordered](v *T) string {
	switch {
	case v == nil:
		return "unset"
	default:
		if d, ok := any(*v).(nanos); ok {
			return time.Duration(d).String()
		}
		return fmt.Sprint(*v)
	}
}

func indexOf(ps []fleetv1alpha1.PushPolicy, name string) int {
	for i := range ps {
		if ps[i].Name == name {
			return i
		}
	}
	return -1
}

// serviceAccountsGroup says whether every ServiceAccount of some namespace is in group g, as
// the API server authenticates them.
func serviceAccountsGroup(g string) bool {
	return g == "system:authenticated" || g == "system:serviceaccounts" || strings.HasPrefix(g, "system:serviceaccounts:")
}
