package opampserver

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/ampora-io/ampora/opampserver/fleet/fleettest"
)

const collectorBody = fleettest.CollectorBody

var (
	applied  = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
	applying = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING
	failed   = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED

	badRequest  = protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest.String()
	unavailable = protobufs.ServerErrorResponseType_ServerErrorResponseType_Unavailable.String()

	flagFullState  = protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState
	flagComponents = protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportAvailableComponents
)

func withCaps(m *protobufs.AgentToServer, caps uint64) *protobufs.AgentToServer {
	m.Capabilities = caps
	return m
}

func withStatus(m *protobufs.AgentToServer, hash string, st protobufs.RemoteConfigStatuses) *protobufs.AgentToServer {
	raw, _ := fleet.HexDecode(hash)
	m.RemoteConfigStatus = &protobufs.RemoteConfigStatus{LastRemoteConfigHash: raw, Status: st}
	return m
}

func withComponents(m *protobufs.AgentToServer, hash string, kinds map[string][]string) *protobufs.AgentToServer {
	ac := &protobufs.AvailableComponents{Hash: []byte(hash)}
	if kinds != nil {
		ac.Components = map[string]*protobufs.ComponentDetails{}
		for kind, types := range kinds {
			d := &protobufs.ComponentDetails{SubComponentMap: map[string]*protobufs.ComponentDetails{}}
			for _, typ := range types {
				d.SubComponentMap[typ] = &protobufs.ComponentDetails{}
			}
			ac.Components[kind] = d
		}
	}
	m.AvailableComponents = ac
	return m
}

// step is one message an agent sends, on one of the test case's sessions, and what the reply
// must say.
type step struct {
	name string
	// session picks the session that sends msg; sessions are opened on first use, in ns
	// (testNamespace when empty), over transport (WebSocket when empty).
	session   int
	ns        string
	transport string
	// advance moves the fake clock before the message; before changes the server or the
	// agent's group.
	advance time.Duration
	before  func(s *Server, g *fleet.GroupView)
	msg     *protobufs.AgentToServer

	fullState  bool   // the reply asks for the full state
	components bool   // the reply asks for the available components
	offer      bool   // the reply carries the rollout's config
	err        string // the reply's error type, "" for none
	check      func(t *testing.T, s *Server, reply *protobufs.ServerToAgent)
}

func TestOnMessage(t *testing.T) {
	cfg := testConfig(collectorBody)
	old := testConfig("receivers: {}\n")
	uid := testUID(1)
	fullState := func(seq uint64) *protobufs.AgentToServer {
		m := describe(uid, seq, capsFull)
		m.Health = &protobufs.ComponentHealth{Healthy: true}
		return m
	}
	disconnect := func(seq uint64) *protobufs.AgentToServer {
		m := heartbeat(uid, seq)
		m.AgentDisconnect = &protobufs.AgentDisconnect{}
		return m
	}
	registered := func(want int) func(*testing.T, *Server, *protobufs.ServerToAgent) {
		return func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
			if n := s.registry.Len(); n != want {
				t.Errorf("registry holds %d agents, want %d", n, want)
			}
		}
	}

	tests := []struct {
		name  string
		steps []step
	}{
		{"unknown agent without a description is asked for its full state", []step{
			{name: "heartbeat", msg: heartbeat(uid, 1), fullState: true},
			{name: "full state", msg: fullState(2), offer: true},
			{name: "heartbeat after", msg: heartbeat(uid, 3)},
		}},
		{"unknown agent with a description is not asked for its full state", []step{
			{name: "description", msg: describe(uid, 0, capsFull), offer: true},
			{name: "heartbeat", msg: heartbeat(uid, 1)},
			{name: "heartbeat", msg: heartbeat(uid, 2)},
		}},
		{"a sequence gap on a live session asks for the full state", []step{
			{name: "description", msg: describe(uid, 0, capsFull), offer: true},
			{name: "consecutive", msg: heartbeat(uid, 1)},
			{name: "gap", msg: heartbeat(uid, 3), fullState: true},
			{name: "consecutive after the gap", msg: heartbeat(uid, 4)},
			{name: "repeated number", msg: heartbeat(uid, 4), fullState: true},
			{name: "number going back", msg: heartbeat(uid, 2), fullState: true},
		}},
		{"the first message of a new session is no gap", []step{
			{name: "description", msg: describe(uid, 0, capsFull), offer: true},
			{name: "reconnect", session: 1, msg: heartbeat(uid, 17), offer: true},
			{name: "consecutive", session: 1, msg: heartbeat(uid, 18)},
		}},
		{"an instance_uid that is not 16 bytes is refused", []step{
			{name: "15 bytes", msg: describe(testUID(1)[:15], 0, capsFull), err: badRequest},
			{name: "17 bytes", msg: describe(append(testUID(1), 1), 0, capsFull), err: badRequest},
			{name: "empty", msg: describe(nil, 0, capsFull), err: badRequest, check: registered(0)},
		}},
		{"a UID enrolled in another namespace is left alone, the newcomer served under a new one", []step{
			{name: "enrolled", msg: describe(uid, 0, capsFull), offer: true},
			{name: "other namespace", session: 1, ns: "staging", advance: time.Minute,
				msg: &protobufs.AgentToServer{InstanceUid: uid, SequenceNum: 9, Capabilities: capsReadOnly,
					AgentDescription:   &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{strAttr("service.name", "intruder")}},
					RemoteConfigStatus: &protobufs.RemoteConfigStatus{Status: failed, ErrorMessage: "x"},
					AgentDisconnect:    &protobufs.AgentDisconnect{}},
				check: func(t *testing.T, s *Server, reply *protobufs.ServerToAgent) {
					a, _ := agentCopy(s, uid)
					if a.Namespace != testNamespace || a.ServiceName() != "otelcol-contrib" || a.Capabilities != capsFull ||
						a.LastSequenceNum != 0 || !a.Connected || !a.LastSeen.Equal(testStart) || a.StatusHash != "" ||
						a.Status != 0 || a.ConnSeq != 1 {
						t.Errorf("agent modified: %+v", a)
					}
					newUID := reply.GetAgentIdentification().GetNewInstanceUid()
					if n, ok := agentCopy(s, newUID); !ok || n.Namespace != "staging" || n.ServiceName() != "intruder" {
						t.Errorf("the newcomer is not served under its new UID: %+v", n)
					}
					if got := counterValue(t, s.metrics.uidsReassigned.WithLabelValues(reassignedNamespace)); got != 1 {
						t.Errorf("reassigned{reason=namespace} = %v, want 1", got)
					}
				}},
			{name: "own namespace carries on, its offer due again", msg: heartbeat(uid, 1), offer: true},
		}},
		{"an agent without AcceptsRemoteConfig is never offered a config", []step{
			{name: "description", msg: describe(uid, 0, capsReadOnly)},
			{name: "heartbeat", advance: fleet.ResendAfter, msg: withCaps(heartbeat(uid, 1), capsReadOnly)},
			{name: "new session", session: 1, msg: withCaps(heartbeat(uid, 2), capsReadOnly),
				check: func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
					if a, _ := agentCopy(s, uid); a.OfferedHash != "" || !a.OfferedAt.IsZero() {
						t.Errorf("offer recorded: %q at %v", a.OfferedHash, a.OfferedAt)
					}
				}},
		}},
		{"an agent that reports APPLIED for the desired hash is not sent it", []step{
			{name: "description", msg: withStatus(describe(uid, 0, capsFull), cfg.Hash, applied)},
			{name: "heartbeat", advance: fleet.ResendAfter, msg: heartbeat(uid, 1)},
			{name: "new session", session: 1, msg: heartbeat(uid, 2)},
		}},
		{"an agent that reports APPLYING for the desired hash is not sent it", []step{
			{name: "description", msg: withStatus(describe(uid, 0, capsFull), cfg.Hash, applying)},
			{name: "new session", session: 1, advance: fleet.ResendAfter, msg: heartbeat(uid, 1)},
		}},
		{"an agent that reports APPLIED for another hash is sent the desired one", []step{
			{name: "description", msg: withStatus(describe(uid, 0, capsFull), old.Hash, applied), offer: true},
		}},
		{"an offer is not re-sent on heartbeats of one session, but on a new session", []step{
			{name: "description", msg: describe(uid, 0, capsFull), offer: true},
			{name: "heartbeat", msg: heartbeat(uid, 1)},
			{name: "heartbeat later", advance: 10 * time.Second, msg: heartbeat(uid, 2)},
			{name: "new session", session: 1, msg: heartbeat(uid, 3), offer: true},
			{name: "heartbeat on it", session: 1, msg: heartbeat(uid, 4),
				check: func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
					if a, _ := agentCopy(s, uid); a.OfferedHash != cfg.Hash || !a.OfferedAt.Equal(testStart) {
						t.Errorf("offer = %q at %v, want %q at the first offer %v", a.OfferedHash, a.OfferedAt, cfg.Hash, testStart)
					}
				}},
		}},
		{"an unanswered offer is re-sent after resendAfter", []step{
			{name: "description", msg: describe(uid, 0, capsFull), offer: true},
			{name: "just before", advance: fleet.ResendAfter - time.Second, msg: heartbeat(uid, 1)},
			{name: "at resendAfter", advance: time.Second, msg: heartbeat(uid, 2), offer: true},
			{name: "right after", advance: time.Second, msg: heartbeat(uid, 3)},
		}},
		{"a FAILED hash is not re-offered until a retry later than the failure", []step{
			{name: "description", msg: describe(uid, 0, capsFull), offer: true},
			{name: "FAILED", advance: 5 * time.Second, msg: status(uid, 1, cfg.Hash, failed, "unknown exporter")},
			{name: "new session", session: 1, advance: fleet.ResendAfter, msg: heartbeat(uid, 2)},
			{name: "retry before the failure", session: 1, msg: heartbeat(uid, 3),
				before: func(s *Server, g *fleet.GroupView) { g.Rollout.RetryAt = testStart.Add(time.Second) }},
			{name: "retry at the failure", session: 1, msg: heartbeat(uid, 4),
				before: func(s *Server, g *fleet.GroupView) { g.Rollout.RetryAt = testStart.Add(5 * time.Second) }},
			{name: "retry after the failure", session: 1, advance: time.Second, msg: heartbeat(uid, 5), offer: true,
				before: func(s *Server, g *fleet.GroupView) { g.Rollout.RetryAt = s.clock.Now() }},
			{name: "heartbeat after the retry", session: 1, msg: heartbeat(uid, 6)},
		}},
		{"a retry re-offers at once, on the session the failed offer went out on", []step{
			{name: "description", msg: describe(uid, 0, capsFull), offer: true},
			{name: "FAILED", advance: 5 * time.Second, msg: status(uid, 1, cfg.Hash, failed, "unknown exporter")},
			{name: "retry", advance: time.Second, msg: heartbeat(uid, 2), offer: true,
				before: func(s *Server, g *fleet.GroupView) { g.Rollout.RetryAt = s.clock.Now() },
				check: func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
					a, _ := agentCopy(s, uid)
					if _, ok := a.FailedFor(cfg.Hash); ok {
						t.Error("the failure is still recorded after the retry offer")
					}
					if want := testStart.Add(6 * time.Second); !a.OfferedAt.Equal(want) {
						t.Errorf("OfferedAt = %v, want the retry's offer at %v", a.OfferedAt, want)
					}
				}},
			{name: "heartbeat after the retry", msg: heartbeat(uid, 3)},
		}},
		{"available components are asked for when only their hash arrived", []step{
			{name: "hash only", msg: withComponents(describe(uid, 0, capsFull), "h1", nil), offer: true, components: true},
			{name: "full map", msg: withComponents(heartbeat(uid, 1), "h1", map[string][]string{"receivers": {"otlp"}, "exporters": {"debug"}})},
			{name: "same hash only", msg: withComponents(heartbeat(uid, 2), "h1", nil)},
			{name: "same hash on a new session", session: 1, msg: withComponents(heartbeat(uid, 3), "h1", nil), offer: true},
			{name: "new hash only", session: 1, msg: withComponents(heartbeat(uid, 4), "h2", nil), components: true},
		}},
		{"a full inflight semaphore answers UNAVAILABLE with RetryInfo", []step{
			{name: "overloaded", msg: describe(uid, 0, capsFull), err: unavailable,
				before: func(s *Server, _ *fleet.GroupView) {
					for s.inflight.TryAcquire() {
					}
				},
				check: func(t *testing.T, s *Server, reply *protobufs.ServerToAgent) {
					if got := reply.ErrorResponse.GetRetryInfo().GetRetryAfterNanoseconds(); got != uint64(retryAfter) {
						t.Errorf("RetryAfterNanoseconds = %d, want %d", got, uint64(retryAfter))
					}
					registered(0)(t, s, reply)
				}},
			{name: "capacity again", msg: describe(uid, 0, capsFull), offer: true,
				before: func(s *Server, _ *fleet.GroupView) {
					for range cap(s.inflight) {
						s.inflight.Release()
					}
				},
				check: func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
					if n := len(s.inflight); n != 0 {
						t.Errorf("%d inflight slots still held after the message", n)
					}
				}},
		}},
		{"AgentDisconnect marks the agent disconnected", []step{
			{name: "description", msg: describe(uid, 0, capsFull), offer: true},
			{name: "disconnect", advance: time.Second, msg: disconnect(1),
				check: func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
					a, _ := agentCopy(s, uid)
					at := testStart.Add(time.Second)
					if a.Connected || a.Conn != nil || !a.DisconnectedAt.Equal(at) || len(a.Disconnects) != 1 {
						t.Errorf("after AgentDisconnect: connected %v, conn %v, disconnected at %v, %d disconnects",
							a.Connected, a.Conn, a.DisconnectedAt, len(a.Disconnects))
					}
				}},
			{name: "reconnect", session: 1, advance: time.Second, msg: heartbeat(uid, 2), offer: true,
				check: func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
					if a, _ := agentCopy(s, uid); !a.Connected || !a.ConnectedSince.Equal(testStart.Add(2*time.Second)) {
						t.Errorf("after reconnecting: connected %v since %v", a.Connected, a.ConnectedSince)
					}
				}},
		}},
		{"an agent of a namespace without a view is offered nothing", []step{
			{name: "description", ns: "dev", msg: describe(uid, 0, capsFull), check: registered(1)},
		}},
		{"a plain-HTTP agent stays connected since its first poll", []step{
			{name: "first poll", transport: fleet.TransportHTTP, msg: describe(uid, 0, capsFull), offer: true},
			{name: "second poll", session: 1, transport: fleet.TransportHTTP, advance: fleet.ResendAfter, msg: heartbeat(uid, 1), offer: true,
				check: func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
					a, _ := agentCopy(s, uid)
					if a.Transport != fleet.TransportHTTP || a.Conn != nil || !a.ConnectedSince.Equal(testStart) {
						t.Errorf("transport %s, conn %v, connected since %v; want http, none, %v", a.Transport, a.Conn, a.ConnectedSince, testStart)
					}
				}},
		}},
		{"an agent that moves from WebSocket to plain HTTP keeps no WebSocket", []step{
			{name: "WebSocket", msg: describe(uid, 0, capsFull), offer: true},
			{name: "HTTP poll", session: 1, transport: fleet.TransportHTTP, advance: time.Second, msg: heartbeat(uid, 1), offer: true,
				check: func(t *testing.T, s *Server, _ *protobufs.ServerToAgent) {
					if a, _ := agentCopy(s, uid); a.Conn != nil || a.Transport != fleet.TransportHTTP || !a.ConnectedSince.Equal(testStart.Add(time.Second)) {
						t.Errorf("transport %s, conn %v, connected since %v", a.Transport, a.Conn, a.ConnectedSince)
					}
				}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newTestServer(t)
			g := rolloutGroup(cfg)
			putView(s, testNamespace, g)
			sessions := map[int]*session{}
			conns := map[int]*fakeConn{}
			for _, st := range tt.steps {
				sess, ok := sessions[st.session]
				if !ok {
					ns, transport := st.ns, st.transport
					if ns == "" {
						ns = testNamespace
					}
					if transport == "" {
						transport = fleet.TransportWS
					}
					// The agent opens a new session once its earlier ones ended: a session
					// while another of its principal is open is a duplicate (TestDuplicateUID).
					for i, old := range sessions {
						if old.namespace == ns {
							old.onClose(conns[i])
							delete(sessions, i)
						}
					}
					sess, conns[st.session] = newSession(s, ns, transport), &fakeConn{}
					sess.onConnected(context.Background(), conns[st.session])
					sessions[st.session] = sess
				}
				clk.Step(st.advance)
				if st.before != nil {
					st.before(s, g)
				}
				reply := sess.onMessage(context.Background(), conns[st.session], st.msg)
				if reply == nil {
					t.Fatalf("%s: nil reply", st.name)
				}
				if string(reply.InstanceUid) != string(st.msg.InstanceUid) {
					t.Errorf("%s: reply instance_uid %x, want %x", st.name, reply.InstanceUid, st.msg.InstanceUid)
				}
				if got := hasFlag(reply, flagFullState); got != st.fullState {
					t.Errorf("%s: ReportFullState = %v, want %v", st.name, got, st.fullState)
				}
				if got := hasFlag(reply, flagComponents); got != st.components {
					t.Errorf("%s: ReportAvailableComponents = %v, want %v", st.name, got, st.components)
				}
				if got := reply.RemoteConfig != nil; got != st.offer {
					t.Errorf("%s: offered a config = %v, want %v", st.name, got, st.offer)
				} else if got && string(reply.RemoteConfig.ConfigHash) != string(cfg.Remote.ConfigHash) {
					t.Errorf("%s: offered config hash %x, want %s", st.name, reply.RemoteConfig.ConfigHash, cfg.Hash)
				}
				if got := errType(reply); got != st.err {
					t.Errorf("%s: error %q, want %q", st.name, got, st.err)
				}
				if st.check != nil {
					st.check(t, s, reply)
				}
			}
		})
	}
}

func TestOnMessageAttributes(t *testing.T) {
	kv := func(k string, v *protobufs.AnyValue) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: v}
	}
	str := func(v string) *protobufs.AnyValue {
		return &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}
	}
	i64 := func(v int64) *protobufs.AnyValue {
		return &protobufs.AnyValue{Value: &protobufs.AnyValue_IntValue{IntValue: v}}
	}
	boolean := func(v bool) *protobufs.AnyValue {
		return &protobufs.AnyValue{Value: &protobufs.AnyValue_BoolValue{BoolValue: v}}
	}
	double := func(v float64) *protobufs.AnyValue {
		return &protobufs.AnyValue{Value: &protobufs.AnyValue_DoubleValue{DoubleValue: v}}
	}

	tests := []struct {
		name                     string
		identifying, nonIdentity []*protobufs.KeyValue
		want                     map[string]string
	}{
		{"string values",
			[]*protobufs.KeyValue{kv("service.name", str("otelcol")), kv("service.instance.id", str("0b7c"))},
			[]*protobufs.KeyValue{kv("host.name", str("node-1"))},
			map[string]string{"service.name": "otelcol", "service.instance.id": "0b7c", "host.name": "node-1"}},
		{"int values", nil,
			[]*protobufs.KeyValue{kv("replicas", i64(42)), kv("offset", i64(-7)), kv("zero", i64(0))},
			map[string]string{"replicas": "42", "offset": "-7", "zero": "0"}},
		{"bool values", nil,
			[]*protobufs.KeyValue{kv("canary", boolean(true)), kv("legacy", boolean(false))},
			map[string]string{"canary": "true", "legacy": "false"}},
		{"double values", nil,
			[]*protobufs.KeyValue{kv("ratio", double(0.25)), kv("whole", double(3)), kv("big", double(1e21)), kv("neg", double(-1.5))},
			map[string]string{"ratio": "0.25", "whole": "3", "big": "1e+21", "neg": "-1.5"}},
		{"values without a string form are empty", nil,
			[]*protobufs.KeyValue{kv("nil", nil), kv("unset", &protobufs.AnyValue{}),
				kv("bytes", &protobufs.AnyValue{Value: &protobufs.AnyValue_BytesValue{BytesValue: []byte("x")}}),
				kv("array", &protobufs.AnyValue{Value: &protobufs.AnyValue_ArrayValue{ArrayValue: &protobufs.ArrayValue{}}})},
			map[string]string{"nil": "", "unset": "", "bytes": "", "array": ""}},
		{"identifying and non-identifying attributes are kept alike; the later wins a shared key",
			[]*protobufs.KeyValue{kv("service.name", str("otelcol")), kv("env", str("a"))},
			[]*protobufs.KeyValue{kv("env", str("b"))},
			map[string]string{"service.name": "otelcol", "env": "b"}},
		{"no attributes", nil, nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t)
			sess, conn, uid := newSession(s, testNamespace, fleet.TransportWS), &fakeConn{}, testUID(2)
			sess.onMessage(context.Background(), conn, &protobufs.AgentToServer{InstanceUid: uid, Capabilities: capsFull,
				AgentDescription: &protobufs.AgentDescription{IdentifyingAttributes: tt.identifying, NonIdentifyingAttributes: tt.nonIdentity}})
			a, _ := agentCopy(s, uid)
			if !maps.Equal(a.Attributes, tt.want) {
				t.Errorf("attributes = %v, want %v", a.Attributes, tt.want)
			}
			// A message without a description keeps them.
			sess.onMessage(context.Background(), conn, heartbeat(uid, 1))
			if a, _ := agentCopy(s, uid); !maps.Equal(a.Attributes, tt.want) {
				t.Errorf("attributes after a heartbeat = %v, want %v", a.Attributes, tt.want)
			}
		})
	}
}

func TestOnMessageAttributeBounds(t *testing.T) {
	many := make([]*protobufs.KeyValue, 0, 2*fleet.MaxAttributes)
	for i := range 2 * fleet.MaxAttributes {
		many = append(many, strAttr("attr."+strconv.Itoa(i), "v"))
	}
	longKey := strings.Repeat("k", fleet.MaxAttributeKeyLen+1)
	okKey := strings.Repeat("k", fleet.MaxAttributeKeyLen)
	longValue := strings.Repeat("é", fleet.MaxAttributeValueLen+10)

	tests := []struct {
		name  string
		attrs []*protobufs.KeyValue
		check func(t *testing.T, got map[string]string)
	}{
		{"at most fleet.MaxAttributes, identifying ones first", append([]*protobufs.KeyValue{strAttr("service.name", "otelcol")}, many...),
			func(t *testing.T, got map[string]string) {
				if len(got) != fleet.MaxAttributes || got["service.name"] != "otelcol" {
					t.Errorf("kept %d attributes (service.name %q), want %d with service.name", len(got), got["service.name"], fleet.MaxAttributes)
				}
			}},
		{"a key longer than any selector can name is dropped", []*protobufs.KeyValue{strAttr(longKey, "v"), strAttr(okKey, "v")},
			func(t *testing.T, got map[string]string) {
				if _, ok := got[longKey]; ok || got[okKey] != "v" {
					t.Errorf("kept keys %v", shortKeys(got))
				}
			}},
		{"a long value is cut on a character boundary", []*protobufs.KeyValue{strAttr("service.name", longValue)},
			func(t *testing.T, got map[string]string) {
				v := got["service.name"]
				if want := strings.Repeat("é", fleet.MaxAttributeValueLen); v != want {
					t.Errorf("value of %d bytes, want %d characters", len(v), fleet.MaxAttributeValueLen)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t)
			uid := testUID(3)
			newSession(s, testNamespace, fleet.TransportWS).onMessage(context.Background(), &fakeConn{}, &protobufs.AgentToServer{
				InstanceUid: uid, Capabilities: capsFull,
				AgentDescription: &protobufs.AgentDescription{IdentifyingAttributes: tt.attrs[:1], NonIdentifyingAttributes: tt.attrs[1:]}})
			a, _ := agentCopy(s, uid)
			tt.check(t, a.Attributes)
		})
	}
}

// shortKeys lists the keys of m, each cut to a few characters for an error message.
func shortKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k[:min(len(k), 8)]+"…")
	}
	return out
}

func TestOnMessageEffectiveConfigHash(t *testing.T) {
	file := func(body string) *protobufs.AgentConfigFile { return &protobufs.AgentConfigFile{Body: []byte(body)} }
	tests := []struct {
		name  string
		files map[string]*protobufs.AgentConfigFile
		want  string
	}{
		{"the \"\" entry", map[string]*protobufs.AgentConfigFile{"": file(collectorBody)}, collectorconfig.Hash([]byte(collectorBody))},
		{"the \"\" entry wins over others", map[string]*protobufs.AgentConfigFile{"": file("a"), "extra.yaml": file("b")}, collectorconfig.Hash([]byte("a"))},
		{"the only entry", map[string]*protobufs.AgentConfigFile{"collector.yaml": file("b")}, collectorconfig.Hash([]byte("b"))},
		{"several entries joined in name order", map[string]*protobufs.AgentConfigFile{"b.yaml": file("2"), "a.yaml": file("1")}, collectorconfig.Hash([]byte("12"))},
		{"an empty map", map[string]*protobufs.AgentConfigFile{}, collectorconfig.Hash(nil)},
		{"a nil file", map[string]*protobufs.AgentConfigFile{"": nil}, collectorconfig.Hash(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t)
			sess, conn, uid := newSession(s, testNamespace, fleet.TransportWS), &fakeConn{}, testUID(4)
			msg := describe(uid, 0, capsFull)
			msg.EffectiveConfig = &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: tt.files}}
			sess.onMessage(context.Background(), conn, msg)
			if a, _ := agentCopy(s, uid); a.EffectiveHash != tt.want {
				t.Errorf("EffectiveHash = %s, want %s", a.EffectiveHash, tt.want)
			}
			sess.onMessage(context.Background(), conn, heartbeat(uid, 1))
			if a, _ := agentCopy(s, uid); a.EffectiveHash != tt.want {
				t.Errorf("EffectiveHash after a heartbeat = %s, want it kept (%s)", a.EffectiveHash, tt.want)
			}
		})
	}
}

func TestOnMessageReportBounds(t *testing.T) {
	uid := testUID(5)
	tests := []struct {
		name  string
		msgs  func() []*protobufs.AgentToServer
		check func(t *testing.T, a fleet.Agent)
	}{
		{"a long error message is cut on a character boundary", func() []*protobufs.AgentToServer {
			return []*protobufs.AgentToServer{status(uid, 0, testConfig("x").Hash, failed, "ab"+strings.Repeat("€", fleet.MaxErrorMessageBytes))}
		}, func(t *testing.T, a fleet.Agent) {
			msg, _ := a.FailedFor(testConfig("x").Hash)
			for name, s := range map[string]string{"StatusError": a.StatusError, "failure": msg} {
				if len(s) > fleet.MaxErrorMessageBytes || !utf8ValidPrefix(s, "ab€") {
					t.Errorf("%s: %d bytes, valid %v", name, len(s), utf8ValidPrefix(s, "ab€"))
				}
			}
		}},
		{"a long health error is cut and only the top-level health kept", func() []*protobufs.AgentToServer {
			m := heartbeat(uid, 0)
			m.Health = &protobufs.ComponentHealth{Healthy: false, LastError: strings.Repeat("e", 3*fleet.MaxErrorMessageBytes), Status: "StatusRecoverableError",
				ComponentHealthMap: map[string]*protobufs.ComponentHealth{"pipeline:traces": {Healthy: false}}}
			return []*protobufs.AgentToServer{m}
		}, func(t *testing.T, a fleet.Agent) {
			if !a.HealthReported || a.Healthy || len(a.HealthError) != fleet.MaxErrorMessageBytes {
				t.Errorf("health kept: reported %v, healthy %v, %d bytes of error", a.HealthReported, a.Healthy, len(a.HealthError))
			}
		}},
		{"FAILED reports for ever new hashes keep at most fleet.MaxFailures, the latest", func() []*protobufs.AgentToServer {
			var msgs []*protobufs.AgentToServer
			for i := range 3 * fleet.MaxFailures {
				msgs = append(msgs, status(uid, uint64(i), testConfig(strings.Repeat("x", i)).Hash, failed, "boom"))
			}
			return msgs
		}, func(t *testing.T, a fleet.Agent) {
			if len(a.Failures) != fleet.MaxFailures {
				t.Errorf("%d failures kept, want %d", len(a.Failures), fleet.MaxFailures)
			}
			if _, ok := a.FailedFor(testConfig(strings.Repeat("x", 3*fleet.MaxFailures-1)).Hash); !ok {
				t.Error("the latest failure was dropped")
			}
		}},
		{"a reported hash is cut to fleet.MaxHashBytes", func() []*protobufs.AgentToServer {
			m := heartbeat(uid, 0)
			m.RemoteConfigStatus = &protobufs.RemoteConfigStatus{LastRemoteConfigHash: make([]byte, 10*fleet.MaxHashBytes), Status: applied}
			return []*protobufs.AgentToServer{withComponents(m, strings.Repeat("h", 10*fleet.MaxHashBytes), map[string][]string{"receivers": {"otlp"}})}
		}, func(t *testing.T, a fleet.Agent) {
			if len(a.StatusHash) != 2*fleet.MaxHashBytes || len(a.ComponentsHash) != fleet.MaxHashBytes {
				t.Errorf("status hash of %d hex digits, components hash of %d bytes", len(a.StatusHash), len(a.ComponentsHash))
			}
		}},
		{"at most fleet.MaxComponents kinds and types, in name order", func() []*protobufs.AgentToServer {
			kinds := map[string][]string{}
			for i := range 2 * fleet.MaxComponents {
				kind := []string{"receivers", "exporters", "processors"}[i%3]
				kinds[kind] = append(kinds[kind], strings.Repeat("t", 1+i%5)+string(rune('a'+i%26))+strings.Repeat("z", i/26))
			}
			kinds["extensions"] = []string{strings.Repeat("n", fleet.MaxComponentNameLen+1)}
			kinds[strings.Repeat("k", fleet.MaxComponentNameLen+1)] = []string{"otlp"}
			return []*protobufs.AgentToServer{withComponents(heartbeat(uid, 0), "h", kinds)}
		}, func(t *testing.T, a fleet.Agent) {
			n := len(a.Components)
			for _, set := range a.Components {
				n += len(set)
			}
			if n != fleet.MaxComponents {
				t.Errorf("kept %d kinds and types, want %d", n, fleet.MaxComponents)
			}
			if len(a.Components["exporters"]) == 0 || len(a.Components["extensions"]) != 0 {
				t.Errorf("kept %d exporters and %d extensions; want every exporter (first in name order) and no overlong name",
					len(a.Components["exporters"]), len(a.Components["extensions"]))
			}
			if _, ok := a.Components["receivers"]; ok {
				t.Error("receivers kept past the bound")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t)
			sess, conn := newSession(s, testNamespace, fleet.TransportWS), &fakeConn{}
			for _, m := range tt.msgs() {
				sess.onMessage(context.Background(), conn, m)
			}
			a, ok := agentCopy(s, uid)
			if !ok {
				t.Fatal("agent not registered")
			}
			tt.check(t, a)
		})
	}
}

// utf8ValidPrefix says whether s is valid UTF-8 and starts with prefix.
func utf8ValidPrefix(s, prefix string) bool {
	return utf8.ValidString(s) && strings.HasPrefix(s, prefix)
}

func TestOnCloseMarksDisconnected(t *testing.T) {
	s, clk := newTestServer(t)
	uid := testUID(6)
	first, firstConn := newSession(s, testNamespace, fleet.TransportWS), &fakeConn{}
	first.onConnected(context.Background(), firstConn)
	first.onMessage(context.Background(), firstConn, describe(uid, 0, capsFull))
	disconnect := heartbeat(uid, 1)
	disconnect.AgentDisconnect = &protobufs.AgentDisconnect{}
	first.onMessage(context.Background(), firstConn, disconnect)

	// The agent said goodbye and reconnects before the old session's close arrives: the late
	// close is ignored.
	second, secondConn := newSession(s, testNamespace, fleet.TransportWS), &fakeConn{}
	second.onConnected(context.Background(), secondConn)
	second.onMessage(context.Background(), secondConn, heartbeat(uid, 1))
	clk.Step(time.Second)
	first.onClose(firstConn)
	if a, _ := agentCopy(s, uid); !a.Connected || a.Conn != secondConn {
		t.Fatalf("a stale close disconnected the agent: connected %v", a.Connected)
	}
	second.onClose(secondConn)
	a, _ := agentCopy(s, uid)
	if a.Connected || !a.DisconnectedAt.Equal(testStart.Add(time.Second)) {
		t.Errorf("after close: connected %v, disconnected at %v", a.Connected, a.DisconnectedAt)
	}
	if n := s.sessions.count.Load(); n != 0 {
		t.Errorf("%d sessions counted after both closed", n)
	}
}

func TestBoundedLabels(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		values []string
		want   []string
	}{
		{"under the bound", 3, []string{"a", "b", "a"}, []string{"a", "b", "a"}},
		{"past the bound", 3, []string{"a", "b", "c", "d", "a", "e", "c"}, []string{"a", "b", "c", "other", "a", "other", "c"}},
		{"a bound of one", 1, []string{"a", "b", "a"}, []string{"a", "other", "a"}},
		{"a bound of zero", 0, []string{"a", "b"}, []string{"other", "other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := boundedLabels{max: tt.max}
			for i, v := range tt.values {
				if got := b.label(v); got != tt.want[i] {
					t.Errorf("label(%q) #%d = %q, want %q", v, i, got, tt.want[i])
				}
			}
		})
	}
}

func TestBoundedLabelsConcurrent(t *testing.T) {
	const bound, workers, values = 5, 16, 200
	b := boundedLabels{max: bound}
	var mu sync.Mutex
	distinct := map[string]struct{}{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range values {
				v := string(rune('a'+(i+w)%26)) + string(rune('a'+i/26))
				got := b.label(v)
				if got != v && got != "other" {
					t.Errorf("label(%q) = %q", v, got)
				}
				if got != "other" {
					mu.Lock()
					distinct[got] = struct{}{}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(distinct) > bound {
		t.Errorf("%d distinct labels handed out, want at most %d", len(distinct), bound)
	}
	for v := range distinct {
		if got := b.label(v); got != v {
			t.Errorf("label(%q) = %q after the bound filled, want it kept", v, got)
		}
	}
}

func TestMaxConnections(t *testing.T) {
	s, _ := newTestServer(t)
	s.opts.MaxConnections, s.opts.UnauthenticatedNamespace = 2, testNamespace
	connect := func() (*session, *fakeConn, int) {
		resp := s.onConnecting(httptest.NewRequest(http.MethodGet, "/v1/opamp", nil))
		if !resp.Accept {
			return nil, nil, resp.HTTPStatusCode
		}
		return &session{srv: s, namespace: testNamespace, transport: fleet.TransportWS}, &fakeConn{}, http.StatusSwitchingProtocols
	}

	// Three connections pass the check before any of them is upgraded.
	var sessions []*session
	var conns []*fakeConn
	for range 3 {
		sess, conn, code := connect()
		if code != http.StatusSwitchingProtocols {
			t.Fatalf("connection refused with %d below the cap", code)
		}
		sessions, conns = append(sessions, sess), append(conns, conn)
	}
	for i, sess := range sessions {
		sess.onConnected(context.Background(), conns[i])
	}
	if conns[0].disconnected || conns[1].disconnected || !conns[2].disconnected {
		t.Errorf("disconnected: %v %v %v, want only the session past the cap", conns[0].disconnected, conns[1].disconnected, conns[2].disconnected)
	}
	sessions[2].onClose(conns[2])
	if n := s.sessions.count.Load(); n != 2 {
		t.Errorf("%d sessions counted, want 2", n)
	}
	if _, _, code := connect(); code != http.StatusServiceUnavailable {
		t.Errorf("connection at the cap answered %d, want 503", code)
	}
	if got := counterValue(t, s.metrics.rejected.WithLabelValues("overloaded")); got != 2 {
		t.Errorf("overloaded rejections = %v, want 2", got)
	}
	sessions[0].onClose(conns[0])
	if _, _, code := connect(); code != http.StatusSwitchingProtocols {
		t.Errorf("connection below the cap again answered %d", code)
	}
}
