package opampserver

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/protobufs"
	opamptypes "github.com/open-telemetry/opamp-go/server/types"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

// pushWorkers bounds the WebSocket sends in flight when a batch starts.
const pushWorkers = 16

func mustRequirement(key string) labels.Requirement {
	r, err := labels.NewRequirement(key, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return *r
}

// requiredComponents lists the component types a config uses, per kind. Configs reach the
// sidecar only after the manager validated them, so a parse error here means "no check".
func requiredComponents(body []byte) map[string][]string {
	cfg, err := collectorconfig.Parse(body)
	if err != nil {
		return nil
	}
	out := map[string][]string{}
	for kind, types := range cfg.UsedTypes() {
		out[string(kind)] = types
	}
	return out
}

// dispatchLoop rebuilds the view of namespaces whose objects changed and pushes to the
// WebSocket agents whose target changed. HTTP agents get theirs in the reply to their next
// poll.
func (s *Server) dispatchLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dirty.wake:
		}
		for ns := range s.dirty.take() {
			if err := s.world.Rebuild(ctx, ns); err != nil {
				s.log.Error(err, "rebuilding the view", "namespace", ns)
				s.dirty.add(ns, time.Second) // back off before retrying a failed rebuild
				continue
			}
			s.pushNamespace(ctx, ns)
		}
	}
}

// namespaceQueue holds the namespaces whose view must be rebuilt, and wakes the dispatch loop
// when one is added.
type namespaceQueue struct {
	mu   sync.Mutex
	set  map[string]bool
	wake chan struct{}
}

func newNamespaceQueue() namespaceQueue {
	return namespaceQueue{set: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// add queues ns and wakes the loop, at once or, to back off a failed rebuild, after a delay.
func (q *namespaceQueue) add(ns string, after time.Duration) {
	q.mu.Lock()
	q.set[ns] = true
	q.mu.Unlock()
	wake := func() {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	if after > 0 {
		time.AfterFunc(after, wake)
		return
	}
	wake()
}

// take empties the queue.
func (q *namespaceQueue) take() map[string]bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.set
	q.set = map[string]bool{}
	return out
}

type push struct {
	conn opamptypes.Connection
	msg  *protobufs.ServerToAgent
}

// pushNamespace offers every connected WebSocket agent of ns what it should run now.
func (s *Server) pushNamespace(ctx context.Context, ns string) {
	view := s.world.View(ns)
	now := s.clock.Now()
	var pushes []push
	s.registry.Each(func(a *fleet.Agent) {
		if a.Namespace != ns {
			return
		}
		t := view.Target(a, now)
		s.countDispatchOutcome(a, t)
		if !a.Connected || a.Conn == nil {
			return
		}
		var retryAt time.Time
		if t.Rollout != nil {
			retryAt = t.Rollout.RetryAt
		}
		if fleet.ShouldSend(a, t.Push, retryAt, now) {
			uid, err := uuid.Parse(a.UID)
			if err != nil {
				return // registered UIDs are 16 bytes, rendered as UUIDs
			}
			pushes = append(pushes, push{conn: a.Conn, msg: &protobufs.ServerToAgent{InstanceUid: uid[:], RemoteConfig: t.Push.Remote}})
		}
	})
	if len(pushes) == 0 {
		return
	}
	work := make(chan push)
	var wg sync.WaitGroup
	for range min(pushWorkers, len(pushes)) {
		wg.Go(func() {
			for p := range work {
				if err := p.conn.Send(ctx, p.msg); err == nil {
					s.metrics.dispatchLocal.Inc()
				}
			}
		})
	}
	for _, p := range pushes {
		work <- p
	}
	close(work)
	wg.Wait()
}

// countDispatchOutcome counts, once per agent and revision, admitted agents that cannot be
// pushed to here: denied by a policy, or without a live session.
func (s *Server) countDispatchOutcome(a *fleet.Agent, t fleet.Target) {
	if !t.Admitted {
		return
	}
	if t.Denied != "" && a.DeniedHash != t.Desired {
		a.DeniedHash = t.Desired
		s.metrics.policyDenied.WithLabelValues(t.Denied).Inc()
	}
	if t.Push != nil && !a.Connected && a.NoSessionHash != t.Desired {
		a.NoSessionHash = t.Desired
		s.metrics.dispatchNoSess.Inc()
	}
}
