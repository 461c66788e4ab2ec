package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/readapi"
)

// What the operator publishes on Leases (docs/opamp.md, "Replica Leases").
const (
	// labelReplicaLease marks every sidecar replica's Lease, ampora-opamp-<replica>.
	labelReplicaLease = readapi.LabelReplicaLease
	// annotationReadAPI holds the replica's read-API URL on its Lease.
	annotationReadAPI = readapi.AnnotationReadAPI
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

// contextExtension names the kubeconfig context extension that can hold the operator
// namespace: extensions: [{name: fleet.ampora.io, extension: {operatorNamespace: NS}}].
const contextExtension = "fleet.ampora.io"

// replicaLeases lists the sidecars' Leases in the operator namespace, which it returns.
func (o *globalOptions) replicaLeases(ctx context.Context) ([]replicaLease, string, error) {
	ns, err := o.operatorNS()
	if err != nil {
		return nil, ns, err
	}
	c, err := o.client()
	if err != nil {
		return nil, ns, err
	}
	leases, err := readapi.Replicas(ctx, c, ns)
	return leases, ns, err
}

// operatorNS is --operator-namespace, else the operatorNamespace of the kubeconfig context's
// fleet.ampora.io extension, else the default. It is never taken from the Leases in the
// cluster: whoever edits a namespace can create a labelled Lease there.
func (o *globalOptions) operatorNS() (string, error) {
	if o.operatorNamespace != "" {
		return o.operatorNamespace, nil
	}
	raw, err := o.flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return defaultOperatorNamespace, nil // no kubeconfig to read: the client says so plainly
	}
	name := raw.CurrentContext
	if o.flags.Context != nil && *o.flags.Context != "" {
		name = *o.flags.Context
	}
	kctx := raw.Contexts[name]
	if kctx == nil {
		return defaultOperatorNamespace, nil
	}
	ext, ok := kctx.Extensions[contextExtension].(*runtime.Unknown)
	if !ok {
		return defaultOperatorNamespace, nil
	}
	var v struct {
		OperatorNamespace string `json:"operatorNamespace"`
	}
	if err := json.Unmarshal(ext.Raw, &v); err != nil {
		return defaultOperatorNamespace, fmt.Errorf("the %s extension of kubeconfig context %s: %w", contextExtension, name, err)
	}
	if v.OperatorNamespace == "" {
		return defaultOperatorNamespace, nil
	}
	return v.OperatorNamespace, nil
}

// leader reads the managers' leader-election Lease in ns.
func (o *globalOptions) leader(ctx context.Context, ns string) (leaderLease, error) {
	c, err := o.client()
	if err != nil {
		return leaderLease{}, err
	}
	var l coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: readapi.LeaderLease}, &l); err != nil {
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
