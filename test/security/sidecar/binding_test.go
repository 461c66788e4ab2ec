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

const (
	refused    = "ampora_opamp_agents_refused_total"
	reassigned = "ampora_opamp_instance_uids_reassigned_total"
)

// forgedHash is the config hash an attacker reports APPLIED for, in another agent's name.
var forgedHash = []byte("0123456789abcdef0123456789abcdef")

// describedApplied is a full description that also reports APPLIED for forgedHash.
func describedApplied(uid []byte, seq uint64) *protobufs.AgentToServer {
	m := describe(uid, seq)
	m.RemoteConfigStatus = applied(uid, seq, forgedHash).RemoteConfigStatus
	return m
}

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

	It("refuses a UID bound to another token of the namespace, serves another namespace's newcomer under a new UID, and leaves the agent's record alone", func() {
		ns, token := tenant("uid-other-token")
		other := secondToken(ns)
		foreignNS, foreign := tenant("uid-other-ns")
		sc, reg := replica("uid-other-token-0")
		victimUID := newUID()
		victim := dialWS(sc, token)
		Expect(victim.send(describe(victimUID, 0)).ErrorResponse).To(BeNil())
		const bound = "instance_uid is bound to another session or enrollment token"

		By("a WebSocket session of another token of the namespace, reporting APPLIED in the victim's name")
		ws := dialWS(sc, other)
		Expect(ws.send(describedApplied(victimUID, 1)).GetErrorResponse().GetErrorMessage()).To(Equal(bound))
		Expect(ws.closedByServer()).To(BeTrue())

		By("plain-HTTP polls of another token, then of another namespace")
		code, r := poll(sc, other, describedApplied(victimUID, 1))
		Expect(code).To(Equal(http.StatusOK))
		Expect(r.GetErrorResponse().GetErrorMessage()).To(Equal(bound))
		code, r = poll(sc, foreign, describedApplied(victimUID, 1))
		Expect(code).To(Equal(http.StatusOK))
		Expect(r.GetErrorResponse()).To(BeNil())
		newUID := r.GetAgentIdentification().GetNewInstanceUid()
		Expect(newUID).To(HaveLen(16))
		Expect(agents(sc, foreignNS)).To(HaveKeyWithValue(uidString(newUID), HaveField("StatusHash", Not(BeEmpty()))))

		By("after the victim disconnects, its UID stays bound to its token")
		victim.send(&protobufs.AgentToServer{InstanceUid: victimUID, SequenceNum: 1, AgentDisconnect: &protobufs.AgentDisconnect{}})
		code, r = poll(sc, other, describedApplied(victimUID, 2))
		Expect(code).To(Equal(http.StatusOK))
		Expect(r.GetErrorResponse().GetErrorMessage()).To(Equal(bound))

		v := agents(sc, ns)[uidString(victimUID)]
		Expect(v.StatusHash).To(BeEmpty(), "another principal reported for the victim")
		Expect(v.Transport).To(Equal("ws"))
		Expect(agents(sc, foreignNS)).NotTo(HaveKey(uidString(victimUID)))
		Expect(metric(reg, refused, "reason", "uid_bound")).To(Equal(3.0))
		Expect(metric(reg, reassigned, "reason", "namespace")).To(Equal(1.0))
	})

	It("lets no token holder squat another namespace's agent UID: the agent, coming second, is served under a new UID", func() {
		ns, token := tenant("uid-squat")
		_, squatter := tenant("uid-squat-attacker")
		sc, reg := replica("uid-squat-0")
		victimUID := newUID() // known to the attacker (it is in the agent's own files and logs)
		By("the attacker enrols the UID first, over WebSocket and keeps the session open")
		squat := dialWS(sc, squatter)
		Expect(squat.send(describe(victimUID, 0)).ErrorResponse).To(BeNil())

		By("the real agent connects with its UID, adopts the one it is given, and reports under it")
		agent := dialWS(sc, token)
		r := agent.send(describe(victimUID, 0))
		Expect(r.GetErrorResponse()).To(BeNil(), "the agent was kept out")
		adopted := r.GetAgentIdentification().GetNewInstanceUid()
		Expect(adopted).To(HaveLen(16))
		Expect(agent.send(describe(adopted, 1)).ErrorResponse).To(BeNil())
		Expect(agents(sc, ns)).To(HaveKeyWithValue(uidString(adopted), HaveField("Connected", BeTrue())))
		Expect(agents(sc, ns)).NotTo(HaveKey(uidString(victimUID)))

		By("over plain HTTP too, with the same UID every poll")
		polled := newUID()
		Expect(squat.send(describe(polled, 1)).GetErrorResponse().GetErrorMessage()).To(Equal("instance_uid changed on this session"))
		Expect(dialWS(sc, squatter).send(describe(polled, 0)).ErrorResponse).To(BeNil())
		var given []byte
		for range 3 {
			code, pr := poll(sc, token, describe(polled, 0))
			Expect(code).To(Equal(http.StatusOK))
			Expect(pr.GetErrorResponse()).To(BeNil())
			got := pr.GetAgentIdentification().GetNewInstanceUid()
			Expect(got).To(HaveLen(16))
			if given != nil {
				Expect(got).To(Equal(given), "an agent that ignores new_instance_uid gets a new record each poll")
			}
			given = got
		}
		Expect(agents(sc, ns)).To(HaveLen(2))
		Expect(metric(reg, reassigned, "reason", "namespace")).To(Equal(4.0))
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
		Expect(metric(reg, reassigned, "reason", "duplicate")).To(Equal(1.0))
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
