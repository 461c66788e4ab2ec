package fleet

import (
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
)

var start = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func TestMarkDisconnectedKeepsRecentHistory(t *testing.T) {
	a := &Agent{}
	for i := range 3 * MaxRecentDisconnects {
		a.Connected = true
		a.MarkDisconnected(start.Add(time.Duration(i) * time.Second))
	}
	if len(a.Disconnects) != MaxRecentDisconnects {
		t.Fatalf("%d disconnects kept, want %d", len(a.Disconnects), MaxRecentDisconnects)
	}
	if last := a.Disconnects[len(a.Disconnects)-1]; !last.Equal(start.Add(time.Duration(3*MaxRecentDisconnects-1) * time.Second)) {
		t.Errorf("latest disconnect %v not kept", last)
	}
	a.MarkDisconnected(start.Add(time.Hour)) // already disconnected: nothing changes
	if !a.DisconnectedAt.Equal(start.Add(time.Duration(3*MaxRecentDisconnects-1) * time.Second)) {
		t.Errorf("a second disconnect moved DisconnectedAt to %v", a.DisconnectedAt)
	}
}

func TestMessageKind(t *testing.T) {
	tests := []struct {
		msg  *protobufs.AgentToServer
		want string
	}{
		{&protobufs.AgentToServer{}, "heartbeat"},
		{&protobufs.AgentToServer{AgentDisconnect: &protobufs.AgentDisconnect{}, RemoteConfigStatus: &protobufs.RemoteConfigStatus{}}, "disconnect"},
		{&protobufs.AgentToServer{RemoteConfigStatus: &protobufs.RemoteConfigStatus{}, AgentDescription: &protobufs.AgentDescription{}}, "remote_config_status"},
		{&protobufs.AgentToServer{AgentDescription: &protobufs.AgentDescription{}, Health: &protobufs.ComponentHealth{}}, "description"},
		{&protobufs.AgentToServer{Health: &protobufs.ComponentHealth{}}, "health"},
		{&protobufs.AgentToServer{EffectiveConfig: &protobufs.EffectiveConfig{}}, "effective_config"},
		{&protobufs.AgentToServer{AvailableComponents: &protobufs.AvailableComponents{}}, "available_components"},
	}
	for _, tt := range tests {
		if got := MessageKind(tt.msg); got != tt.want {
			t.Errorf("MessageKind(%v) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 4, ""},
		{"abc", 4, "abc"},
		{"abcd", 4, "abcd"},
		{"abcde", 4, "abcd"},
		{"ab€", 4, "ab"}, // € is 3 bytes: cutting inside it drops it
		{"ab€", 5, "ab€"},
		{"€€", 3, "€"},
		{"€", 0, ""},
	}
	for _, tt := range tests {
		if got := truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestApply(t *testing.T) {
	applied := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
	failed := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED
	status := func(hash []byte, st protobufs.RemoteConfigStatuses, msg string) Report {
		return Decode(&protobufs.AgentToServer{InstanceUid: make([]byte, 16),
			RemoteConfigStatus: &protobufs.RemoteConfigStatus{LastRemoteConfigHash: hash, Status: st, ErrorMessage: msg}})
	}
	offered := []byte{0xab, 0xcd}
	for _, tc := range []struct {
		name  string
		agent Agent
		r     Report
		want  Applied
		check func(t *testing.T, a *Agent)
	}{
		{"APPLIED of the offer is timed from the offer", Agent{OfferedHash: "abcd", OfferedAt: start.Add(-3 * time.Second)},
			status(offered, applied, ""), Applied{AppliedOffer: true, ApplyDuration: 3 * time.Second},
			func(t *testing.T, a *Agent) {
				if !a.AppliedAt.Equal(start) || a.StatusHash != "abcd" {
					t.Errorf("applied at %v for %q", a.AppliedAt, a.StatusHash)
				}
			}},
		{"APPLIED of another config is not an applied offer", Agent{OfferedHash: "ffff", OfferedAt: start.Add(-time.Second)},
			status(offered, applied, ""), Applied{}, nil},
		{"the same status again changes nothing", Agent{OfferedHash: "abcd", OfferedAt: start.Add(-time.Minute), StatusHash: "abcd",
			Status: applied, StatusSince: start.Add(-time.Second), AppliedAt: start.Add(-time.Second)},
			status(offered, applied, ""), Applied{}, func(t *testing.T, a *Agent) {
				if !a.StatusSince.Equal(start.Add(-time.Second)) {
					t.Errorf("status since moved to %v", a.StatusSince)
				}
			}},
		{"FAILED is remembered for its hash", Agent{}, status(offered, failed, "bad pipeline"), Applied{},
			func(t *testing.T, a *Agent) {
				if msg, ok := a.FailedFor("abcd"); !ok || msg != "bad pipeline" {
					t.Errorf("FailedFor = %q, %v", msg, ok)
				}
			}},
		{"a components hash without a list asks for the list", Agent{},
			Decode(&protobufs.AgentToServer{AvailableComponents: &protobufs.AvailableComponents{Hash: []byte{1}}}),
			Applied{AskComponents: true}, nil},
		{"a components hash already listed asks nothing", Agent{ComponentsHash: []byte{1}, Components: map[string]map[string]struct{}{}},
			Decode(&protobufs.AgentToServer{AvailableComponents: &protobufs.AvailableComponents{Hash: []byte{1}}}),
			Applied{}, nil},
		{"a message without a part keeps the part", Agent{Attributes: map[string]string{"service.name": "x"}, Capabilities: 7},
			Decode(&protobufs.AgentToServer{}), Applied{}, func(t *testing.T, a *Agent) {
				if a.Attributes["service.name"] != "x" || a.Capabilities != 7 {
					t.Errorf("attributes %v, capabilities %d", a.Attributes, a.Capabilities)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.agent
			if got := a.Apply(tc.r, start); got != tc.want {
				t.Errorf("Apply = %+v, want %+v", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, &a)
			}
		})
	}
}

func TestDecodeUID(t *testing.T) {
	if r := Decode(&protobufs.AgentToServer{InstanceUid: []byte{1, 2, 3}}); r.UID != "" {
		t.Errorf("a 3-byte UID decoded to %q", r.UID)
	}
	if r := Decode(&protobufs.AgentToServer{InstanceUid: make([]byte, 16)}); r.UID != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("a 16-byte UID decoded to %q", r.UID)
	}
}
