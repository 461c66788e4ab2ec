package opampserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server/types"

	"github.com/ampora-io/ampora/opampserver/fleet"
)

const (
	// retryAfter is what an overloaded server asks agents to wait (the spec's default floor).
	retryAfter = 30 * time.Second
)

// session is one accepted connection: a WebSocket, or a single plain-HTTP poll.
type session struct {
	srv       *Server
	namespace string
	transport string
	notAfter  time.Time
	// uid is the instance UID the session's first accepted message bound it to; it never
	// changes. replaced and newUID are set when the server gave the session a new UID
	// because its own was in use (a duplicate agent).
	uid      string
	replaced string
	newUID   []byte
	// closeAfterReply asks the WebSocket loop to close the session once the reply is sent.
	closeAfterReply bool
	// token is the grant the session was opened with (nil without a token); cut is set once
	// the session is closed because that grant was revoked.
	token *fleet.Grant
	cut   atomic.Bool
}

// onConnecting authenticates a plain-HTTP poll for opamp-go.
func (s *Server) onConnecting(req *http.Request) types.ConnectionResponse {
	sess, refusal := s.admit(req)
	if sess == nil {
		return refusal
	}
	return types.ConnectionResponse{Accept: true, ConnectionCallbacks: types.ConnectionCallbacks{
		OnConnected:       sess.onConnected,
		OnMessage:         sess.onMessage,
		OnConnectionClose: sess.onClose,
	}}
}

// admit authenticates a new connection and binds it to the namespace of its token; nil and
// the answer to give when it is refused.
func (s *Server) admit(req *http.Request) (*session, types.ConnectionResponse) {
	if s.opts.MaxConnections > 0 && s.sessions.count.Load() >= int64(s.opts.MaxConnections) {
		s.metrics.rejected.WithLabelValues("overloaded").Inc()
		return nil, types.ConnectionResponse{HTTPStatusCode: http.StatusServiceUnavailable,
			HTTPResponseHeader: map[string]string{"Retry-After": "30"}}
	}
	ns, grant, reason := s.authenticate(req)
	if ns == "" {
		s.metrics.rejected.WithLabelValues(reason).Inc()
		return nil, types.ConnectionResponse{HTTPStatusCode: http.StatusUnauthorized,
			HTTPResponseHeader: map[string]string{"WWW-Authenticate": `Bearer realm="ampora"`}}
	}
	sess := &session{srv: s, namespace: ns, transport: fleet.TransportWS, token: grant}
	if isPlainHTTP(req) {
		sess.transport = fleet.TransportHTTP
	}
	if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
		sess.notAfter = req.TLS.PeerCertificates[0].NotAfter
	}
	return sess, types.ConnectionResponse{}
}

// isPlainHTTP tells a plain-HTTP poll from a WebSocket request, as opamp-go does.
func isPlainHTTP(req *http.Request) bool {
	return req.Header.Get("Content-Type") == "application/x-protobuf"
}

// authenticate returns the namespace of the bearer token and its grant (the anonymous grant
// without a token), or "" and the reason for refusal.
func (s *Server) authenticate(req *http.Request) (string, *fleet.Grant, string) {
	h := req.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		if s.opts.UnauthenticatedNamespace != "" {
			return s.opts.UnauthenticatedNamespace, s.anonymous, ""
		}
		return "", nil, "unauthenticated"
	}
	if g := s.tokens.Lookup(token); g != nil {
		return g.Namespace(), g, ""
	}
	return "", nil, "invalid_token"
}

// revoke closes a session whose token was revoked, once.
func (sess *session) revoke(conn types.Connection) {
	if sess.cut.CompareAndSwap(false, true) {
		sess.srv.metrics.rejected.WithLabelValues("token_revoked").Inc()
		if sess.transport == fleet.TransportWS {
			_ = conn.Disconnect()
		}
	}
}

func (sess *session) onConnected(_ context.Context, conn types.Connection) {
	if sess.transport != fleet.TransportWS {
		return
	}
	s := sess.srv
	s.sessions.add(conn, sess)
	// A token revoked between the upgrade and the tracking above: the sweep missed it.
	if sess.token.Revoked() {
		sess.revoke(conn)
	}
	// onConnecting's check races with the other connections being upgraded at the same time;
	// the count taken here is exact, so a session past the cap is closed at once.
	if n := s.sessions.count.Add(1); s.opts.MaxConnections > 0 && n > int64(s.opts.MaxConnections) {
		s.metrics.rejected.WithLabelValues("overloaded").Inc()
		_ = conn.Disconnect()
	}
}

func (sess *session) onClose(conn types.Connection) {
	if sess.transport != fleet.TransportWS {
		return
	}
	s := sess.srv
	s.sessions.remove(conn)
	s.sessions.count.Add(-1)
	if sess.uid == "" {
		return
	}
	now := s.clock.Now()
	handedOver := false
	s.registry.Do(sess.uid, false, func(a *fleet.Agent) {
		if a.Conn != conn {
			return // the agent has a newer session already
		}
		a.MarkDisconnected(now)
		handedOver = a.HandedOver
	})
	if handedOver {
		s.registry.Delete(sess.uid) // a peer holds its session now and counts it
	}
}

// onMessage updates the registry from one AgentToServer and answers it, with the config the
// agent should run when it does not run it yet.
func (sess *session) onMessage(_ context.Context, conn types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
	s := sess.srv
	s.metrics.messages.WithLabelValues(fleet.MessageKind(msg)).Inc()
	reply := &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid}
	if len(msg.InstanceUid) != 16 {
		reply.ErrorResponse = &protobufs.ServerErrorResponse{
			Type:         protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest,
			ErrorMessage: "instance_uid must be 16 bytes",
		}
		return reply
	}
	if sess.token.Revoked() {
		sess.revoke(conn)
		reply.ErrorResponse = &protobufs.ServerErrorResponse{
			Type:         protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest,
			ErrorMessage: "enrollment token revoked",
		}
		return reply
	}
	if !s.inflight.TryAcquire() {
		s.metrics.rejected.WithLabelValues("overloaded").Inc()
		reply.ErrorResponse = &protobufs.ServerErrorResponse{
			Type:         protobufs.ServerErrorResponseType_ServerErrorResponseType_Unavailable,
			ErrorMessage: "server overloaded, retry later",
			Details: &protobufs.ServerErrorResponse_RetryInfo{RetryInfo: &protobufs.RetryInfo{
				RetryAfterNanoseconds: uint64(retryAfter)}},
		}
		return reply
	}
	defer s.inflight.Release()

	// Decoded only once admitted: hashing an effective config and sorting components is the
	// costly part of a message, and the inflight cap bounds it.
	r := fleet.Decode(msg)
	uid := r.UID
	if sess.uid != "" && uid != sess.uid {
		if uid == sess.replaced {
			// Sent before the agent read the new UID it was given: tell it again, touch nothing.
			reply.AgentIdentification = &protobufs.AgentIdentification{NewInstanceUid: sess.newUID}
			return reply
		}
		return sess.refuse(reply, refusedUIDChanged, uid)
	}
	return sess.handle(conn, r, uid, reply, true)
}

// Why an agent's message is refused: ampora_opamp_agents_refused_total{reason}, and the
// error message the agent reads.
const (
	refusedAgentLimit = "agent_limit"
	refusedUIDBound   = "uid_bound"
	refusedUIDChanged = "uid_changed"
)

// refuse answers a message with BAD_REQUEST and the reason, touching no record. A WebSocket
// session is then closed: it is bound to no UID or to another one, so nothing it sends can be
// served.
func (sess *session) refuse(reply *protobufs.ServerToAgent, reason, uid string) *protobufs.ServerToAgent {
	s := sess.srv
	var text string
	switch reason {
	case refusedAgentLimit:
		text = fmt.Sprintf("enrollment token has reached its limit of %d agents on this replica", s.opts.MaxAgentsPerToken)
	case refusedUIDBound:
		text = "instance_uid is bound to another session or enrollment token"
	case refusedUIDChanged:
		text = "instance_uid changed on this session"
	}
	s.metrics.agentsRefused.WithLabelValues(reason).Inc()
	sess.closeAfterReply = sess.transport == fleet.TransportWS
	s.log.Info("agent refused", "reason", reason, "namespace", sess.namespace, "instanceUID", uid,
		"transport", sess.transport, "sessionUID", sess.uid)
	return &protobufs.ServerToAgent{InstanceUid: reply.InstanceUid, ErrorResponse: &protobufs.ServerErrorResponse{
		Type:         protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest,
		ErrorMessage: text,
	}}
}

// handle serves a message for uid: the record is the session's when it is new, or bound to the
// session's token and held by no other open WebSocket session. A duplicate (another open
// session of the same token holds the UID) is given a new UID when mayReassign is set.
func (sess *session) handle(conn types.Connection, r fleet.Report, uid string, reply *protobufs.ServerToAgent, mayReassign bool) *protobufs.ServerToAgent {
	s := sess.srv
	now := s.clock.Now()
	view := s.world.View(sess.namespace)
	refusal := ""
	reassignFor := "" // why the UID is taken: the newcomer is served under a new one
	var send bool
	s.registry.Claim(uid, func(a *fleet.Agent) bool {
		switch {
		case a.Namespace == "":
			if !sess.token.Reserve(s.opts.MaxAgentsPerToken) {
				refusal = refusedAgentLimit
				return false
			}
			a.UID, a.Namespace, a.Grant = uid, sess.namespace, sess.token
			s.replica.TookOver(uid, sess.namespace, sess.token, now)
			if r.Attributes == nil {
				reply.Flags |= uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)
			}
		case a.Namespace != sess.namespace:
			// Enrolled in another namespace: the record is left alone, and the newcomer, whoever
			// was first, still gets served under a UID of its own (no one can squat a UID).
			reassignFor, refusal = takenBy(mayReassign, reassignedNamespace)
			return true
		case sess.uid != uid && a.Connected && a.Conn != nil:
			// Another open WebSocket session holds the UID: it keeps it. Of the same token, the
			// newcomer is a duplicate (served under a new UID); of another token of the
			// namespace, refused, as below.
			if a.Grant == sess.token {
				reassignFor, refusal = takenBy(mayReassign, reassignedDuplicate)
			} else {
				refusal = refusedUIDBound
			}
			return true
		case a.Grant != sess.token:
			// Bound to another token of the namespace: refused until that one is revoked, and
			// then resumed under its UID (the rotation's last step: an agent that moved to the
			// new token early keeps its identity). A tenant can only keep its own agents out.
			if !a.Grant.Revoked() {
				refusal = refusedUIDBound
				return true
			}
			if !sess.token.Reserve(s.opts.MaxAgentsPerToken) {
				refusal = refusedAgentLimit
				return true
			}
			a.Grant.Release()
			a.Grant = sess.token
		case r.SequenceNum != a.LastSequenceNum+1 && sess.uid == uid:
			// A gap on a live session: something was lost, ask for everything.
			reply.Flags |= uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)
		}
		a.LastSequenceNum = r.SequenceNum
		if sess.uid != uid || !a.Connected {
			sess.uid = uid
			a.ConnSeq++
			// A plain-HTTP agent opens a session per poll: it stays connected since its first
			// poll for as long as it keeps polling (the sweep disconnects it when it stops).
			if !a.Connected || sess.transport != fleet.TransportHTTP || a.Transport != fleet.TransportHTTP {
				a.ConnectedSince = now
			}
			a.Connected, a.HandedOver = true, false
			a.Transport, a.CertNotAfter = sess.transport, sess.notAfter
			a.Conn = nil // an HTTP poll cannot be pushed to, nor may an old WebSocket's close end it
			if sess.transport == fleet.TransportWS {
				a.Conn = conn
			}
		}
		a.LastSeen = now
		applied := a.Apply(r, now)
		if applied.AppliedOffer {
			s.metrics.applyDuration.WithLabelValues(s.metrics.agentTypes.label(a.ServiceName())).Observe(applied.ApplyDuration.Seconds())
		}
		if applied.AskComponents {
			reply.Flags |= uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportAvailableComponents)
		}
		if r.Disconnect {
			a.MarkDisconnected(now)
			return true
		}
		t := view.Target(a, now)
		var retryAt time.Time
		if t.Rollout != nil {
			retryAt = t.Rollout.RetryAt
		}
		if fleet.ShouldSend(a, t.Push, retryAt, now) {
			reply.RemoteConfig = t.Push.Remote
			send = true
		}
		return true
	})
	if refusal != "" {
		return sess.refuse(reply, refusal, uid)
	}
	if reassignFor != "" {
		return sess.reassign(conn, r, uid, reassignFor, reply)
	}
	if send {
		s.metrics.dispatchLocal.Inc()
	}
	return reply
}

// Why a newcomer's UID was taken: ampora_opamp_instance_uids_reassigned_total{reason}.
const (
	reassignedDuplicate = "duplicate" // an open session of the same token holds it
	reassignedNamespace = "namespace" // it is enrolled in another namespace
)

// takenBy is what becomes of a message whose UID another principal holds: served under a new
// UID (reason) when the session may be given one, refused otherwise (a new UID already taken).
func takenBy(mayReassign bool, reason string) (string, string) {
	if mayReassign {
		return reason, ""
	}
	return "", refusedUIDBound
}

// uidKey keys derivedUID; it lives as long as the process.
var uidKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("no randomness for the instance UID key: " + err.Error())
	}
	return k
}()

// derivedUID is the UID a newcomer presenting uid is given: the same for the same namespace,
// token and UID, so that an agent that ignores new_instance_uid (or reconnects with its old UID)
// gets one record, not one per poll; unguessable to anyone else (a keyed hash, as UUIDv8).
func derivedUID(namespace, token, uid string) [16]byte {
	m := hmac.New(sha256.New, uidKey)
	for _, part := range []string{namespace, token, uid} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	var id [16]byte
	copy(id[:], m.Sum(nil))
	id[6] = id[6]&0x0f | 0x80 // version 8
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id
}

// reassign serves an agent whose UID another principal holds (a cloned VM, a bad UID
// generator, a reconnect the server has not seen the old session of end yet, or another
// namespace squatting the UID) under a new UID, and tells it to adopt that UID, as the OpAMP
// spec recommends for duplicates. The holder's record is left alone, whoever came first.
func (sess *session) reassign(conn types.Connection, r fleet.Report, uid, reason string, reply *protobufs.ServerToAgent) *protobufs.ServerToAgent {
	s := sess.srv
	id := derivedUID(sess.namespace, sess.token.Fingerprint(), uid)
	newUID := fleet.UIDString(id[:])
	s.metrics.uidsReassigned.WithLabelValues(reason).Inc()
	s.log.Info("instance UID held by another principal: agent given a new one", "reason", reason,
		"namespace", sess.namespace, "instanceUID", uid, "newInstanceUID", newUID, "transport", sess.transport)
	out := sess.handle(conn, r, newUID, reply, false)
	if out.ErrorResponse == nil {
		sess.replaced, sess.newUID = uid, id[:]
		out.AgentIdentification = &protobufs.AgentIdentification{NewInstanceUid: id[:]}
	}
	return out
}

// boundedLabels hands out at most max distinct label values, then "other", so that metric
// cardinality stays bounded whatever agents report.
type boundedLabels struct {
	max  int
	seen atomic.Pointer[map[string]struct{}]
}

func (b *boundedLabels) label(v string) string {
	for {
		cur := b.seen.Load()
		n := 0
		if cur != nil {
			if _, ok := (*cur)[v]; ok {
				return v
			}
			n = len(*cur)
		}
		if n >= b.max {
			return "other"
		}
		next := map[string]struct{}{v: {}}
		if cur != nil {
			for k := range *cur {
				next[k] = struct{}{}
			}
		}
		if b.seen.CompareAndSwap(cur, &next) {
			return v
		}
	}
}
