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
	"k8s.io/utils/clock"

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
		case <-s.wake:
		}
		s.dirtyMu.Lock()
		dirty := s.worldDirty
		s.worldDirty = map[string]bool{}
		s.dirtyMu.Unlock()
		for ns := range dirty {
			if err := s.world.Rebuild(ctx, ns); err != nil {
				s.log.Error(err, "rebuilding the view", "namespace", ns)
				s.markWorldDirtyNS(ns)
				continue
			}
			s.pushNamespace(ctx, ns)
		}
	}
}

func (s *Server) markWorldDirtyNS(ns string) {
	s.dirtyMu.Lock()
	s.worldDirty[ns] = true
	s.dirtyMu.Unlock()
	go func() {
		time.Sleep(time.Second) // back off before retrying a failed rebuild
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}()
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

// every calls fn each period of clk until ctx ends, the first time one period from now.
func every(ctx context.Context, clk clock.WithTicker, period time.Duration, fn func()) {
	t := clk.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		fn()
	}
}

// sweepLoop marks silent HTTP agents disconnected and forgets long-disconnected agents.
func (s *Server) sweepLoop(ctx context.Context) {
	every(ctx, s.clock, 5*time.Second, func() {
		now := s.clock.Now()
		s.registry.Each(func(a *fleet.Agent) {
			if a.Connected && a.Transport == transportHTTP && now.Sub(a.LastSeen) > s.opts.HTTPAgentTimeout {
				a.MarkDisconnected(now)
			}
		})
		s.registry.Remove(func(a *fleet.Agent) bool {
			return !a.Connected && now.Sub(a.DisconnectedAt) > s.opts.DisconnectedRetention
		})
	})
}
