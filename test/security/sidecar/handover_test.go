package sidecar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/open-telemetry/opamp-go/protobufs"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
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
		token, err := h.ReadAPIToken()
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

	It("send and take only tokens the API server refuses: a peer cannot act as the replica that notified it", func() {
		ctx := context.Background()
		ns, token := tenant("handover-token")
		a, _ := replica("handover-token-a")

		By("a peer that records what it is sent, found through its Lease as any peer is")
		var mu sync.Mutex
		var sent []string
		peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			sent = append(sent, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			mu.Unlock()
		}))
		DeferCleanup(peer.Close)
		now := metav1.NewMicroTime(time.Now())
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: harness.OperatorNamespace, Name: readapi.LeaseName("handover-token-peer"),
			Labels: map[string]string{readapi.LabelReplicaLease: "true"}, Annotations: map[string]string{readapi.AnnotationReadAPI: peer.URL}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("handover-token-peer"), LeaseDurationSeconds: ptr.To(int32(3600)), AcquireTime: &now, RenewTime: &now}}
		Expect(env.Client.Create(ctx, lease)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(env.Client.Delete(ctx, lease))).To(Succeed()) })

		By("an agent that had a session on the peer opens one here: the peer is notified")
		uid := newUID()
		Expect(dialWS(a, token).send(describe(uid, 0)).ErrorResponse).To(BeNil())
		Eventually(func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), sent...) }, 20*time.Second).ShouldNot(BeEmpty())
		mu.Lock()
		got := sent[0]
		mu.Unlock()
		cfg := rest.AnonymousClientConfig(env.Config)
		cfg.BearerToken = got
		asReplica, err := client.New(cfg, client.Options{Scheme: env.Scheme})
		Expect(err).NotTo(HaveOccurred())
		err = asReplica.List(ctx, &fleetv1alpha1.RolloutList{}, client.InNamespace(ns))
		Expect(apierrors.IsUnauthorized(err)).To(BeTrue(), "the token a replica sends its peers acts at the API server: %v", err)

		By("a notice with a token the API server takes is refused, though it is the operator's own account")
		notice := func(bearer string) int {
			body, err := json.Marshal(map[string]any{"replica": "someone", "agents": []map[string]string{{"uid": uidString(uid), "namespace": ns}}})
			Expect(err).NotTo(HaveOccurred())
			req, err := http.NewRequest(http.MethodPost, "http://"+a.Srv.ReadAPIAddr().String()+"/v1/handover", bytes.NewReader(body))
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Authorization", "Bearer "+bearer)
			resp, err := httpClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			_ = resp.Body.Close()
			return resp.StatusCode
		}
		apiToken, err := h.Token()
		Expect(err).NotTo(HaveOccurred())
		Expect(notice(apiToken)).To(Equal(http.StatusUnauthorized))
		By("and so is one bound to the read API's audience and to the API server's as well")
		review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: apiToken}}
		Expect(env.Client.Create(ctx, review)).To(Succeed())
		Expect(review.Status.Audiences).NotTo(BeEmpty())
		both, err := testenv.AccountToken(ctx, env.Client, harness.OperatorNamespace, harness.ServiceAccount, 600,
			append(review.Status.Audiences, readapi.DefaultAudience)...)
		Expect(err).NotTo(HaveOccurred())
		Expect(notice(both)).To(Equal(http.StatusUnauthorized))
		peerToken, err := h.ReadAPIToken()
		Expect(err).NotTo(HaveOccurred())
		Expect(notice(peerToken)).To(Equal(http.StatusOK), "control: the operator's token for the read API's audience")
	})
})
