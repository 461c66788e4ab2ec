package readapi

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func pod(ns, name, sa string, phase corev1.PodPhase, ips ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{ServiceAccountName: sa}, Status: corev1.PodStatus{Phase: phase}}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	return p
}

func TestAddressCheck(t *testing.T) {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).WithObjects([]client.Object{
		pod("ops", "ampora-0", "ampora", corev1.PodRunning, "10.0.0.1", "fd00::1"),
		pod("ops", "ampora-1", "ampora", corev1.PodPending, "10.0.0.2"),
		pod("ops", "intruder", "default", corev1.PodRunning, "10.0.0.3"),
		pod("team", "elsewhere", "ampora", corev1.PodRunning, "10.0.0.4"),
	}...).Build()
	a, err := AddressCheck{Namespace: "ops", ServiceAccounts: []string{"ampora"}}.Addresses(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for url, ok := range map[string]bool{
		"http://10.0.0.1:8443":   true,
		"https://10.0.0.1:8443/": true,
		"http://[fd00::1]:8443":  true,
		"http://10.0.0.2:8443":   false, // not running
		"http://10.0.0.3:8443":   false, // another ServiceAccount
		"http://10.0.0.4:8443":   false, // another namespace
		"http://127.0.0.1:8443":  false,
		"http://ampora-0:8443":   false, // a name resolves to anything
		"ftp://10.0.0.1:8443":    false,
		"10.0.0.1:8443":          false,
	} {
		if err := a.Check(url); (err == nil) != ok {
			t.Errorf("Check(%s) = %v, want allowed %v", url, err, ok)
		}
	}
	none, err := AddressCheck{Mode: AddressCheckNone}.Addresses(context.Background(), c)
	if err != nil || none.Check("http://127.0.0.1:1") != nil {
		t.Errorf("none: %v, %v", err, none.Check("http://127.0.0.1:1"))
	}
	if ParseAddressCheck("pod") != nil || ParseAddressCheck("none") != nil || ParseAddressCheck("off") == nil {
		t.Error("ParseAddressCheck")
	}
}
