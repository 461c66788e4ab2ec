package opampserver

import (
	"context"
	"testing"

	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/ampora-io/ampora/opampserver/fleet"
)

// grantSession opens a WebSocket session enrolled with grant, as admit would.
func grantSession(s *Server, g *fleet.Grant) (*session, *fakeConn) {
	sess, conn := &session{srv: s, namespace: g.Namespace(), transport: fleet.TransportWS, token: g}, &fakeConn{}
	sess.onConnected(context.Background(), conn)
	return sess, conn
}

func errMessage(r *protobufs.ServerToAgent) string { return r.GetErrorResponse().GetErrorMessage() }

func TestSessionUIDNeverChanges(t *testing.T) {
	s, _ := newTestServer(t)
	g := fleet.NewGrant(testNamespace, "")
	victim, victimConn := grantSession(s, g)
	victim.onMessage(context.Background(), victimConn, describe(testUID(2), 0, capsFull))
	sess, conn := grantSession(s, g)
	sess.onMessage(context.Background(), conn, describe(testUID(1), 0, capsFull))

	reply := sess.onMessage(context.Background(), conn, status(testUID(2), 1, "aa", applied, ""))
	if errMessage(reply) != "instance_uid changed on this session" || !sess.closeAfterReply {
		t.Fatalf("switching UIDs: reply %v, close %v; want refused and closed", reply, sess.closeAfterReply)
	}
	if a, _ := agentCopy(s, testUID(2)); a.StatusHash != "" || a.Conn != victimConn {
		t.Errorf("the other agent's record was touched: status %q", a.StatusHash)
	}
	if a, _ := agentCopy(s, testUID(1)); a.LastSequenceNum != 0 || !a.Connected {
		t.Errorf("the session's own record was touched: seq %d", a.LastSequenceNum)
	}
	if got := counterValue(t, s.metrics.agentsRefused.WithLabelValues(refusedUIDChanged)); got != 1 {
		t.Errorf("uid_changed refusals = %v, want 1", got)
	}
}

// A UID an open session of the same token holds, or one enrolled in another namespace (live
// or not), is never given to a newcomer, and never denied it either: the newcomer is served
// under a new UID and told to adopt it, the holder's record is left alone, so nobody can take
// over an agent's record nor squat another tenant's UID to keep its agent out. The new UID is
// the same each time the same newcomer presents the same UID.
func TestTakenUIDReassigned(t *testing.T) {
	for _, tc := range []struct {
		name   string
		other  func(g *fleet.Grant) *fleet.Grant // the newcomer's grant
		close  bool                              // the holder's session ends first
		reason string
	}{
		{"duplicate of an open session of the same token", func(g *fleet.Grant) *fleet.Grant { return g }, false, reassignedDuplicate},
		{"another namespace, holder connected", func(*fleet.Grant) *fleet.Grant { return fleet.NewGrant("staging", "") }, false, reassignedNamespace},
		{"another namespace, holder gone", func(*fleet.Grant) *fleet.Grant { return fleet.NewGrant("staging", "") }, true, reassignedNamespace},
	} {
		for _, transport := range []string{fleet.TransportWS, fleet.TransportHTTP} {
			t.Run(tc.name+"/"+transport, func(t *testing.T) {
				s, _ := newTestServer(t)
				g := fleet.NewGrant(testNamespace, "")
				uid := testUID(1)
				holder, holderConn := grantSession(s, g)
				holder.onMessage(context.Background(), holderConn, describe(uid, 0, capsFull))
				if tc.close {
					holder.onClose(holderConn)
				}
				other := tc.other(g)
				sess, conn := &session{srv: s, namespace: other.Namespace(), transport: transport, token: other}, &fakeConn{}
				if transport == fleet.TransportWS {
					sess, conn = grantSession(s, other)
				}
				r := sess.onMessage(context.Background(), conn, withStatus(describe(uid, 0, capsFull), "bb", applied))
				newUID := r.GetAgentIdentification().GetNewInstanceUid()
				if r.ErrorResponse != nil || len(newUID) != 16 || sess.closeAfterReply {
					t.Fatalf("reply %v (closed %v), want it served under a new instance UID", r, sess.closeAfterReply)
				}
				a, _ := agentCopy(s, uid)
				if a.StatusHash != "" || a.Grant != g || a.Namespace != testNamespace || a.Connected == tc.close {
					t.Errorf("the holder's record was touched: %+v", a)
				}
				if n, ok := agentCopy(s, newUID); !ok || n.StatusHash != "bb" || n.Grant != other || n.Namespace != other.Namespace() {
					t.Errorf("the newcomer's report is not under its new UID: %+v", n)
				}
				if transport == fleet.TransportWS {
					// A message sent with the old UID before the agent read the reply is told again.
					if r := sess.onMessage(context.Background(), conn, heartbeat(uid, 1)); string(r.GetAgentIdentification().GetNewInstanceUid()) != string(newUID) {
						t.Errorf("old UID on the reassigned session: %v", r)
					}
				}
				if got := counterValue(t, s.metrics.uidsReassigned.WithLabelValues(tc.reason)); got != 1 {
					t.Errorf("reassigned{reason=%s} = %v, want 1", tc.reason, got)
				}
				// The same newcomer again (a new poll, a reconnect): the same new UID, one record.
				again, againConn := &session{srv: s, namespace: other.Namespace(), transport: transport, token: other}, &fakeConn{}
				if transport == fleet.TransportWS {
					sess.onClose(conn)
					again, againConn = grantSession(s, other)
				}
				n := s.registry.Len()
				if r := again.onMessage(context.Background(), againConn, describe(uid, 0, capsFull)); string(r.GetAgentIdentification().GetNewInstanceUid()) != string(newUID) {
					t.Errorf("the same newcomer got another UID: %v", r)
				}
				if s.registry.Len() != n {
					t.Errorf("the same newcomer made another record: %d, want %d", s.registry.Len(), n)
				}
			})
		}
	}
}

// A UID bound to another token of the namespace is refused, connected or not (the tenant can
// keep only its own agents out), until that token is revoked; then another token of the
// namespace resumes the agent under its UID (the rotation's last step).
func TestRevokedTokensAgentResumed(t *testing.T) {
	s, _ := newTestServer(t)
	g := fleet.NewGrant(testNamespace, "")
	other := fleet.NewGrant(testNamespace, "")
	uid := testUID(1)
	first, firstConn := grantSession(s, g)
	first.onMessage(context.Background(), firstConn, describe(uid, 0, capsFull))
	for _, live := range []bool{true, false} {
		if !live {
			first.onClose(firstConn)
		}
		early, earlyConn := grantSession(s, other)
		if r := early.onMessage(context.Background(), earlyConn, withStatus(heartbeat(uid, 1), "bb", applied)); errMessage(r) != "instance_uid is bound to another session or enrollment token" || !early.closeAfterReply {
			t.Errorf("another token of the namespace (holder live %v): %v", live, r)
		}
		if a, _ := agentCopy(s, uid); a.StatusHash != "" || a.Grant != g {
			t.Errorf("the record was touched: %+v", a)
		}
	}
	g.Revoke()
	resumed, resumedConn := grantSession(s, other)
	if r := resumed.onMessage(context.Background(), resumedConn, heartbeat(uid, 1)); r.ErrorResponse != nil || r.AgentIdentification != nil {
		t.Errorf("another token of the namespace could not resume after the revocation: %v", r)
	}
	if a, _ := agentCopy(s, uid); a.Grant != other || other.Agents() != 1 || g.Agents() != 0 {
		t.Errorf("resumed agent bound to %v, tokens hold %d and %d", a.Grant, other.Agents(), g.Agents())
	}
}

func TestAgentsPerTokenCapped(t *testing.T) {
	s, _ := newTestServer(t)
	s.opts.MaxAgentsPerToken = 3
	g := fleet.NewGrant(testNamespace, "")
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
	s.registry.Delete(fleet.UIDString(testUID(1)))
	again, againConn := grantSession(s, g)
	if r := again.onMessage(context.Background(), againConn, describe(testUID(9), 0, capsFull)); r.ErrorResponse != nil {
		t.Errorf("refused after a slot was freed: %v", r)
	}
	if got := counterValue(t, s.metrics.agentsRefused.WithLabelValues(refusedAgentLimit)); got != 1 {
		t.Errorf("agent_limit refusals = %v, want 1", got)
	}
}
