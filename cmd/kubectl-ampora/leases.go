package main

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/readapi"
)

// What the operator publishes on Leases (docs/opamp.md, "Replica Leases").
const (
	// labelReplicaLease marks every sidecar replica's Lease, ampora-opamp-<replica>.
	labelReplicaLease = readapi.LabelReplicaLease
	// annotationReadAPI holds the replica's read-API URL on its Lease.
	annotationReadAPI = readapi.AnnotationReadAPI
	// leaderLeaseName is the Lease the managers elect their leader with.
	leaderLeaseName = "ampora-rollout-engine"
	// defaultOperatorNamespace is where the operator runs when nothing says otherwise.
	defaultOperatorNamespace = readapi.DefaultOperatorNamespace
)

// leaderLease is the leader-election Lease of the managers.
type leaderLease struct {
	Found   bool
	Holder  string
	Renewed time.Time
	Expires time.Time
	// Transitions counts leader changes.
	Transitions int32
}

// replicaLeases lists the sidecars' Leases. Without --operator-namespace it looks in every
// namespace and, when that is not allowed, in the default operator namespace. It returns the
// operator namespace it settled on.
func (o *globalOptions) replicaLeases(ctx context.Context) ([]replicaLease, string, error) {
	c, err := o.client()
	if err != nil {
		return nil, o.operatorNS(), err
	}
	return readapi.Replicas(ctx, c, o.operatorNamespace)
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
	out.Renewed, out.Expires = readapi.LeaseTimes(&l)
	return out, nil
}
