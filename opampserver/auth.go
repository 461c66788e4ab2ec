package opampserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/fleet"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// tokenFingerprint derives a grant's name for peers from the token's digest: stable across
// replicas, useless to enroll with.
func tokenFingerprint(namespace string, digest [sha256.Size]byte) string {
	h := sha256.New()
	h.Write([]byte("ampora-enrollment-fingerprint\x00" + namespace + "\x00"))
	h.Write(digest[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// TokenStore maps enrollment tokens to namespaces. It keeps only token digests, and is
// rebuilt from the Secrets whenever one changes, so rotation needs no restart.
type TokenStore struct {
	mu     sync.RWMutex
	tokens map[[sha256.Size]byte]*fleet.Grant
}

// Lookup returns the grant of a token, or nil.
func (t *TokenStore) Lookup(token string) *fleet.Grant {
	d := sha256.Sum256([]byte(token))
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.tokens[d]
}

// Rebuild reads every labelled Secret. A token enrolls into the namespace of its Secret, with
// two guards against a value planted in another namespace by someone who learned it:
//   - a token that names its namespace (BoundToken, "ampora:<namespace>:<secret>") enrolls only
//     from a Secret of that namespace, whatever else holds it;
//   - of several Secrets in different namespaces that hold one value, the oldest decides; the
//     others are ignored, so a copy cannot take a token away from the namespace that had it
//     first (Secrets of one age in different namespaces leave the value enrolling nowhere).
//
// A token that is gone (its Secret deleted or unlabelled, its value changed) or now enrolls
// elsewhere has its grant revoked; Rebuild returns how many grants it revoked.
func (t *TokenStore) Rebuild(ctx context.Context, r client.Reader) (int, error) {
	var secrets corev1.SecretList
	if err := r.List(ctx, &secrets, client.HasLabels{readapi.LabelEnrollmentToken}); err != nil {
		return 0, err
	}
	// The first Secret of a value decides its namespace. Creation times have a resolution of a
	// second: namespaces whose Secrets of one value are equally old cannot be told apart, and
	// the value enrolls nowhere.
	type first struct {
		namespace string
		at        time.Time
		ambiguous bool
	}
	firsts := map[[sha256.Size]byte]*first{}
	for _, s := range secrets.Items {
		tok := s.Data[readapi.TokenKey]
		if len(tok) == 0 {
			continue
		}
		if ns, bound := BoundNamespace(string(tok)); bound && ns != s.Namespace {
			continue // a copy of another namespace's token
		}
		d, at := sha256.Sum256(tok), s.CreationTimestamp.Time
		switch f := firsts[d]; {
		case f == nil || at.Before(f.at):
			firsts[d] = &first{namespace: s.Namespace, at: at}
		case at.Equal(f.at) && s.Namespace != f.namespace:
			f.ambiguous = true
		}
	}
	next := map[[sha256.Size]byte]string{}
	for d, f := range firsts {
		if !f.ambiguous {
			next[d] = f.namespace
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	grants := make(map[[sha256.Size]byte]*fleet.Grant, len(next))
	for d, ns := range next {
		if old := t.tokens[d]; old != nil && old.Namespace() == ns {
			grants[d] = old
			continue
		}
		grants[d] = fleet.NewGrant(ns, tokenFingerprint(ns, d))
	}
	revoked := 0
	for d, old := range t.tokens {
		if grants[d] != old {
			old.Revoke()
			revoked++
		}
	}
	t.tokens = grants
	return revoked, nil
}

// boundTokenPrefix starts a token that names its namespace: ampora:<namespace>:<secret>.
const boundTokenPrefix = "ampora:"

// BoundToken makes a token that names namespace ns, around secret (random, such as 32 bytes of
// hex): only a Secret in ns can make it enroll.
func BoundToken(ns, secret string) string { return boundTokenPrefix + ns + ":" + secret }

// BoundNamespace is the namespace a token names, when it is a bound one.
func BoundNamespace(token string) (ns string, bound bool) {
	rest, ok := strings.CutPrefix(token, boundTokenPrefix)
	if !ok {
		return "", false
	}
	ns, secret, ok := strings.Cut(rest, ":")
	return ns, ok && ns != "" && secret != ""
}
