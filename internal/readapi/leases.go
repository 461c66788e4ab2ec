package readapi

import (
	"context"
	"sort"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What the sidecars publish on their Leases (docs/opamp.md, "Replica Leases").
const (
	// LeasePrefix starts the name of every replica's Lease: ampora-opamp-<replica>.
	LeasePrefix = "ampora-opamp-"
	// LabelReplicaLease marks every sidecar replica's Lease, ampora-opamp-<replica>.
	LabelReplicaLease = "fleet.ampora.io/opamp-replica"
	// AnnotationReadAPI holds the replica's read-API URL on its Lease.
	AnnotationReadAPI = "fleet.ampora.io/read-api"
	// DefaultOperatorNamespace is where the operator runs when nothing says otherwise.
	DefaultOperatorNamespace = "ampora-system"
	// LeaderLease is the manager's leader-election Lease in the operator namespace: its
	// holder runs the rollout engine.
	LeaderLease = "ampora-rollout-engine"
)

// LeaseName is the name of a replica's Lease.
func LeaseName(replica string) string { return LeasePrefix + replica }

// LeaseLive says whether the Lease is unexpired at now.
func LeaseLive(l *coordinationv1.Lease, now time.Time) bool {
	_, expires := LeaseTimes(l)
	return now.Before(expires)
}

// Replica is one sidecar replica as its Lease shows it.
type Replica struct {
	Name    string // the replica (the Lease's holder)
	URL     string // its read API
	Renewed time.Time
	Expires time.Time
	// Acquired is when the replica took its Lease: it has been live, and owes reports, since.
	Acquired time.Time
}

// Live says whether the Lease is unexpired at now, which is when the replica's status entries
// count.
func (r Replica) Live(now time.Time) bool { return now.Before(r.Expires) }

// LiveOnly keeps the replicas whose Lease is unexpired at now.
func LiveOnly(replicas []Replica, now time.Time) []Replica {
	var out []Replica
	for _, r := range replicas {
		if r.Live(now) {
			out = append(out, r)
		}
	}
	return out
}

// LeaseTimes returns when a Lease was last renewed (or acquired) and when it expires.
func LeaseTimes(l *coordinationv1.Lease) (renewed, expires time.Time) {
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

// Replicas lists the sidecars' Leases in the operator namespace operatorNS. The namespace is
// always given (a flag, the kubeconfig context, DefaultOperatorNamespace), never found from
// the Leases: anyone may create a labelled Lease in a namespace they edit.
func Replicas(ctx context.Context, c client.Reader, operatorNS string) ([]Replica, error) {
	var list coordinationv1.LeaseList
	if err := c.List(ctx, &list, client.InNamespace(operatorNS), client.HasLabels{LabelReplicaLease}); err != nil {
		return nil, err
	}
	var out []Replica
	for i := range list.Items {
		l := &list.Items[i]
		// A replica holds the Lease of its own name; a Lease that names another holder would
		// stand in for that replica.
		if l.Spec.HolderIdentity == nil || l.Name != LeaseName(*l.Spec.HolderIdentity) {
			continue
		}
		r := Replica{Name: *l.Spec.HolderIdentity, URL: l.Annotations[AnnotationReadAPI]}
		r.Renewed, r.Expires = LeaseTimes(l)
		if l.Spec.AcquireTime != nil {
			r.Acquired = l.Spec.AcquireTime.Time
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PodNameKey is the user extra in which the API server names the Pod a ServiceAccount token is
// bound to. Every replica's sidecar runs as one ServiceAccount; its Pod-bound token (the
// operator's Pods run as the sidecar's account) is what tells them apart, and the admission
// policies of config/policy hold each to its own replica's Lease and status entries by it.
const PodNameKey = "authentication.kubernetes.io/pod-name"
