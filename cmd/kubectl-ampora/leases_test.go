package main

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func lease(ns, name, holder, url string, renewed time.Time, seconds int32, labelled bool) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(seconds),
			RenewTime: &metav1.MicroTime{Time: renewed}}}
	if labelled {
		l.Labels = map[string]string{labelReplicaLease: "true"}
		l.Annotations = map[string]string{annotationReadAPI: url}
	}
	return l
}

func optionsWith(objs ...client.Object) *globalOptions {
	o := newGlobalOptions(genericiooptions.IOStreams{})
	o.c = fake.NewClientBuilder().WithScheme(scheme()).WithObjects(objs...).Build()
	o.now = func() time.Time { return now }
	return o
}

func TestReplicaLeases(t *testing.T) {
	objs := []client.Object{
		lease("ops", "ampora-opamp-b", "b", "http://b:8443", now.Add(-time.Minute), 15, true),
		lease("ops", "ampora-opamp-a", "a", "http://a:8443", now.Add(-time.Second), 15, true),
		lease("ops", "ampora-rollout-engine", "a_1", "", now.Add(-2*time.Second), 30, false),
		lease("other", "unrelated", "x", "", now, 15, false),
	}
	o := optionsWith(objs...)
	got, ns, err := o.replicaLeases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ns != "ops" || len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("replicaLeases = %+v in %q", got, ns)
	}
	if !got[0].Live(now) || got[1].Live(now) || got[0].URL != "http://a:8443" || !got[0].Expires.Equal(now.Add(14*time.Second)) {
		t.Errorf("replicaLeases = %+v", got)
	}
	l, err := o.leader(context.Background(), ns)
	if err != nil || !l.Found || l.Holder != "a_1" || !l.Expires.Equal(now.Add(28*time.Second)) {
		t.Errorf("leader = %+v, %v", l, err)
	}

	o = optionsWith(objs...)
	o.operatorNamespace = "elsewhere"
	got, ns, err = o.replicaLeases(context.Background())
	if err != nil || ns != "elsewhere" || len(got) != 0 {
		t.Errorf("with --operator-namespace: %+v in %q, %v", got, ns, err)
	}
	if l, err := o.leader(context.Background(), ns); err != nil || l.Found {
		t.Errorf("leader in an empty namespace = %+v, %v", l, err)
	}

	o = optionsWith()
	if _, ns, err := o.replicaLeases(context.Background()); err != nil || ns != defaultOperatorNamespace {
		t.Errorf("without Leases: namespace %q, %v", ns, err)
	}
}
