package replica

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/readapi"
)

// leaseLoop holds the replica's Lease: live replicas are the unexpired Leases, so that the
// manager and kubectl see who reports, and a dead replica's entries stop counting.
func (rp *Replica) leaseLoop(ctx context.Context, readAPIURL string) {
	if rp.opts.Namespace == "" {
		return
	}
	renew := rp.opts.LeaseDuration / 3
	t := rp.opts.Clock.NewTicker(renew)
	defer t.Stop()
	for {
		if err := rp.renewLease(ctx, readAPIURL); err != nil && ctx.Err() == nil {
			rp.log.Error(err, "renewing the replica lease")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (rp *Replica) renewLease(ctx context.Context, readAPIURL string) error {
	now := metav1.NewMicroTime(rp.opts.Clock.Now())
	key := client.ObjectKey{Namespace: rp.opts.Namespace, Name: readapi.LeaseName(rp.opts.Replica)}
	var l coordinationv1.Lease
	err := rp.opts.Client.Get(ctx, key, &l)
	if apierrors.IsNotFound(err) {
		l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	} else if err != nil {
		return err
	}
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[readapi.LabelReplicaLease] = "true"
	if readAPIURL != "" {
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		l.Annotations[readapi.AnnotationReadAPI] = readAPIURL
	}
	// Acquired anew by each process: a replica restarted under its name owes reports from its
	// start, not from its predecessor's.
	if !rp.leaseTaken.Load() || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != rp.opts.Replica || l.Spec.AcquireTime == nil {
		l.Spec.AcquireTime = &now
	}
	l.Spec.HolderIdentity = ptr.To(rp.opts.Replica)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(rp.opts.LeaseDuration / time.Second))
	l.Spec.RenewTime = &now
	if l.ResourceVersion == "" {
		err = rp.opts.Client.Create(ctx, &l)
	} else {
		err = rp.opts.Client.Update(ctx, &l)
	}
	if err == nil {
		rp.leaseTaken.Store(true)
	}
	return err
}

// releaseLease expires the Lease at once on a clean shutdown, so that peers stop counting this
// replica without waiting for the lease to run out.
func (rp *Replica) releaseLease() {
	if rp.opts.Namespace == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var l coordinationv1.Lease
	if err := rp.opts.Client.Get(ctx, client.ObjectKey{Namespace: rp.opts.Namespace, Name: readapi.LeaseName(rp.opts.Replica)}, &l); err != nil {
		return
	}
	past := metav1.NewMicroTime(rp.opts.Clock.Now().Add(-rp.opts.LeaseDuration))
	l.Spec.RenewTime = &past
	_ = rp.opts.Client.Update(ctx, &l)
}
