package opampserver

import (
	"context"
	"crypto/sha256"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// LabelEnrollmentToken marks the Secrets whose "token" key enrolls agents into the
	// Secret's namespace.
	LabelEnrollmentToken = "fleet.ampora.io/enrollment-token"
	// TokenKey is the Secret data key that holds the token.
	TokenKey = "token"
)

// TokenStore maps enrollment tokens to namespaces. It keeps only token digests, and is
// rebuilt from the Secrets whenever one changes, so rotation needs no restart.
type TokenStore struct {
	mu     sync.RWMutex
	tokens map[[sha256.Size]byte]string
}

// Lookup returns the namespace a token enrolls into, or "".
func (t *TokenStore) Lookup(token string) string {
	d := sha256.Sum256([]byte(token))
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.tokens[d]
}

// Rebuild reads every labelled Secret. A token that two namespaces share enrolls nowhere:
// it cannot say which namespace an agent belongs to.
func (t *TokenStore) Rebuild(ctx context.Context, r client.Reader) error {
	var secrets corev1.SecretList
	if err := r.List(ctx, &secrets, client.HasLabels{LabelEnrollmentToken}); err != nil {
		return err
	}
	next := map[[sha256.Size]byte]string{}
	shared := map[[sha256.Size]byte]bool{}
	for _, s := range secrets.Items {
		tok := s.Data[TokenKey]
		if len(tok) == 0 {
			continue
		}
		d := sha256.Sum256(tok)
		if ns, ok := next[d]; ok && ns != s.Namespace {
			shared[d] = true
		}
		next[d] = s.Namespace
	}
	for d := range shared {
		delete(next, d)
	}
	t.mu.Lock()
	t.tokens = next
	t.mu.Unlock()
	return nil
}
