package opampserver

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/open-telemetry/opamp-go/protobufs"
	"google.golang.org/protobuf/proto"
)

// fuzzUID is the UID of the agent the fuzz target registers before each input, so that
// inputs that carry it reach a known agent.
var fuzzUID = testUID(0x42)

// Fuzz modes, the bits of the mode argument.
const (
	fuzzOtherNamespace = 1 << iota // the second session is enrolled into another namespace
	fuzzHTTP                       // the second session is a plain-HTTP poll
	fuzzLater                      // the clock passes resendAfter between the messages
)

// fuzzSeeds are messages the fuzz target starts from: an agent's life, and reports of the
// sizes no agent should send.
func fuzzSeeds() []*protobufs.AgentToServer {
	cfg := testConfig(collectorBody)
	full := withComponents(withStatus(describe(fuzzUID, 0, capsFull), cfg.hash, applied), "c1",
		map[string][]string{"receivers": {"otlp"}, "exporters": {"debug"}})
	full.Health = &protobufs.ComponentHealth{Healthy: true, Status: "StatusOK",
		ComponentHealthMap: map[string]*protobufs.ComponentHealth{"pipeline:traces": {Healthy: true}}}
	full.EffectiveConfig = &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{
		ConfigMap: map[string]*protobufs.AgentConfigFile{"": {Body: []byte(collectorBody), ContentType: "text/yaml"}}}}

	giant := describe(testUID(0x43), 1, capsFull)
	for i := range 4 * maxAttributes {
		key := "attr." + strconv.Itoa(i)
		giant.AgentDescription.NonIdentifyingAttributes = append(giant.AgentDescription.NonIdentifyingAttributes,
			strAttr(key, strings.Repeat("v", 4*maxAttributeValueLen)))
	}
	giant.AgentDescription.IdentifyingAttributes = append(giant.AgentDescription.IdentifyingAttributes,
		strAttr(strings.Repeat("k", 2*maxAttributeKeyLen), "v"),
		&protobufs.KeyValue{Key: "service.version", Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_IntValue{IntValue: -1}}},
		&protobufs.KeyValue{Key: "ratio", Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_DoubleValue{DoubleValue: 0.5}}},
		&protobufs.KeyValue{Key: "canary", Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_BoolValue{BoolValue: true}}},
		&protobufs.KeyValue{Key: "nil"})

	components := map[string][]string{}
	for i := range 2 * maxComponents {
		components["kind"+strconv.Itoa(i%7)] = append(components["kind"+strconv.Itoa(i%7)], "type"+strconv.Itoa(i))
	}

	failing := status(fuzzUID, 1, cfg.hash, failed, strings.Repeat("€", maxErrorMessageBytes))
	failing.Health = &protobufs.ComponentHealth{LastError: strings.Repeat("e", 2*maxErrorMessageBytes)}

	// A failing agent whose identity and errors are longer than a status entry takes.
	long := status(fuzzUID, 1, cfg.hash, failed, strings.Repeat("x", 2*maxErrorMessageBytes))
	long.AgentDescription = &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{
		strAttr("service.name", strings.Repeat("s", 2*maxAttributeValueLen)),
		strAttr("service.version", strings.Repeat("1", 2*maxAttributeValueLen)),
		strAttr("host.name", strings.Repeat("ħ", 2*maxAttributeValueLen)),
	}}
	unhealthy := withStatus(describe(testUID(0x47), 0, capsFull), cfg.hash, applied)
	unhealthy.AgentDescription.IdentifyingAttributes[0] = strAttr("service.name", strings.Repeat("s", 2*maxAttributeValueLen))
	unhealthy.Health = &protobufs.ComponentHealth{Healthy: false, LastError: strings.Repeat("e", 2*maxErrorMessageBytes)}

	disconnect := heartbeat(fuzzUID, 2)
	disconnect.AgentDisconnect = &protobufs.AgentDisconnect{}

	return []*protobufs.AgentToServer{
		full,
		heartbeat(fuzzUID, 1),
		heartbeat(testUID(0x44), 5),
		describe(testUID(0x45), 0, capsReadOnly),
		giant,
		withComponents(heartbeat(fuzzUID, 1), "c2", components),
		withComponents(heartbeat(fuzzUID, 1), "c3", nil),
		failing,
		long,
		unhealthy,
		status(fuzzUID, 1, cfg.hash, applying, ""),
		{InstanceUid: fuzzUID, SequenceNum: 1, RemoteConfigStatus: &protobufs.RemoteConfigStatus{
			LastRemoteConfigHash: make([]byte, 4*maxHashBytes), Status: failed}},
		{InstanceUid: fuzzUID, SequenceNum: 1, EffectiveConfig: &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{
			ConfigMap: map[string]*protobufs.AgentConfigFile{"b": {Body: []byte("b")}, "a": {}}}}},
		disconnect,
		describe(testUID(0x46)[:15], 0, capsFull),
		{},
	}
}

// FuzzHandleMessage feeds arbitrary AgentToServer messages to a session, twice (the second
// time with the given sequence number, on another session that mode describes), and checks
// that the sidecar always answers, keeps its bounds and can still report.
func FuzzHandleMessage(f *testing.F) {
	for i, m := range fuzzSeeds() {
		data, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, m.SequenceNum+1, uint8(i%8))
	}
	cfg := testConfig(collectorBody)
	required := requiredComponents(cfg.body)
	f.Fuzz(func(t *testing.T, data []byte, seq uint64, mode uint8) {
		var msg protobufs.AgentToServer
		if err := proto.Unmarshal(data, &msg); err != nil {
			return // not a message: opamp-go drops it before the callbacks
		}
		s, clk := newTestServer(t)
		g := rolloutGroup(cfg)
		g.rollout.required = required
		putView(s, testNamespace, g)
		ctx := context.Background()
		known := newSession(s, testNamespace, transportWS)
		known.onMessage(ctx, &fakeConn{}, describe(fuzzUID, 0, capsFull))

		answer := func(sess *session, m *protobufs.AgentToServer) {
			t.Helper()
			reply := sess.onMessage(ctx, &fakeConn{}, m)
			if reply == nil {
				t.Fatal("nil reply")
			}
			if string(reply.InstanceUid) != string(m.InstanceUid) {
				t.Fatalf("reply instance_uid %x, want %x", reply.InstanceUid, m.InstanceUid)
			}
			if len(m.InstanceUid) != 16 && reply.GetErrorResponse().GetType() != protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest {
				t.Fatalf("instance_uid of %d bytes answered %v", len(m.InstanceUid), reply)
			}
			if _, err := proto.Marshal(reply); err != nil {
				t.Fatalf("reply does not marshal: %v", err)
			}
		}
		answer(newSession(s, testNamespace, transportWS), &msg)

		ns, transport := testNamespace, transportWS
		if mode&fuzzOtherNamespace != 0 {
			ns = "other"
		}
		if mode&fuzzHTTP != 0 {
			transport = transportHTTP
		}
		if mode&fuzzLater != 0 {
			clk.Step(resendAfter)
		} else {
			clk.Step(time.Second)
		}
		again := proto.Clone(&msg).(*protobufs.AgentToServer)
		again.SequenceNum = seq
		answer(newSession(s, ns, transport), again)
		answer(known, again)

		now := s.clock.Now()
		s.registry.Each(func(a *Agent) {
			checkAgentBounds(t, a)
			if _, err := json.Marshal(agentInfo(a, now)); err != nil {
				t.Errorf("agent info does not marshal: %v", err)
			}
		})
		snap := s.reporter.snapshot(now)
		for _, ra := range snap.Rollouts {
			for _, fa := range ra.failed {
				checkFailedAgent(t, fa.agent.ServiceName, fa.agent.ServiceVersion, fa.agent.HostName, fa.agent.Message)
			}
		}
	})
}

// checkAgentBounds checks what the registry keeps of one agent against the bounds.
func checkAgentBounds(t *testing.T, a *Agent) {
	t.Helper()
	if len(a.Attributes) > maxAttributes {
		t.Errorf("%d attributes kept", len(a.Attributes))
	}
	for k, v := range a.Attributes {
		if utf8.RuneCountInString(k) > maxAttributeKeyLen || utf8.RuneCountInString(v) > maxAttributeValueLen || !utf8.ValidString(v) {
			t.Errorf("attribute of %d and %d bytes kept", len(k), len(v))
		}
	}
	if len(a.failures) > maxFailures {
		t.Errorf("%d failures kept", len(a.failures))
	}
	if len(a.StatusError) > maxErrorMessageBytes || !utf8.ValidString(a.StatusError) {
		t.Errorf("status error of %d bytes kept", len(a.StatusError))
	}
	if len(a.StatusHash) > 2*maxHashBytes || len(a.ComponentsHash) > maxHashBytes {
		t.Errorf("hashes of %d and %d bytes kept", len(a.StatusHash)/2, len(a.ComponentsHash))
	}
	if a.Health != nil && (len(a.Health.LastError) > maxErrorMessageBytes || a.Health.ComponentHealthMap != nil) {
		t.Errorf("health kept: %d bytes of error", len(a.Health.LastError))
	}
	n := len(a.Components)
	for _, set := range a.Components {
		n += len(set)
	}
	if n > maxComponents {
		t.Errorf("%d component kinds and types kept", n)
	}
	if len(a.Disconnects) > maxRecentDisconnects {
		t.Errorf("%d disconnects kept", len(a.Disconnects))
	}
}

// checkFailedAgent checks a failed-agent sample against the status schema's length limits.
func checkFailedAgent(t *testing.T, serviceName, serviceVersion, hostName, message string) {
	t.Helper()
	for name, v := range map[string]string{"serviceName": serviceName, "serviceVersion": serviceVersion, "hostName": hostName} {
		if utf8.RuneCountInString(v) > 256 {
			t.Errorf("failed agent %s of %d characters exceeds the status schema", name, utf8.RuneCountInString(v))
		}
	}
	if utf8.RuneCountInString(message) > 1024 {
		t.Errorf("failed agent message of %d characters exceeds the status schema", utf8.RuneCountInString(message))
	}
}
