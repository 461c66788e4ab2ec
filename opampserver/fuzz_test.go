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

	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/ampora-io/ampora/opampserver/replica"
)

// fuzzUID is the UID of the agent the fuzz target registers before each input, so that
// inputs that carry it reach a known agent.
var fuzzUID = testUID(0x42)

// Fuzz modes, the bits of the mode argument.
const (
	fuzzOtherNamespace = 1 << iota // the second session is enrolled into another namespace
	fuzzHTTP                       // the second session is a plain-HTTP poll
	fuzzLater                      // the clock passes resendAfter between the messages
	fuzzGrowAttributes             // grow adds attributes to the message
	fuzzGrowComponents             // grow adds available components to the message
)

// grow makes a message larger than any agent should send, as size says, without making the
// fuzzer's input large (the fuzzer takes very long to minimize large inputs): size%512
// attributes with values of size/512*8 bytes, or size%2048 component types.
func grow(m *protobufs.AgentToServer, mode uint8, size uint16) {
	if mode&fuzzGrowAttributes != 0 {
		if m.AgentDescription == nil {
			m.AgentDescription = &protobufs.AgentDescription{}
		}
		n, valueLen := int(size%512), int(size/512)*8
		for i := range n {
			key := "grown." + strconv.Itoa(i) + strings.Repeat("k", i%(2*fleet.MaxAttributeKeyLen))
			m.AgentDescription.NonIdentifyingAttributes = append(m.AgentDescription.NonIdentifyingAttributes,
				strAttr(key, strings.Repeat("v", valueLen)))
		}
	}
	if mode&fuzzGrowComponents != 0 {
		if m.AvailableComponents == nil {
			m.AvailableComponents = &protobufs.AvailableComponents{}
		}
		if m.AvailableComponents.Components == nil {
			m.AvailableComponents.Components = map[string]*protobufs.ComponentDetails{}
		}
		for i := range int(size % 2048) {
			kind := "kind" + strconv.Itoa(i%7)
			d := m.AvailableComponents.Components[kind]
			if d == nil {
				d = &protobufs.ComponentDetails{}
				m.AvailableComponents.Components[kind] = d
			}
			if d.SubComponentMap == nil {
				d.SubComponentMap = map[string]*protobufs.ComponentDetails{}
			}
			d.SubComponentMap["type"+strconv.Itoa(i)] = &protobufs.ComponentDetails{}
		}
	}
}

// fuzzSeed is one seed input: a message, how to grow it and which sessions send it.
type fuzzSeed struct {
	msg  *protobufs.AgentToServer
	mode uint8
	size uint16
}

// fuzzSeeds are the inputs the fuzz target starts from: an agent's life, and reports of the
// sizes no agent should send.
func fuzzSeeds() []fuzzSeed {
	cfg := testConfig(collectorBody)
	full := withComponents(withStatus(describe(fuzzUID, 0, capsFull), cfg.Hash, applied), "c1",
		map[string][]string{"receivers": {"otlp"}, "exporters": {"debug"}})
	full.Health = &protobufs.ComponentHealth{Healthy: true, Status: "StatusOK",
		ComponentHealthMap: map[string]*protobufs.ComponentHealth{"pipeline:traces": {Healthy: true}}}
	full.EffectiveConfig = &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{
		ConfigMap: map[string]*protobufs.AgentConfigFile{"": {Body: []byte(collectorBody), ContentType: "text/yaml"}}}}

	odd := describe(testUID(0x43), 1, capsFull)
	odd.AgentDescription.IdentifyingAttributes = append(odd.AgentDescription.IdentifyingAttributes,
		strAttr(strings.Repeat("k", 2*fleet.MaxAttributeKeyLen), "v"),
		&protobufs.KeyValue{Key: "service.version", Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_IntValue{IntValue: -1}}},
		&protobufs.KeyValue{Key: "ratio", Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_DoubleValue{DoubleValue: 0.5}}},
		&protobufs.KeyValue{Key: "canary", Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_BoolValue{BoolValue: true}}},
		&protobufs.KeyValue{Key: "nil"})

	failing := status(fuzzUID, 1, cfg.Hash, failed, strings.Repeat("€", fleet.MaxErrorMessageBytes))
	failing.Health = &protobufs.ComponentHealth{LastError: strings.Repeat("e", 2*fleet.MaxErrorMessageBytes)}

	// A failing agent whose identity and error are longer than a status entry takes.
	long := status(fuzzUID, 1, cfg.Hash, failed, strings.Repeat("x", 2*fleet.MaxErrorMessageBytes))
	long.AgentDescription = &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{
		strAttr("service.name", strings.Repeat("s", 2*fleet.MaxAttributeValueLen)),
		strAttr("service.version", strings.Repeat("1", 2*fleet.MaxAttributeValueLen)),
		strAttr("host.name", strings.Repeat("ħ", 2*fleet.MaxAttributeValueLen)),
	}}
	unhealthy := withStatus(describe(testUID(0x47), 0, capsFull), cfg.Hash, applied)
	unhealthy.AgentDescription.IdentifyingAttributes[0] = strAttr("service.name", strings.Repeat("s", 2*fleet.MaxAttributeValueLen))
	unhealthy.Health = &protobufs.ComponentHealth{Healthy: false, LastError: strings.Repeat("e", 2*fleet.MaxErrorMessageBytes)}

	disconnect := heartbeat(fuzzUID, 2)
	disconnect.AgentDisconnect = &protobufs.AgentDisconnect{}

	return []fuzzSeed{
		{full, 0, 0},
		{heartbeat(fuzzUID, 1), 0, 0},
		{heartbeat(testUID(0x44), 5), fuzzOtherNamespace, 0},    // an unknown UID
		{describe(testUID(0x45), 0, capsReadOnly), fuzzHTTP, 0}, // no AcceptsRemoteConfig
		{odd, 0, 0},
		{odd, fuzzGrowAttributes, 4*fleet.MaxAttributes + 3*2048}, // many attributes, long values
		{odd, fuzzGrowAttributes | fuzzLater, 2047 + 31*2048},     // the most grow makes
		{heartbeat(fuzzUID, 1), fuzzGrowComponents, 2047},         // many components
		{withComponents(heartbeat(fuzzUID, 1), "c3", nil), fuzzLater, 0},
		{failing, 0, 0},
		{long, fuzzLater, 0},
		{unhealthy, 0, 0},
		{status(fuzzUID, 1, cfg.Hash, applying, ""), fuzzOtherNamespace | fuzzLater, 0},
		{&protobufs.AgentToServer{InstanceUid: fuzzUID, SequenceNum: 1, RemoteConfigStatus: &protobufs.RemoteConfigStatus{
			LastRemoteConfigHash: make([]byte, 4*fleet.MaxHashBytes), Status: failed}}, fuzzHTTP | fuzzLater, 0},
		{&protobufs.AgentToServer{InstanceUid: fuzzUID, SequenceNum: 1, EffectiveConfig: &protobufs.EffectiveConfig{
			ConfigMap: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{"b": {Body: []byte("b")}, "a": {}}}}}, 0, 0},
		{disconnect, fuzzOtherNamespace | fuzzHTTP, 0},
		{describe(testUID(0x46)[:15], 0, capsFull), 0, 0},
		{&protobufs.AgentToServer{}, fuzzOtherNamespace | fuzzHTTP | fuzzLater, 0},
	}
}

// FuzzHandleMessage decodes arbitrary bytes as an AgentToServer, grows it as mode and size
// say, and feeds it to a session; then again with the given sequence number, on another
// session that mode describes and on a registered agent's session. The sidecar must always
// answer, keep its bounds, and still be able to report.
func FuzzHandleMessage(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		data, err := proto.Marshal(seed.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, seed.msg.SequenceNum+1, seed.mode, seed.size)
	}
	f.Fuzz(func(t *testing.T, data []byte, seq uint64, mode uint8, size uint16) {
		handleFuzzedMessage(t, data, seq, mode, size)
	})
}

// fuzzConfig is the config of the fuzz target's rollout, and fuzzRequired its components.
var (
	fuzzConfig   = testConfig(collectorBody)
	fuzzRequired = requiredComponents(fuzzConfig.Body)
)

// handleFuzzedMessage is the body of FuzzHandleMessage.
func handleFuzzedMessage(t testing.TB, data []byte, seq uint64, mode uint8, size uint16) {
	var msg protobufs.AgentToServer
	if err := proto.Unmarshal(data, &msg); err != nil {
		return // not a message: opamp-go drops it before the callbacks
	}
	grow(&msg, mode, size)

	s, clk := newTestServer(t)
	g := rolloutGroup(fuzzConfig)
	g.Rollout.Required = fuzzRequired
	putView(s, testNamespace, g)
	ctx := context.Background()
	known := newSession(s, testNamespace, fleet.TransportWS)
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
	answer(newSession(s, testNamespace, fleet.TransportWS), &msg)

	ns, transport := testNamespace, fleet.TransportWS
	if mode&fuzzOtherNamespace != 0 {
		ns = "other"
	}
	if mode&fuzzHTTP != 0 {
		transport = fleet.TransportHTTP
	}
	if mode&fuzzLater != 0 {
		clk.Step(fleet.ResendAfter)
	} else {
		clk.Step(time.Second)
	}
	again := proto.Clone(&msg).(*protobufs.AgentToServer)
	again.SequenceNum = seq
	answer(newSession(s, ns, transport), again)
	answer(known, again)

	now := s.clock.Now()
	s.registry.Each(func(a *fleet.Agent) {
		checkAgentBounds(t, a)
		if _, err := json.Marshal(replica.AgentInfo(a, now)); err != nil {
			t.Errorf("agent info does not marshal: %v", err)
		}
		// What the status's failed sample would name of it.
		if target := s.world.View(a.Namespace).Target(a, now); target.Admitted && target.Rollout != nil {
			fa := a.FailedAgent(target.Verdict(a, now))
			checkFailedAgent(t, fa.ServiceName, fa.ServiceVersion, fa.HostName, fa.Message)
		}
	})
}

// checkAgentBounds checks what the registry keeps of one agent against the bounds.
func checkAgentBounds(t testing.TB, a *fleet.Agent) {
	t.Helper()
	if len(a.Attributes) > fleet.MaxAttributes {
		t.Errorf("%d attributes kept", len(a.Attributes))
	}
	for k, v := range a.Attributes {
		if utf8.RuneCountInString(k) > fleet.MaxAttributeKeyLen || utf8.RuneCountInString(v) > fleet.MaxAttributeValueLen || !utf8.ValidString(v) {
			t.Errorf("attribute of %d and %d bytes kept", len(k), len(v))
		}
	}
	if len(a.Failures) > fleet.MaxFailures {
		t.Errorf("%d failures kept", len(a.Failures))
	}
	if len(a.StatusError) > fleet.MaxErrorMessageBytes || !utf8.ValidString(a.StatusError) {
		t.Errorf("status error of %d bytes kept", len(a.StatusError))
	}
	if len(a.StatusHash) > 2*fleet.MaxHashBytes || len(a.ComponentsHash) > fleet.MaxHashBytes {
		t.Errorf("hashes of %d and %d bytes kept", len(a.StatusHash)/2, len(a.ComponentsHash))
	}
	if len(a.HealthError) > fleet.MaxErrorMessageBytes || !utf8.ValidString(a.HealthError) {
		t.Errorf("health kept: %d bytes of error", len(a.HealthError))
	}
	n := len(a.Components)
	for _, set := range a.Components {
		n += len(set)
	}
	if n > fleet.MaxComponents {
		t.Errorf("%d component kinds and types kept", n)
	}
	if len(a.Disconnects) > fleet.MaxRecentDisconnects {
		t.Errorf("%d disconnects kept", len(a.Disconnects))
	}
}

// checkFailedAgent checks a failed-agent sample against the length limits of the status
// schema: an entry past them fails the whole status write.
func checkFailedAgent(t testing.TB, serviceName, serviceVersion, hostName, message string) {
	t.Helper()
	for name, v := range map[string]string{"serviceName": serviceName, "serviceVersion": serviceVersion, "hostName": hostName} {
		if n := utf8.RuneCountInString(v); n > 256 {
			t.Errorf("failed agent %s of %d characters exceeds the status schema", name, n)
		}
	}
	if n := utf8.RuneCountInString(message); n > 1024 {
		t.Errorf("failed agent message of %d characters exceeds the status schema", n)
	}
}
