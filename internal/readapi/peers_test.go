package readapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func replicaLease(name, holder, url string, renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: name,
			Labels:      map[string]string{LabelReplicaLease: "true"},
			Annotations: map[string]string{AnnotationReadAPI: url}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(int32(15)),
			RenewTime: &metav1.MicroTime{Time: renewed}},
	}
}

func TestReplicasLiveAndAddresses(t *testing.T) {
	now := time.Now()
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Add(1)
		_, _ = w.Write([]byte(`{"ranks":["000000000000000a"]}`))
	}))
	defer srv.Close()
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	objs := []client.Object{
		replicaLease("ampora-opamp-a", "a", srv.URL, now),
		// Names another replica as holder: counts for nobody.
		replicaLease("ampora-opamp-impostor", "b", srv.URL, now),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "other"}, Spec: corev1.PodSpec{ServiceAccountName: "default"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1"}},
	}
	r := &Peers{Client: fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build(), Namespace: "ops",
		Token: func() (string, error) { return "tok", nil }}
	live, err := r.Live(context.Background(), now)
	if err != nil || len(live) != 1 || live["a"].URL != srv.URL {
		t.Fatalf("Live = %v, %v; want replica a only", live, err)
	}
	if _, err := r.Ranks(context.Background(), live, "ns", "g", "h", "", 10); err == nil ||
		!strings.Contains(err.Error(), "replica a: read-API address") || asked.Load() != 0 {
		t.Errorf("Ranks at a non-operator Pod's address: %v, asked %d times", err, asked.Load())
	}
	r.Check = AddressCheck{Mode: AddressCheckNone}
	if ranks, err := r.Ranks(context.Background(), live, "ns", "g", "h", "", 10); err != nil || len(ranks) != 1 || asked.Load() != 1 {
		t.Errorf("Ranks without the check = %v, %v, asked %d times", ranks, err, asked.Load())
	}
}
