package opampserver

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
func (s *Server) leaseLoop(ctx context.Context) {
	if s.opts.Namespace == "" {
		return
	}
	renew := s.opts.LeaseDuration / 3
	t := s.clock.NewTicker(renew)
	defer t.Stop()
	for {
		if err := s.renewLease(ctx); err != nil && ctx.Err() == nil {
			s.log.Error(err, "renewing the replica lease")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (s *Server) renewLease(ctx context.Context) error {
	now := metav1.NewMicroTime(s.clock.Now())
	key := client.ObjectKey{Namespace: s.opts.Namespace, Name: readapi.LeaseName(s.opts.Replica)}
	var l coordinationv1.Lease
	err := s.client.Get(ctx, key, &l)
	if apierrors.IsNotFound(err) {
		l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	} else if err != nil {
		return err
	}
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[readapi.LabelReplicaLease] = "true"
	if s.opts.ReadAPIURL != "" {
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		l.Annotations[readapi.AnnotationReadAPI] = s.opts.ReadAPIURL
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != s.opts.Replica || l.Spec.AcquireTime == nil {
		l.Spec.AcquireTime = &now
	}
	l.Spec.HolderIdentity = ptr.To(s.opts.Replica)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(s.opts.LeaseDuration / time.Second))
	l.Spec.RenewTime = &now
	if l.ResourceVersion == "" {
		return s.client.Create(ctx, &l)
	}
	return s.client.Update(ctx, &l)
}

// releaseLease expires the Lease at once on a clean shutdown, so that peers stop counting this
// replica without waiting for the lease to run out.
func (s *Server) releaseLease() {
	if s.opts.Namespace == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var l coordinationv1.Lease
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: s.opts.Namespace, Name: readapi.LeaseName(s.opts.Replica)}, &l); err != nil {
		return
	}
	past := metav1.NewMicroTime(s.clock.Now().Add(-s.opts.LeaseDuration))
	l.Spec.RenewTime = &past
	_ = s.client.Update(ctx, &l)
}
