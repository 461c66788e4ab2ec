package satoken

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// apiServer answers as the API server would for user: its SelfSubjectReview, and numbered
// tokens that last as long as asked; requests keeps what was asked.
func apiServer(user string, clk *clocktesting.FakeClock, requests *[]authenticationv1.TokenRequest) client.Client {
	return fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			r, ok := obj.(*authenticationv1.SelfSubjectReview)
			if !ok {
				return fmt.Errorf("unexpected %T", obj)
			}
			r.Status.UserInfo.Username = user
			return nil
		},
		SubResourceCreate: func(_ context.Context, _ client.Client, sub string, obj client.Object, req client.Object, _ ...client.SubResourceCreateOption) error {
			tr := req.(*authenticationv1.TokenRequest)
			*requests = append(*requests, *tr.DeepCopy())
			tr.Status.Token = fmt.Sprintf("%s/%s-%d", obj.GetNamespace(), obj.GetName(), len(*requests))
			tr.Status.ExpirationTimestamp = metav1.NewTime(clk.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
			return nil
		},
	}).Build()
}

// A token of the process's own account, for the audience, reused while it has more than a
// fifth of its life left and renewed after.
func TestSourceRenews(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	var requests []authenticationv1.TokenRequest
	s := &Source{Client: apiServer("system:serviceaccount:ampora-system:ampora", clk, &requests), Audience: "ampora-read-api", Clock: clk}
	token := func() string {
		t.Helper()
		tok, err := s.Token()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if got := token(); got != "ampora-system/ampora-1" {
		t.Fatalf("token %q, want one of ampora-system/ampora", got)
	}
	if r := requests[0].Spec; len(r.Audiences) != 1 || r.Audiences[0] != "ampora-read-api" || *r.ExpirationSeconds != 3600 || r.BoundObjectRef != nil {
		t.Errorf("requested %+v", r)
	}
	clk.Step(47 * time.Minute)
	if got := token(); got != "ampora-system/ampora-1" {
		t.Errorf("renewed with 13 minutes left: %q", got)
	}
	clk.Step(2 * time.Minute)
	if got := token(); got != "ampora-system/ampora-2" {
		t.Errorf("kept a token with 11 minutes left: %q", got)
	}
}

// A process that is no ServiceAccount (a user's kubeconfig) cannot ask for its own token.
func TestSourceNeedsAServiceAccount(t *testing.T) {
	var requests []authenticationv1.TokenRequest
	s := &Source{Client: apiServer("kubernetes-admin", clocktesting.NewFakeClock(time.Now()), &requests), Audience: "ampora-read-api"}
	if _, err := s.Token(); err == nil || len(requests) > 0 {
		t.Fatalf("err %v after %d requests, want a refusal before any", err, len(requests))
	}
}

func TestRequireAudience(t *testing.T) {
	jwt := func(claims string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	}
	for _, tt := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"bound to the audience", jwt(`{"aud":["ampora-read-api"]}`), true},
		{"one audience as a string", jwt(`{"aud":"ampora-read-api"}`), true},
		{"the API server's audience", jwt(`{"aud":["https://kubernetes.default.svc.cluster.local"]}`), false},
		{"a token Secret's: no audience", jwt(`{"iss":"kubernetes/serviceaccount"}`), false},
		{"not a JWT", "opaque", false},
		{"the API server's audience beside it", jwt(`{"aud":["https://kubernetes.default.svc","ampora-read-api"]}`), false},
		{"a case variant of the claim", jwt(`{"aud":"https://kubernetes.default.svc","AUD":"ampora-read-api"}`), false},
	} {
		if err := RequireAudience(tt.token, "ampora-read-api"); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
}
