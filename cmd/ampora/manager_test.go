package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ampora-io/ampora/internal/approval"
)

// A replica stops once the approval key Secret holds another key (deleted and made anew, or
// rotated), so that it restarts with the key its peers seal with; not before.
func TestWatchApprovalKeyStopsOnChange(t *testing.T) {
	key := approval.Key(make([]byte, approval.KeyBytes))
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ampora-system", Name: "ampora-approval-key"},
		Data: map[string][]byte{"key": key}}
	c := fake.NewClientBuilder().WithScheme(scheme()).WithObjects(sec).Build()
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	go watchApprovalKey(ctx, c, "ampora-system", "ampora-approval-key", key, 10*time.Millisecond, stop, logr.Discard())

	select {
	case <-ctx.Done():
		t.Fatalf("stopped while the key was unchanged: %v", context.Cause(ctx))
	case <-time.After(100 * time.Millisecond):
	}
	if err := c.Delete(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
		if cause := context.Cause(ctx); !errors.Is(cause, errApprovalKeyChanged) {
			t.Errorf("stopped for %v, want errApprovalKeyChanged", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a replica kept its key after the Secret was made anew")
	}
}
