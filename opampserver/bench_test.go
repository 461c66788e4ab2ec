package opampserver

import (
	"context"
	"testing"

	"github.com/open-telemetry/opamp-go/protobufs"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

// benchView is a namespace of a few groups, one of them with an active rollout of cfg that
// checks components and push policies, as a busy namespace has.
func benchView(cfg *fleet.ConfigRef) []*fleet.GroupView {
	g := rolloutGroup(cfg)
	g.Rollout.Required = requiredComponents(cfg.Body)
	g.Policies = []fleetv1alpha1.PushPolicy{
		{Name: "frozen", Deny: fleetv1alpha1.DenyAlways,
			Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "frozen"}}},
		{Name: "business-hours", Deny: fleetv1alpha1.DenyInsideWindows,
			Selector: fleetv1alpha1.AgentSelector{MatchExpressions: []fleetv1alpha1.AttributeRequirement{
				{Key: fleetv1alpha1.AttributeServiceName, Operator: fleetv1alpha1.AttributeOpExists}}},
			Windows: []fleetv1alpha1.TimeWindow{{Start: "01:00", End: "02:00", TimeZone: "Europe/Berlin"}}},
	}
	groups := []*fleet.GroupView{g}
	for _, env := range []string{"dev", "staging", "edge"} {
		groups = append(groups, &fleet.GroupView{Name: env, Excluded: map[string]struct{}{},
			Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": env}}})
	}
	return groups
}

// BenchmarkHandleMessage measures one message of an agent already registered, in steady
// state: it runs the rollout's config and is offered nothing.
func BenchmarkHandleMessage(b *testing.B) {
	cfg := testConfig(collectorBody)
	tests := []struct {
		name string
		msg  func(uid []byte) *protobufs.AgentToServer
	}{
		{"heartbeat", func(uid []byte) *protobufs.AgentToServer { return heartbeat(uid, 0) }},
		{"remote_config_status_applied", func(uid []byte) *protobufs.AgentToServer {
			return status(uid, 0, cfg.Hash, applied, "")
		}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			s, _ := newTestServer(b)
			putView(s, testNamespace, benchView(cfg)...)
			ctx, sess, conn, uid := context.Background(), newSession(s, testNamespace, fleet.TransportWS), &fakeConn{}, testUID(9)
			first := withComponents(withStatus(describe(uid, 0, capsFull), cfg.Hash, applied), "components",
				map[string][]string{"receivers": {"otlp"}, "exporters": {"debug", "otlp"}, "processors": {"batch"}})
			first.Health = &protobufs.ComponentHealth{Healthy: true}
			if reply := sess.onMessage(ctx, conn, first); reply.RemoteConfig != nil || reply.Flags != 0 {
				b.Fatalf("setup: unexpected reply %v", reply)
			}
			msg := tt.msg(uid)
			b.ReportAllocs()
			for b.Loop() {
				msg.SequenceNum++
				if reply := sess.onMessage(ctx, conn, msg); reply.RemoteConfig != nil || reply.Flags != 0 || reply.ErrorResponse != nil {
					b.Fatalf("not steady: %v", reply)
				}
			}
		})
	}
}
