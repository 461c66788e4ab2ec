package main

import (
	"context"
	"sort"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What the operator publishes on Leases (docs/opamp.md, "Replica Leases").
const (
	// labelReplicaLease marks every sidecar replica's Lease, ampora-opamp-<replica>.
	labelReplicaLease = "fleet.ampora.io/opamp-replica"
	// annotationReadAPI holds the replica's read-API URL on its Lease.
	annotationReadAPI = "fleet.ampora.io/read-api"
	// leaderLeaseName is the Lease the managers elect their leader with.
	leaderLeaseName = "ampora-rollout-engine"
	// defaultOperatorNamespace is where the operator runs when nothing says otherwise.
	defaultOperatorNamespace = "ampora-system"
)

// replicaLease is one sidecar replica as its Lease shows it.
type replicaLease struct {
	Name    string // the replica (the Lease's holder)
	URL     string // its read API
	Renewed time.Time
	Expires time.Time
}

// live says whether the Lease is unexpired at now, which is when the replica's status entries
// count.
func (r replicaLease) live(now time.Time) bool { return now.Before(r.Expires) }

// leaderLease is the leader-election Lease of the managers.
type leaderLease struct {
	Found   bool
	Holder  string
	Renewed time.Time
	Expires time.Time
	// Transitions counts leader changes.
	Transitions int32
}

func leaseTimes(l *coordinationv1.Lease) (renewed, expires time.Time) {
	if l.Spec.RenewTime != nil {
		renewed = l.Spec.RenewTime.Time
	} else if l.Spec.AcquireTime != nil {
		renewed = l.Spec.AcquireTime.Time
	}
	if l.Spec.LeaseDurationSeconds != nil && !renewed.IsZero() {
		expires = renewed.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
	}
	return renewed, expires
}

// replicaLeases lists the sidecars' Leases. Without --operator-namespace it looks in every
// namespace and, when that is not allowed, in the default operator namespace. It returns the
// operator namespace it settled on.
func (o *globalOptions) replicaLeases(ctx context.Context) ([]replicaLease, string, error) {
	c, err := o.client()
	if err != nil {
		return nil, o.operatorNS(), err
	}
	var list coordinationv1.LeaseList
	ns := o.operatorNamespace
	if ns == "" {
		var all coordinationv1.LeaseList
		err := c.List(ctx, &all, client.HasLabels{labelReplicaLease})
		switch {
		case err == nil && len(all.Items) > 0:
			ns, list = leaseNamespace(all.Items), all
		case err == nil || apierrors.IsForbidden(err):
			ns = defaultOperatorNamespace
		default:
			return nil, defaultOperatorNamespace, err
		}
	}
	if len(list.Items) == 0 {
		if err := c.List(ctx, &list, client.InNamespace(ns), client.HasLabels{labelReplicaLease}); err != nil {
			return nil, ns, err
		}
	}
	var out []replicaLease
	for i := range list.Items {
		l := &list.Items[i]
		if l.Namespace != ns {
			continue
		}
		r := replicaLease{Name: l.Name, URL: l.Annotations[annotationReadAPI]}
		if l.Spec.HolderIdentity != nil {
			r.Name = *l.Spec.HolderIdentity
		}
		r.Renewed, r.Expires = leaseTimes(l)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, ns, nil
}

// leaseNamespace picks the namespace that holds the most recently renewed replica Lease.
func leaseNamespace(items []coordinationv1.Lease) string {
	var ns string
	var latest time.Time
	for i := range items {
		if r, _ := leaseTimes(&items[i]); ns == "" || r.After(latest) {
			ns, latest = items[i].Namespace, r
		}
	}
	return ns
}

func (o *globalOptions) operatorNS() string {
	if o.operatorNamespace != "" {
		return o.operatorNamespace
	}
	return defaultOperatorNamespace
}

// leader reads the managers' leader-election Lease in ns.
func (o *globalOptions) leader(ctx context.Context, ns string) (leaderLease, error) {
	c, err := o.client()
	if err != nil {
		return leaderLease{}, err
	}
	var l coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaderLeaseName}, &l); err != nil {
		if apierrors.IsNotFound(err) {
			return leaderLease{}, nil
		}
		return leaderLease{}, err
	}
	out := leaderLease{Found: true}
	if l.Spec.HolderIdentity != nil {
		out.Holder = *l.Spec.HolderIdentity
	}
	if l.Spec.LeaseTransitions != nil {
		out.Transitions = *l.Spec.LeaseTransitions
	}
	out.Renewed, out.Expires = leaseTimes(&l)
	return out, nil
}
