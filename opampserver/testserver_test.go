package opampserver

import (
	"context"
	"net"
	"testing"

	"github.com/go-logr/logr"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/ampora-io/ampora/opampserver/fleet/fleettest"
	"github.com/ampora-io/ampora/opampserver/replica"
)

// testNamespace is the namespace test sessions are enrolled into.
const testNamespace = "prod"

// newTestServer builds a Server without an API server: an empty world (no namespace has a
// view until putView adds one), a fresh metrics registry and a fake clock at testStart.
func newTestServer(tb testing.TB) (*Server, *testingclock.FakeClock) {
	tb.Helper()
	clk := testingclock.NewFakeClock(testStart)
	opts := Options{Replica: "replica-0", Namespace: "ampora-system", Clock: clk, Registry: prometheus.NewRegistry()}
	opts.defaults()
	s := newServer(opts, nil)
	s.replica = replica.New(replica.Options{Replica: opts.Replica, Registry: s.registry, World: s.world,
		Clock: clk, Logger: logr.Discard(), Metrics: opts.Registry})
	return s, clk
}

// newSession opens a session on s as onConnecting would, enrolled into ns.
func newSession(s *Server, ns, transport string) *session {
	return &session{srv: s, namespace: ns, transport: transport}
}

// The fleet's fixtures, under the names these tests use.
var (
	testStart    = fleettest.Start
	testUID      = fleettest.UID
	testConfig   = fleettest.Config
	rolloutGroup = fleettest.RolloutGroup
)

const (
	capsFull     = fleettest.CapsFull
	capsReadOnly = fleettest.CapsReadOnly
)

// putView makes groups the view of ns.
func putView(s *Server, ns string, groups ...*fleet.GroupView) {
	s.world.SetView(ns, &fleet.NSView{Groups: groups})
}

// fakeConn is a WebSocket connection that records what is sent on it.
type fakeConn struct {
	sent         []*protobufs.ServerToAgent
	disconnected bool
}

func (c *fakeConn) Connection() net.Conn { return nil }

func (c *fakeConn) Send(_ context.Context, m *protobufs.ServerToAgent) error {
	c.sent = append(c.sent, m)
	return nil
}

func (c *fakeConn) Disconnect() error {
	c.disconnected = true
	return nil
}

func strAttr(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}

// describe is the first message of an agent: its description and capabilities.
func describe(uid []byte, seq, caps uint64) *protobufs.AgentToServer {
	return &protobufs.AgentToServer{
		InstanceUid:  uid,
		SequenceNum:  seq,
		Capabilities: caps,
		AgentDescription: &protobufs.AgentDescription{
			IdentifyingAttributes:    []*protobufs.KeyValue{strAttr("service.name", "otelcol-contrib")},
			NonIdentifyingAttributes: []*protobufs.KeyValue{strAttr("host.name", "node-1")},
		},
	}
}

// heartbeat is a message that carries nothing new.
func heartbeat(uid []byte, seq uint64) *protobufs.AgentToServer {
	return &protobufs.AgentToServer{InstanceUid: uid, SequenceNum: seq, Capabilities: capsFull}
}

// status is a RemoteConfigStatus report for hash.
func status(uid []byte, seq uint64, hash string, st protobufs.RemoteConfigStatuses, errMsg string) *protobufs.AgentToServer {
	raw, _ := fleet.HexDecode(hash)
	return &protobufs.AgentToServer{InstanceUid: uid, SequenceNum: seq, Capabilities: capsFull,
		RemoteConfigStatus: &protobufs.RemoteConfigStatus{LastRemoteConfigHash: raw, Status: st, ErrorMessage: errMsg}}
}

// agentCopy returns a copy of the agent of uid, and whether it is registered.
func agentCopy(s *Server, uid []byte) (fleet.Agent, bool) {
	var out fleet.Agent
	ok := s.registry.Do(fleet.UIDString(uid), false, func(a *fleet.Agent) { out = *a })
	return out, ok
}

func hasFlag(reply *protobufs.ServerToAgent, f protobufs.ServerToAgentFlags) bool {
	return reply.Flags&uint64(f) != 0
}

// errType names the error a reply carries, "" for none.
func errType(reply *protobufs.ServerToAgent) string {
	if reply.ErrorResponse == nil {
		return ""
	}
	return reply.ErrorResponse.Type.String()
}

// counterValue reads a counter.
func counterValue(tb testing.TB, c prometheus.Counter) float64 {
	tb.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
