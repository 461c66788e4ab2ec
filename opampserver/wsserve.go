package opampserver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
	"github.com/open-telemetry/opamp-go/protobufs"
	"google.golang.org/protobuf/proto"

	"github.com/ampora-io/ampora/opampserver/transport"
)

// The sidecar runs WebSocket sessions itself; opamp-go serves the plain-HTTP polls. What an
// idle agent costs is mostly its session, so the session is cut to what it needs:
//
//   - its goroutine only reads frames and writes replies, and decodes and handles each
//     message on a goroutine of its own that ends with it. Decoding an agent's description
//     and handling a report take more stack than reading does; run on the session's goroutine
//     they would double the stack it keeps while parked (8 KiB instead of 4 KiB), since the
//     runtime shrinks a parked stack only while a quarter of it is in use;
//   - its write buffer is borrowed from a pool for each message (the WebSocket library would
//     otherwise give every session a 4 KiB buffer of its own for life);
//   - its read buffer is the small one the hijacker sets (hijackBufferSize).

// wsUpgrader upgrades agents' requests. Its write buffers are shared by all sessions.
var wsUpgrader = websocket.Upgrader{WriteBufferPool: &sync.Pool{}}

// wsConn is one WebSocket session, as opamp-go's types.Connection.
type wsConn struct {
	ws     *websocket.Conn
	mu     sync.Mutex // one writer at a time: replies and pushes
	closed atomic.Bool
}

func (c *wsConn) Connection() net.Conn { return c.ws.UnderlyingConn() }

// Send writes one message: a zero varint header, then the protobuf (the OpAMP WebSocket
// framing).
func (c *wsConn) Send(_ context.Context, m *protobufs.ServerToAgent) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w, err := c.ws.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte{0}); err != nil {
		_ = w.Close()
		return err
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// Disconnect closes the session's connection; its read loop then ends.
func (c *wsConn) Disconnect() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	return c.ws.Close()
}

// serveWebSocket authenticates a request, upgrades it and runs the session.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	sess, refusal := s.admit(r)
	if sess == nil {
		for k, v := range refusal.HTTPResponseHeader {
			w.Header().Set(k, v)
		}
		w.WriteHeader(refusal.HTTPStatusCode)
		return
	}
	w = &transport.Hijacker{ResponseWriter: w, Max: s.opts.MaxMessageBytes,
		TooLarge:     func() { s.metrics.rejected.WithLabelValues("too_large").Inc() },
		FirstMessage: s.opts.FirstMessageTimeout, WriteTimeout: s.opts.WriteTimeout}
	ws, err := wsUpgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.V(1).Info("WebSocket upgrade failed", "error", err.Error())
		return // the upgrader answered the agent
	}
	// A goroutine of its own: the request's goroutine has a deeper stack to keep.
	go s.runWebSocket(sess, &wsConn{ws: ws})
}

// runWebSocket reads the session's messages and answers each until the connection ends.
func (s *Server) runWebSocket(sess *session, c *wsConn) {
	ctx := context.Background()
	sess.onConnected(ctx, c)
	defer func() {
		sess.onClose(c)
		_ = c.Disconnect()
	}()
	first := true
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if mt != websocket.BinaryMessage {
			continue // not an OpAMP message; opamp-go skips these too
		}
		reply, err := handleApart(func() (*protobufs.ServerToAgent, error) {
			var msg protobufs.AgentToServer
			if err := decodeWSMessage(data, &msg); err != nil {
				return nil, err
			}
			return sess.onMessage(ctx, c, &msg), nil
		})
		if err != nil {
			s.log.V(1).Info("cannot decode a WebSocket message", "error", err.Error())
			continue
		}
		if reply == nil {
			continue
		}
		if first {
			// As opamp-go does: the first reply says which custom capabilities the server has.
			reply.CustomCapabilities, first = &protobufs.CustomCapabilities{}, false
		}
		if err := c.Send(ctx, reply); err != nil || sess.closeAfterReply {
			return
		}
	}
}

// handleApart runs fn on a goroutine of its own and waits for it, so that the stack fn needs
// is not kept by the caller (see above).
func handleApart(fn func() (*protobufs.ServerToAgent, error)) (*protobufs.ServerToAgent, error) {
	var reply *protobufs.ServerToAgent
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		reply, err = fn()
	}()
	<-done
	return reply, err
}

var errWSHeader = errors.New("unexpected non-zero WebSocket message header")

// decodeWSMessage reads an OpAMP WebSocket message: a varint header that must be 0 (absent
// in the oldest clients' messages), then the protobuf.
func decodeWSMessage(data []byte, msg *protobufs.AgentToServer) error {
	if len(data) > 0 && data[0] == 0 {
		h, n := binary.Uvarint(data)
		if h != 0 || n <= 0 {
			return errWSHeader
		}
		data = data[n:]
	}
	return proto.Unmarshal(data, msg)
}
