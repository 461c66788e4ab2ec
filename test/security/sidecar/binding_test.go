package sidecar_test

import (
	"context"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

const refused = "ampora_opamp_agents_refused_total"

// forgedHash is the config hash an attacker reports APPLIED for, in another agent's name.
var forgedHash = []byte("0123456789abcdef0123456789abcdef")

var _ = Describe("instance UID binding", func() {
	BeforeEach(func() { h.Setup() })

	It("refuses a session that switches to another agent's instance_uid, closes it, and leaves both records alone", func() {
		ns, token := tenant("uid-switch")
		sc, reg := replica("uid-switch-0")
		victimUID, ownUID := newUID(), newUID()
		victim := dialWS(sc, token)
		Expect(victim.send(describe(victimUID, 0)).ErrorResponse).To(BeNil())

		attacker := dialWS(sc, token)
		Expect(attacker.send(describe(ownUID, 0)).ErrorResponse).To(BeNil())
		By("switching to the victim's UID on the same session, to report APPLIED for it")
		reply := attacker.send(applied(victimUID, 1, forgedHash))
		Expect(reply.GetErrorResponse().GetErrorMessage()).To(Equal("instance_uid changed on this session"))
		Expect(attacker.closedByServer()).To(BeTrue(), "the session stays open")

		list := agents(sc, ns)
		Expect(list).To(HaveKey(uidString(victimUID)))
		v := list[uidString(victimUID)]
		Expect(v.Connected).To(BeTrue())
		Expect(v.StatusHash).To(BeEmpty(), "the attacker reported for the victim")
		Expect(v.Status).To(BeEmpty())
		Expect(metric(reg, refused, "reason", "uid_changed")).To(Equal(1.0))
		By("the victim's session still serves it")
		Expect(victim.send(&protobufs.AgentToServer{InstanceUid: victimUID, SequenceNum: 1}).ErrorResponse).To(BeNil())
	})

	It("refuses a live agent's instance_uid to a session or poll of another token or namespace, and leaves its record alone", func() {
		ns, token := tenant("uid-other-token")
		other := secondToken(ns)
		_, foreign := tenant("uid-other-ns")
		sc, reg := replica("uid-other-token-0")
		victimUID := newUID()
		victim := dialWS(sc, token)
		Expect(victim.send(describe(victimUID, 0)).ErrorResponse).To(BeNil())

		By("a WebSocket session of another token of the namespace")
		ws := dialWS(sc, other)
		reply := ws.send(applied(victimUID, 1, forgedHash))
		Expect(reply.GetErrorResponse().GetErrorMessage()).To(Equal("instance_uid is bound to another session or enrollment token"))
		Expect(ws.closedByServer()).To(BeTrue())

		By("plain-HTTP polls of another token, then of another namespace")
		code, r := poll(sc, other, applied(victimUID, 1, forgedHash))
		Expect(code).To(Equal(http.StatusOK))
		Expect(r.GetErrorResponse().GetErrorMessage()).To(Equal("instance_uid is bound to another session or enrollment token"))
		code, r = poll(sc, foreign, applied(victimUID, 1, forgedHash))
		Expect(code).To(Equal(http.StatusOK))
		Expect(r.GetErrorResponse().GetErrorMessage()).To(Equal("instance_uid is enrolled in another namespace"))

		By("after the victim disconnects, its UID stays bound to its token")
		victim.send(&protobufs.AgentToServer{InstanceUid: victimUID, SequenceNum: 1, AgentDisconnect: &protobufs.AgentDisconnect{}})
		code, r = poll(sc, other, applied(victimUID, 2, forgedHash))
		Expect(code).To(Equal(http.StatusOK))
		Expect(r.GetErrorResponse()).NotTo(BeNil())

		v := agents(sc, ns)[uidString(victimUID)]
		Expect(v.StatusHash).To(BeEmpty(), "another principal reported for the victim")
		Expect(v.Transport).To(Equal("ws"))
		Expect(metric(reg, refused, "reason", "uid_bound")).To(Equal(3.0))
	})

	It("gives a second agent of the same token that presents a live agent's UID a new one (OpAMP's duplicate instance_uid rule), and keeps the first", func() {
		ns, token := tenant("uid-dup")
		sc, reg := replica("uid-dup-0")
		first := harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 1, UIDPrefix: "uid-dup", Seed: 1})
		Eventually(func() int { return len(agents(sc, ns)) }, 10*time.Second).Should(Equal(1))
		uid := first.Agents[0].UID.String()

		By("a clone: the real opamp-go client, same token, same UID")
		clone, err := fleetsim.Start(context.Background(), fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 1, UIDPrefix: "uid-dup", Seed: 1})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(clone.Stop)
		Expect(clone.Agents[0].UID.String()).To(Equal(uid))
		Eventually(func() int { return len(agents(sc, ns)) }, 10*time.Second).Should(Equal(2), "the clone took over the first agent's record")
		Expect(metric(reg, "ampora_opamp_instance_uids_reassigned_total")).To(Equal(1.0))
		Expect(agents(sc, ns)).To(HaveKeyWithValue(uid, HaveField("Connected", BeTrue())))

		By("the clone's session ending leaves the first agent connected")
		clone.Stop()
		Eventually(func() int {
			n := 0
			for _, a := range agents(sc, ns) {
				if a.Connected {
					n++
				}
			}
			return n
		}, 10*time.Second).Should(Equal(1))
		Expect(agents(sc, ns)[uid].Connected).To(BeTrue())
	})

	It("caps the agents one token may register, with a refusal the agent can read", func() {
		ns, token := tenant("uid-cap")
		other := secondToken(ns)
		sc, reg := replica("uid-cap-0", func(o *opampserver.Options) { o.MaxAgentsPerToken = 3 })
		for range 3 {
			Expect(dialWS(sc, token).send(describe(newUID(), 0)).ErrorResponse).To(BeNil())
		}
		By("a fourth UID over WebSocket, then over plain HTTP")
		ws := dialWS(sc, token)
		reply := ws.send(describe(newUID(), 0))
		Expect(reply.GetErrorResponse().GetErrorMessage()).To(Equal("enrollment token has reached its limit of 3 agents on this replica"))
		Expect(ws.closedByServer()).To(BeTrue())
		code, r := poll(sc, token, describe(newUID(), 0))
		Expect(code).To(Equal(http.StatusOK))
		Expect(r.GetErrorResponse().GetErrorMessage()).To(ContainSubstring("limit of 3 agents"))
		Expect(agents(sc, ns)).To(HaveLen(3))
		Expect(metric(reg, refused, "reason", "agent_limit")).To(Equal(2.0))

		By("another token of the namespace has a cap of its own")
		Expect(dialWS(sc, other).send(describe(newUID(), 0)).ErrorResponse).To(BeNil())
	})
})
