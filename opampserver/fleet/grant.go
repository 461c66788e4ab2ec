package fleet

import "sync/atomic"

// Grant is one enrollment token's grant: the namespace it enrolls into. Sessions keep a pointer to
// the grant they were opened with; it is marked revoked when the token stops enrolling into
// that namespace, so that they can be found and closed.
//
// A grant is also the principal an instance UID is bound to: agents counts the registry
// records bound to it (capped by Options.MaxAgentsPerToken), and fingerprint names it to peer
// replicas without revealing the token (handover notices).
type Grant struct {
	namespace   string
	fingerprint string
	revoked     atomic.Bool
	agents      atomic.Int64
}

// Revoked says whether the token no longer enrolls into the namespace (nil: no token).
func (e *Grant) Revoked() bool { return e != nil && e.revoked.Load() }

// Reserve counts one more record bound to the grant, unless max are bound already (max <= 0:
// no cap). A nil grant (tests' sessions without a token) is not capped.
func (e *Grant) Reserve(max int) bool {
	if e == nil {
		return true
	}
	for {
		n := e.agents.Load()
		if max > 0 && n >= int64(max) {
			return false
		}
		if e.agents.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release uncounts a record bound to the grant.
func (e *Grant) Release() {
	if e != nil {
		e.agents.Add(-1)
	}
}

// Fingerprint names the grant to peers; "" for a nil grant.
func (e *Grant) Fingerprint() string {
	if e == nil {
		return ""
	}
	return e.fingerprint
}

// NewGrant is the grant of a token of namespace, named fingerprint to peers.
func NewGrant(namespace, fingerprint string) *Grant {
	return &Grant{namespace: namespace, fingerprint: fingerprint}
}

// Namespace is the namespace the grant enrolls into.
func (e *Grant) Namespace() string { return e.namespace }

// Revoke marks the grant revoked: its sessions are to be closed.
func (e *Grant) Revoke() { e.revoked.Store(true) }

// Agents counts the registry records bound to the grant.
func (e *Grant) Agents() int64 { return e.agents.Load() }
