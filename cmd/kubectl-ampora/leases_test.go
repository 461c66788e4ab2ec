package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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
		// A Lease that names another replica as its holder stands in for nobody.
		lease("ops", "ampora-opamp-impostor", "a", "http://impostor:8443", now, 15, true),
		// A namespace editor's Lease, renewed last: it names no operator namespace.
		lease("team", "ampora-opamp-evil", "evil", "http://evil:8443", now, 15, true),
	}
	o := optionsWith(objs...)
	o.operatorNamespace = "ops"
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

	// Without the flag: the default namespace, never where labelled Leases happen to be.
	o = optionsWith(objs...)
	o.flags.KubeConfig = ptr.To(filepath.Join(t.TempDir(), "none"))
	if got, ns, err := o.replicaLeases(context.Background()); err != nil || ns != defaultOperatorNamespace || len(got) != 0 {
		t.Errorf("without --operator-namespace: %+v in %q, %v", got, ns, err)
	}
}

func TestOperatorNamespaceFromContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	kc.Contexts["plain"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u", Namespace: "team"}
	kc.Contexts["ops"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u", Namespace: "team",
		Extensions: map[string]runtime.Object{contextExtension: &runtime.Unknown{Raw: []byte(`{"operatorNamespace":"ops"}`)}}}
	kc.CurrentContext = "ops"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ context, flag, want string }{
		{"", "", "ops"},
		{"plain", "", defaultOperatorNamespace},
		{"", "flagged", "flagged"},
	} {
		o := newGlobalOptions(genericiooptions.IOStreams{})
		o.flags.KubeConfig = ptr.To(path)
		o.flags.Context = ptr.To(tc.context)
		o.operatorNamespace = tc.flag
		if got, err := o.operatorNS(); err != nil || got != tc.want {
			t.Errorf("context %q, flag %q: operator namespace %q, %v; want %q", tc.context, tc.flag, got, err, tc.want)
		}
	}
}
