// Package satoken gives a process short-lived tokens of its own ServiceAccount bound to an
// audience other than the API server's, requested with TokenRequest and renewed before they
// expire.
//
// The manager presents such a token to the sidecars' read API: the API server refuses it, so a
// sidecar that is broken into cannot replay it to act as the manager. A projected token volume
// would give one without code, but only of the Pod's ServiceAccount, and the operator's Pod
// runs as the sidecar's (docs/security.md#rbac: only a Pod's own account gets tokens bound to
// the Pod, and the sidecar's Pod-bound token is what tells replicas apart).
package satoken

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultLifetime of each token; one is renewed once less than a fifth of it is left.
const DefaultLifetime = time.Hour

// requestTimeout bounds one token request, or the review that finds the process's account.
const requestTimeout = 10 * time.Second

// Source hands out tokens of the account its Client authenticates as.
type Source struct {
	// Client may create serviceaccounts/token for its own account, and SelfSubjectReviews.
	Client   client.Client
	Audience string
	Lifetime time.Duration
	Clock    clock.PassiveClock

	mu        sync.Mutex
	namespace string
	account   string
	token     string
	renewAt   time.Time
	expires   time.Time
}

// Token returns a token that is valid for at least a fifth of its lifetime.
func (s *Source) Token() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock().Now()
	if s.token != "" && now.Before(s.renewAt) {
		return s.token, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if s.account == "" {
		if err := s.whoAmI(ctx); err != nil {
			return "", err
		}
	}
	lifetime := s.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: s.account}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{s.Audience}, ExpirationSeconds: ptr.To(int64(lifetime / time.Second))}}
	if err := s.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		if s.token != "" && now.Before(s.expires) {
			return s.token, nil // still valid: renew on the next call
		}
		return "", fmt.Errorf("requesting a token of %s/%s for the audience %s: %w", s.namespace, s.account, s.Audience, err)
	}
	// Renew by the issued expiry (the API server may shorten a lifetime), by this clock.
	left := tr.Status.ExpirationTimestamp.Sub(now)
	if left <= 0 || left > lifetime {
		left = lifetime
	}
	s.token, s.renewAt, s.expires = tr.Status.Token, now.Add(left*4/5), now.Add(left)
	return s.token, nil
}

// whoAmI finds the process's own ServiceAccount (SelfSubjectReview).
func (s *Source) whoAmI(ctx context.Context) error {
	r := &authenticationv1.SelfSubjectReview{}
	if err := s.Client.Create(ctx, r); err != nil {
		return fmt.Errorf("finding this process's ServiceAccount: %w", err)
	}
	name := r.Status.UserInfo.Username
	rest, ok := strings.CutPrefix(name, "system:serviceaccount:")
	ns, account, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || account == "" {
		return fmt.Errorf("this process authenticates as %q, not as a ServiceAccount: give it a token file to present instead", name)
	}
	s.namespace, s.account = ns, account
	return nil
}

func (s *Source) clock() clock.PassiveClock {
	if s.Clock == nil {
		return clock.RealClock{}
	}
	return s.Clock
}

// RequireAudience checks, without verifying its signature, that a ServiceAccount token (a JWT)
// is bound to audience and to no other: a token read from a file that the API server would
// take as well (a token Secret's, a kubelet token of the API server's audience, one of several
// audiences) is refused before it is sent anywhere. The receiver still verifies it
// (TokenReview).
func RequireAudience(token, audience string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a ServiceAccount token (a JWT)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("not a ServiceAccount token (a JWT): %w", err)
	}
	// The claims by their exact names: json's field matching ignores case, a verifier does not.
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return fmt.Errorf("not a ServiceAccount token (a JWT): %w", err)
	}
	for k := range claims {
		if k != "aud" && strings.EqualFold(k, "aud") {
			return fmt.Errorf("the token has a claim %q beside aud", k)
		}
	}
	var auds []string
	if raw, ok := claims["aud"]; ok {
		if err := json.Unmarshal(raw, &auds); err != nil {
			var one string
			if json.Unmarshal(raw, &one) == nil {
				auds = []string{one}
			}
		}
	}
	if len(auds) != 1 || auds[0] != audience {
		return fmt.Errorf("the token is for the audiences %v, not %s alone: the API server may take it, so a sidecar it is sent to could act as its owner there", auds, audience)
	}
	return nil
}
