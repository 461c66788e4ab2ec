package opampserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/gorilla/websocket"
	"github.com/open-telemetry/opamp-go/protobufs"
	"google.golang.org/protobuf/proto"
)

// TestWebSocketSession runs a session through the sidecar's own WebSocket handling: messages
// both ways, several in a row, what is not an OpAMP message skipped, pushes, and the close.
func TestWebSocketSession(t *testing.T) {
	s, _ := newTestServer(t)
	s.opts.UnauthenticatedNamespace = testNamespace
	hs := httptest.NewServer(s.agentHandler(http.NotFoundHandler()))
	defer hs.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	uid := testUID(1)
	write := func(m *protobufs.AgentToServer) {
		t.Helper()
		body, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		// An OpAMP WebSocket message is a varint header (0) and the protobuf.
		if err := ws.WriteMessage(websocket.BinaryMessage, append([]byte{0}, body...)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() *protobufs.ServerToAgent {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var m protobufs.ServerToAgent
		if len(data) == 0 || data[0] != 0 || proto.Unmarshal(data[1:], &m) != nil {
			t.Fatalf("not an OpAMP message: %x", data)
		}
		return &m
	}

	write(describe(uid, 0, capsFull))
	if r := read(); !bytes.Equal(r.InstanceUid, uid) || r.CustomCapabilities == nil {
		t.Fatalf("first reply %v: want the instance UID and the custom capabilities", r)
	}
	// Neither a text message nor one with a non-zero header is an OpAMP message: no reply.
	_ = ws.WriteMessage(websocket.TextMessage, []byte("hello"))
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	for seq := uint64(1); seq <= 3; seq++ {
		write(heartbeat(uid, seq))
		if r := read(); !bytes.Equal(r.InstanceUid, uid) || r.CustomCapabilities != nil || r.Flags != 0 {
			t.Fatalf("reply %d: %v", seq, r)
		}
	}

	a, ok := agentCopy(s, uid)
	if !ok || !a.Connected || a.Transport != fleet.TransportWS || a.Conn == nil {
		t.Fatalf("agent %+v, registered %v: want a connected WebSocket agent", a, ok)
	}
	if err := a.Conn.Send(context.Background(), &protobufs.ServerToAgent{InstanceUid: uid, Flags: 7}); err != nil {
		t.Fatal(err)
	}
	if r := read(); r.Flags != 7 {
		t.Fatalf("push %v", r)
	}

	_ = ws.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, _ := agentCopy(s, uid)
		s.sessions.mu.Lock()
		open := len(s.sessions.conns)
		s.sessions.mu.Unlock()
		if !a.Connected && open == 0 && s.sessions.count.Load() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the close: connected %v, %d sessions tracked, %d counted", a.Connected, open, s.sessions.count.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
