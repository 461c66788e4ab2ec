package opampserver

import (
	"context"
	"testing"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/fleet"

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
	grants := map[string]*fleet.Grant{}
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
	// A copy in a second namespace, newer: the first keeps it.
	copied := tokenSecret("a", "shared", "t-shared")
	copied.CreationTimestamp = metav1.NewTime(time.Now().Add(time.Hour))
	must(c.Create(ctx, copied))
	n, err := ts.Rebuild(ctx, c)
	must(err)
	if n != 3 {
		t.Errorf("%d grants revoked, want 3 (deleted, rotated, moved)", n)
	}
	for tok, want := range map[string]bool{"t-stays": false, "t-deleted": true, "t-old": true, "t-moved": true, "t-shared": false} {
		if got := grants[tok].Revoked(); got != want {
			t.Errorf("%s: revoked = %v, want %v", tok, got, want)
		}
	}
	if ts.Lookup("t-stays") != grants["t-stays"] {
		t.Error("an unchanged token got a new grant: its sessions would not be found")
	}
	if g := ts.Lookup("t-moved"); g == nil || g.Namespace() != "c" || g.Revoked() {
		t.Errorf("the moved token enrolls into %v, want a fresh grant for c", g)
	}
	if g := ts.Lookup("t-shared"); g != grants["t-shared"] || g.Namespace() != "b" {
		t.Errorf("the copied token enrolls into %v, want b's grant kept", g)
	}
	for _, tok := range []string{"t-deleted", "t-old"} {
		if ts.Lookup(tok) != nil {
			t.Errorf("%s still enrolls", tok)
		}
	}
	if g := ts.Lookup("t-new"); g == nil || g.Namespace() != "a" {
		t.Errorf("the rotated value enrolls into %v, want a", g)
	}
	var none *fleet.Grant
	if none.Revoked() {
		t.Error("a session without a token counts as revoked")
	}
}

func TestBoundTokensEnrollOnlyFromTheirNamespace(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bound := BoundToken("a", "0123456789abcdef")
	if ns, ok := BoundNamespace(bound); !ok || ns != "a" {
		t.Fatalf("BoundNamespace(%q) = %q, %v", bound, ns, ok)
	}
	for _, tok := range []string{"t-plain", "ampora:", "ampora:a", "ampora::x", "ampora:a:"} {
		if _, ok := BoundNamespace(tok); ok {
			t.Errorf("%q reads as bound", tok)
		}
	}
	// The copy in b is the older Secret, and the value names a: only a's Secret counts.
	planted := tokenSecret("b", "planted", bound)
	planted.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(planted, tokenSecret("a", "enroll", bound)).Build()
	var ts TokenStore
	if _, err := ts.Rebuild(ctx, c); err != nil {
		t.Fatal(err)
	}
	if g := ts.Lookup(bound); g == nil || g.Namespace() != "a" {
		t.Fatalf("the bound token enrolls into %v, want a", g)
	}
	// a deletes its Secret (a rotation): the copy in b still enrolls nothing.
	if err := c.Delete(ctx, tokenSecret("a", "enroll", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Rebuild(ctx, c); err != nil {
		t.Fatal(err)
	}
	if g := ts.Lookup(bound); g != nil {
		t.Errorf("after a's Secret went, the copy in b enrolls into %s", g.Namespace())
	}
}

func TestTokensOfOneAgeInTwoNamespacesEnrollNowhere(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(time.Now().Truncate(time.Second))
	a, b, older := tokenSecret("a", "x", "t-tie"), tokenSecret("b", "x", "t-tie"), tokenSecret("c", "x", "t-tie")
	a.CreationTimestamp, b.CreationTimestamp = at, at
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(a, b).Build()
	var ts TokenStore
	if _, err := ts.Rebuild(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if g := ts.Lookup("t-tie"); g != nil {
		t.Errorf("a value whose Secrets are equally old enrolls into %s", g.Namespace())
	}
	older.CreationTimestamp = metav1.NewTime(at.Add(-time.Second))
	if err := c.Create(context.Background(), older); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Rebuild(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if g := ts.Lookup("t-tie"); g == nil || g.Namespace() != "c" {
		t.Errorf("with an older Secret in c, the value enrolls into %v, want c", g)
	}
}
