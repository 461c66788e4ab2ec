package opampserver

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	opamptypes "github.com/open-telemetry/opamp-go/server/types"

	"github.com/ampora-io/ampora/internal/periodic"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

// sessionSet is the open WebSocket sessions: counted against MaxConnections, closed on
// shutdown or when their token is revoked.
type sessionSet struct {
	// count is the sessions upgraded and not yet closed; it is exact where the map lags.
	count   atomic.Int64
	mu      sync.Mutex
	conns   map[opamptypes.Connection]*session
	closing bool
}

// add tracks an open session; one that opens while the server shuts down is closed at once.
func (t *sessionSet) add(c opamptypes.Connection, sess *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		_ = c.Disconnect()
		return
	}
	if t.conns == nil {
		t.conns = map[opamptypes.Connection]*session{}
	}
	t.conns[c] = sess
}

func (t *sessionSet) remove(c opamptypes.Connection) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// closeAll closes every open session (opamp-go's Stop does not), and every one opened later.
func (t *sessionSet) closeAll() {
	t.mu.Lock()
	t.closing = true
	conns := make([]opamptypes.Connection, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Disconnect()
	}
}

// closeRevoked ends what agents hold with revoked tokens: open WebSocket sessions are closed
// (the agent's reconnect is then refused), plain-HTTP agents count as disconnected at once
// (their next poll is refused).
func (s *Server) closeRevoked() {
	type cut struct {
		conn opamptypes.Connection
		sess *session
	}
	var cuts []cut
	s.sessions.mu.Lock()
	for c, sess := range s.sessions.conns {
		if sess.token.Revoked() {
			cuts = append(cuts, cut{c, sess})
		}
	}
	s.sessions.mu.Unlock()
	for _, c := range cuts {
		c.sess.revoke(c.conn)
	}
	now := s.clock.Now()
	s.registry.Each(func(a *fleet.Agent) {
		if a.Connected && a.Transport == fleet.TransportHTTP && a.Grant.Revoked() {
			a.MarkDisconnected(now)
		}
	})
	s.log.Info("enrollment tokens revoked: sessions closed", "sessions", len(cuts))
}

// sweepLoop marks silent HTTP agents disconnected and forgets long-disconnected agents.
func (s *Server) sweepLoop(ctx context.Context) {
	periodic.Every(ctx, s.clock, 5*time.Second, func() {
		now := s.clock.Now()
		s.registry.Each(func(a *fleet.Agent) {
			if a.Connected && a.Transport == fleet.TransportHTTP && now.Sub(a.LastSeen) > s.opts.HTTPAgentTimeout {
				a.MarkDisconnected(now)
			}
		})
		s.registry.Remove(func(a *fleet.Agent) bool {
			return !a.Connected && now.Sub(a.DisconnectedAt) > s.opts.DisconnectedRetention
		})
	})
}

// semaphore bounds concurrent work without blocking: TryAcquire fails when it is full.
type semaphore chan struct{}

func (s semaphore) TryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s semaphore) Release() { <-s }
