package opampserver

import (
	"context"
	"testing"

	"github.com/open-telemetry/opamp-go/protobufs"
)

// grantSession opens a WebSocket session enrolled with grant, as admit would.
func grantSession(s *Server, g *enrollment) (*session, *fakeConn) {
	sess, conn := &session{srv: s, namespace: g.namespace, transport: transportWS, token: g}, &fakeConn{}
	sess.onConnected(context.Background(), conn)
	return sess, conn
}

func errMessage(r *protobufs.ServerToAgent) string { return r.GetErrorResponse().GetErrorMessage() }

func TestSessionUIDNeverChanges(t *testing.T) {
	s, _ := newTestServer(t)
	g := &enrollment{namespace: testNamespace}
	victim, victimConn := grantSession(s, g)
	victim.onMessage(context.Background(), victimConn, describe(testUID(2), 0, capsFull))
	sess, conn := grantSession(s, g)
	sess.onMessage(context.Background(), conn, describe(testUID(1), 0, capsFull))

	reply := sess.onMessage(context.Background(), conn, status(testUID(2), 1, "aa", applied, ""))
	if errMessage(reply) != "instance_uid changed on this session" || !sess.closeAfterReply {
		t.Fatalf("switching UIDs: reply %v, close %v; want refused and closed", reply, sess.closeAfterReply)
	}
	if a, _ := agentCopy(s, testUID(2)); a.StatusHash != "" || a.conn != victimConn {
		t.Errorf("the other agent's record was touched: status %q", a.StatusHash)
	}
	if a, _ := agentCopy(s, testUID(1)); a.lastSequenceNum != 0 || !a.Connected {
		t.Errorf("the session's own record was touched: seq %d", a.lastSequenceNum)
	}
	if got := counterValue(t, s.metrics.agentsRefused.WithLabelValues(refusedUIDChanged)); got != 1 {
		t.Errorf("uid_changed refusals = %v, want 1", got)
	}
}

func TestDuplicateUID(t *testing.T) {
	s, _ := newTestServer(t)
	g := &enrollment{namespace: testNamespace}
	other := &enrollment{namespace: testNamespace}
	uid := testUID(1)
	first, firstConn := grantSession(s, g)
	first.onMessage(context.Background(), firstConn, describe(uid, 0, capsFull))

	// Another token of the namespace: refused, whatever the transport.
	intruder, intruderConn := grantSession(s, other)
	if r := intruder.onMessage(context.Background(), intruderConn, describe(uid, 0, capsFull)); errMessage(r) == "" || !intruder.closeAfterReply {
		t.Errorf("another token's session was served: %v", r)
	}
	poll := &session{srv: s, namespace: testNamespace, transport: transportHTTP, token: other}
	if r := poll.onMessage(context.Background(), &fakeConn{}, describe(uid, 0, capsFull)); errMessage(r) == "" {
		t.Errorf("another token's poll was served: %v", r)
	}

	// The same token while the first session is open: a new UID, the old record untouched.
	dup, dupConn := grantSession(s, g)
	r := dup.onMessage(context.Background(), dupConn, withStatus(describe(uid, 0, capsFull), "bb", applied))
	newUID := r.GetAgentIdentification().GetNewInstanceUid()
	if r.ErrorResponse != nil || len(newUID) != 16 {
		t.Fatalf("duplicate: reply %v, want a new instance UID", r)
	}
	if a, _ := agentCopy(s, uid); a.conn != firstConn || a.StatusHash != "" || a.token != g {
		t.Errorf("the first session's record was touched: %+v", a)
	}
	if a, ok := agentCopy(s, newUID); !ok || a.conn != dupConn || a.StatusHash != "bb" {
		t.Errorf("the duplicate's report is not under its new UID: %+v", a)
	}
	// A message sent with the old UID before the agent read the reply is told again.
	if r := dup.onMessage(context.Background(), dupConn, heartbeat(uid, 1)); string(r.GetAgentIdentification().GetNewInstanceUid()) != string(newUID) {
		t.Errorf("old UID on the reassigned session: %v", r)
	}
	if got := counterValue(t, s.metrics.uidsReassigned); got != 1 {
		t.Errorf("reassigned = %v, want 1", got)
	}
	if n := g.agents.Load(); n != 2 {
		t.Errorf("token holds %d agents, want 2", n)
	}

	// Closed, the agent's record is still bound to its token: another token is refused it,
	// until the token is revoked.
	first.onClose(firstConn)
	late, lateConn := grantSession(s, other)
	if r := late.onMessage(context.Background(), lateConn, heartbeat(uid, 1)); errMessage(r) != "instance_uid is bound to another session or enrollment token" {
		t.Errorf("another token resumed a disconnected agent: %v", r)
	}
	g.revoked.Store(true)
	resumed, resumedConn := grantSession(s, other)
	if r := resumed.onMessage(context.Background(), resumedConn, heartbeat(uid, 1)); r.ErrorResponse != nil {
		t.Errorf("another token of the namespace could not resume after the revocation: %v", r)
	}
	if a, _ := agentCopy(s, uid); a.token != other || other.agents.Load() != 1 {
		t.Errorf("resumed agent bound to %v, token holds %d", a.token, other.agents.Load())
	}
}

func TestAgentsPerTokenCapped(t *testing.T) {
	s, _ := newTestServer(t)
	s.opts.MaxAgentsPerToken = 3
	g := &enrollment{namespace: testNamespace}
	for i := range 3 {
		sess, conn := grantSession(s, g)
		if r := sess.onMessage(context.Background(), conn, describe(testUID(byte(i)), 0, capsFull)); r.ErrorResponse != nil {
			t.Fatalf("agent %d refused: %v", i, r)
		}
		sess.onClose(conn) // disconnected agents count too
	}
	sess, conn := grantSession(s, g)
	r := sess.onMessage(context.Background(), conn, describe(testUID(9), 0, capsFull))
	if errMessage(r) != "enrollment token has reached its limit of 3 agents on this replica" || !sess.closeAfterReply {
		t.Fatalf("fourth agent: %v", r)
	}
	if _, ok := agentCopy(s, testUID(9)); ok || s.registry.Len() != 3 {
		t.Errorf("the refused agent was registered (%d agents)", s.registry.Len())
	}
	// A known agent comes back; a forgotten one frees its slot.
	back, backConn := grantSession(s, g)
	if r := back.onMessage(context.Background(), backConn, heartbeat(testUID(0), 1)); r.ErrorResponse != nil {
		t.Errorf("a known agent was refused: %v", r)
	}
	s.registry.Delete(UIDString(testUID(1)))
	again, againConn := grantSession(s, g)
	if r := again.onMessage(context.Background(), againConn, describe(testUID(9), 0, capsFull)); r.ErrorResponse != nil {
		t.Errorf("refused after a slot was freed: %v", r)
	}
	if got := counterValue(t, s.metrics.agentsRefused.WithLabelValues(refusedAgentLimit)); got != 1 {
		t.Errorf("agent_limit refusals = %v, want 1", got)
	}
}
