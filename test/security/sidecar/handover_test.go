package sidecar_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/open-telemetry/opamp-go/protobufs"
)

var _ = Describe("handover notices between replicas", func() {
	BeforeEach(func() { h.Setup() })

	It("make a replica forget an agent only when its own principal took it elsewhere, not a session of another token presenting its UID", func() {
		ns, token := tenant("handover-spoof")
		other := secondToken(ns)
		a, regA := replica("handover-spoof-a")
		b, _ := replica("handover-spoof-b")
		victim, mover := newUID(), newUID()
		for _, uid := range [][]byte{victim, mover} {
			ws := dialWS(a, token)
			Expect(ws.send(describe(uid, 0)).ErrorResponse).To(BeNil())
			ws.send(&protobufs.AgentToServer{InstanceUid: uid, SequenceNum: 1, AgentDisconnect: &protobufs.AgentDisconnect{}})
		}
		Expect(agents(a, ns)).To(HaveLen(2))

		By("another token of the namespace presents the victim's UID to the other replica")
		Expect(dialWS(b, other).send(describe(victim, 0)).ErrorResponse).To(BeNil())
		Eventually(func() float64 { return metric(regA, "ampora_opamp_handover_agents_total") }, 20*time.Second).Should(BeNumerically(">=", 1))
		Expect(agents(a, ns)).To(HaveKey(uidString(victim)), "a session of another token made the replica forget the victim")

		By("an agent that really moves, with its own token, is forgotten")
		Expect(dialWS(b, token).send(describe(mover, 0)).ErrorResponse).To(BeNil())
		Eventually(func() map[string]any {
			out := map[string]any{}
			for uid := range agents(a, ns) {
				out[uid] = nil
			}
			return out
		}, 20*time.Second).ShouldNot(HaveKey(uidString(mover)))
		Expect(agents(a, ns)).To(HaveKey(uidString(victim)))
	})

	It("refuses a notice that names more agents than one notice may", func() {
		a, _ := replica("handover-big-a")
		token, err := h.Token()
		Expect(err).NotTo(HaveOccurred())
		type entry struct {
			UID       string `json:"uid"`
			Namespace string `json:"namespace"`
			Token     string `json:"token"`
		}
		entries := make([]entry, 5001)
		for i := range entries {
			entries[i] = entry{UID: fmt.Sprintf("uid-%d", i), Namespace: "x"}
		}
		body, err := json.Marshal(map[string]any{"replica": "someone", "agents": entries})
		Expect(err).NotTo(HaveOccurred())
		req, err := http.NewRequest(http.MethodPost, "http://"+a.Srv.ReadAPIAddr().String()+"/v1/handover", bytes.NewReader(body))
		Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := httpClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusRequestEntityTooLarge))
	})
})
