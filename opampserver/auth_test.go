package opampserver

import (
	"context"
	"testing"

	"github.com/ampora-io/ampora/internal/readapi"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func tokenSecret(ns, name, token string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{readapi.LabelEnrollmentToken: "true"}},
		Data:       map[string][]byte{readapi.TokenKey: []byte(token)},
	}
}

func TestTokenStoreRevokes(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		tokenSecret("a", "stays", "t-stays"),
		tokenSecret("a", "deleted", "t-deleted"),
		tokenSecret("a", "rotated", "t-old"),
		tokenSecret("a", "moved", "t-moved"),
		tokenSecret("b", "shared", "t-shared"),
	).Build()
	var ts TokenStore
	if n, err := ts.Rebuild(ctx, c); err != nil || n != 0 {
		t.Fatalf("first rebuild: %d revoked, %v", n, err)
	}
	grants := map[string]*enrollment{}
	for _, tok := range []string{"t-stays", "t-deleted", "t-old", "t-moved", "t-shared"} {
		if grants[tok] = ts.Lookup(tok); grants[tok] == nil {
			t.Fatalf("%s does not enroll", tok)
		}
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Delete(ctx, tokenSecret("a", "deleted", "")))
	must(c.Update(ctx, tokenSecret("a", "rotated", "t-new")))
	must(c.Delete(ctx, tokenSecret("a", "moved", "")))
	must(c.Create(ctx, tokenSecret("c", "moved", "t-moved")))
	must(c.Create(ctx, tokenSecret("a", "shared", "t-shared"))) // now in two namespaces: enrolls nowhere
	n, err := ts.Rebuild(ctx, c)
	must(err)
	if n != 4 {
		t.Errorf("%d grants revoked, want 4 (deleted, rotated, moved, shared)", n)
	}
	for tok, want := range map[string]bool{"t-stays": false, "t-deleted": true, "t-old": true, "t-moved": true, "t-shared": true} {
		if got := grants[tok].Revoked(); got != want {
			t.Errorf("%s: revoked = %v, want %v", tok, got, want)
		}
	}
	if ts.Lookup("t-stays") != grants["t-stays"] {
		t.Error("an unchanged token got a new grant: its sessions would not be found")
	}
	if g := ts.Lookup("t-moved"); g == nil || g.namespace != "c" || g.Revoked() {
		t.Errorf("the moved token enrolls into %v, want a fresh grant for c", g)
	}
	for _, tok := range []string{"t-deleted", "t-old", "t-shared"} {
		if ts.Lookup(tok) != nil {
			t.Errorf("%s still enrolls", tok)
		}
	}
	if g := ts.Lookup("t-new"); g == nil || g.namespace != "a" {
		t.Errorf("the rotated value enrolls into %v, want a", g)
	}
	var none *enrollment
	if none.Revoked() {
		t.Error("a session without a token counts as revoked")
	}
}
