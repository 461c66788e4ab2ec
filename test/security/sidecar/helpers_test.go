package sidecar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/fleet"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/harness"
)

// replica starts a sidecar whose metrics the spec can read.
func replica(name string, mutate ...func(*opampserver.Options)) (*harness.Sidecar, *prometheus.Registry) {
	GinkgoHelper()
	reg := prometheus.NewRegistry()
	sc := h.StartSidecar(name, append([]func(*opampserver.Options){func(o *opampserver.Options) { o.Registry = reg }}, mutate...)...)
	return sc, reg
}

func httpURL(sc *harness.Sidecar) string { return "http://" + sc.Srv.Addr().String() + "/v1/opamp" }

// tenant creates a namespace with an enrollment token and an AgentGroup "all" of every agent
// with service.name otelcol, so that the read API lists its agents.
func tenant(prefix string) (ns, token string) {
	GinkgoHelper()
	ns, token = h.Namespace(prefix)
	Expect(env.Client.Create(context.Background(), &fleetv1alpha1.AgentGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "all"},
		Spec:       fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": "otelcol"}}},
	})).To(Succeed())
	return ns, token
}

// secondToken adds another enrollment token to ns, in a Secret of its own.
func secondToken(ns string) string {
	GinkgoHelper()
	token := "tok2-" + ns
	Expect(env.Client.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "enroll-2",
			Labels: map[string]string{readapi.LabelEnrollmentToken: "true"}},
		Data: map[string][]byte{readapi.TokenKey: []byte(token)},
	})).To(Succeed())
	return token
}

func newUID() []byte {
	u := uuid.New()
	return u[:]
}

// describe is a first message: the agent's description and capabilities.
func describe(uid []byte, seq uint64) *protobufs.AgentToServer {
	return &protobufs.AgentToServer{InstanceUid: uid, SequenceNum: seq,
		Capabilities: uint64(protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
			protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig),
		AgentDescription: &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{{
			Key: "service.name", Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: "otelcol"}}}}},
	}
}

// applied reports APPLIED for a config hash.
func applied(uid []byte, seq uint64, hash []byte) *protobufs.AgentToServer {
	return &protobufs.AgentToServer{InstanceUid: uid, SequenceNum: seq, RemoteConfigStatus: &protobufs.RemoteConfigStatus{
		LastRemoteConfigHash: hash, Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED}}
}

// wsAgent is a raw OpAMP WebSocket client: it sends what it is told and reads the replies.
type wsAgent struct{ ws *websocket.Conn }

func dialWS(sc *harness.Sidecar, token string) *wsAgent {
	GinkgoHelper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial("ws://"+sc.Srv.Addr().String()+"/v1/opamp", http.Header{"Authorization": {"Bearer " + token}})
	Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	DeferCleanup(ws.Close)
	return &wsAgent{ws: ws}
}

// send writes one message in the OpAMP WebSocket framing and returns the reply.
func (a *wsAgent) send(m *protobufs.AgentToServer) *protobufs.ServerToAgent {
	GinkgoHelper()
	data, err := proto.Marshal(m)
	Expect(err).NotTo(HaveOccurred())
	Expect(a.ws.WriteMessage(websocket.BinaryMessage, append([]byte{0}, data...))).To(Succeed())
	return a.read()
}

func (a *wsAgent) read() *protobufs.ServerToAgent {
	GinkgoHelper()
	Expect(a.ws.SetReadDeadline(time.Now().Add(10 * time.Second))).To(Succeed())
	_, data, err := a.ws.ReadMessage()
	Expect(err).NotTo(HaveOccurred())
	var reply protobufs.ServerToAgent
	Expect(proto.Unmarshal(data[1:], &reply)).To(Succeed())
	return &reply
}

// closedByServer says whether the server ended the session: the next read fails.
func (a *wsAgent) closedByServer() bool {
	_ = a.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := a.ws.ReadMessage()
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	t, ok := err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}

// poll sends one plain-HTTP poll and returns the status code and the reply.
func poll(sc *harness.Sidecar, token string, m *protobufs.AgentToServer) (int, *protobufs.ServerToAgent) {
	GinkgoHelper()
	data, err := proto.Marshal(m)
	Expect(err).NotTo(HaveOccurred())
	return post(sc, token, bytes.NewReader(data), nil)
}

// post sends body as a plain-HTTP poll, with extra headers.
func post(sc *harness.Sidecar, token string, body io.Reader, header http.Header) (int, *protobufs.ServerToAgent) {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodPost, httpURL(sc), body)
	Expect(err).NotTo(HaveOccurred())
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var reply protobufs.ServerToAgent
	Expect(proto.Unmarshal(data, &reply)).To(Succeed())
	return resp.StatusCode, &reply
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// agents lists the agents of group "all" in ns that the replica holds, by instance UID.
func agents(sc *harness.Sidecar, ns string) map[string]readapi.Agent {
	GinkgoHelper()
	token, err := h.Token()
	Expect(err).NotTo(HaveOccurred())
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v1/namespaces/%s/agentgroups/all/agents", sc.Srv.ReadAPIAddr(), ns), nil)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var list readapi.AgentList
	Expect(json.NewDecoder(resp.Body).Decode(&list)).To(Succeed())
	out := map[string]readapi.Agent{}
	for _, a := range list.Items {
		out[a.InstanceUID] = a
	}
	return out
}

// metric reads a counter or gauge of reg with the given label pairs; 0 when absent.
func metric(reg *prometheus.Registry, name string, labels ...string) float64 {
	GinkgoHelper()
	return harness.MetricValue(reg, name, labels...)
}

func uidString(b []byte) string { return fleet.UIDString(b) }

func attr(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}
