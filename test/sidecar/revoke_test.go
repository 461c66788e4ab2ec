package sidecar_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/fleetsim"
)

// enrollSecret creates a labelled Secret ns/name that holds token.
func enrollSecret(ns, name, token string) *corev1.Secret {
	GinkgoHelper()
	s := &corev1.Secret{
		ObjectMeta: objMeta(ns, name),
		Data:       map[string][]byte{readapi.TokenKey: []byte(token)},
	}
	s.Labels = map[string]string{readapi.LabelEnrollmentToken: "true"}
	Expect(env.Client.Create(context.Background(), s)).To(Succeed())
	return s
}

// pollStatus sends one empty plain-HTTP poll with token and returns the status code.
func pollStatus(ctx context.Context, sc *sidecar, token string) int {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sc.HTTPURL(), strings.NewReader(""))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+token)
	code, _, err := do(req)
	Expect(err).NotTo(HaveOccurred())
	return code
}

var _ = Describe("OpAMP sidecar token revocation", func() {
	BeforeEach(ensureOperatorNamespace)

	It("closes the sessions of a token whose Secret is deleted, rotated or unlabelled, refuses their reconnects, and leaves other tokens' agents alone", func(ctx SpecContext) {
		ns, kept := namespace("revoke") // the Secret "enroll" holds the token that stays
		deleted := enrollSecret(ns, "deleted", "tok-deleted-"+ns)
		rotated := enrollSecret(ns, "rotated", "tok-rotated-"+ns)
		unlabelled := enrollSecret(ns, "unlabelled", "tok-unlabelled-"+ns)
		oldTokens := []string{"tok-deleted-" + ns, "tok-rotated-" + ns, "tok-unlabelled-" + ns}

		reg := prometheus.NewRegistry()
		sc := startSidecar("revoke-0", func(o *opampserver.Options) { o.Registry = reg })
		eng := newEngine(ns, collectorConfig, nil)

		fleets := map[string]*fleetsim.Fleet{}
		for i, tok := range append([]string{kept}, oldTokens...) {
			name := []string{"kept", "deleted", "rotated", "unlabelled"}[i]
			fleets[name] = startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: tok, Agents: 3, UIDPrefix: "revoke-" + name})
		}
		startFleet(fleetsim.Options{URLs: []string{sc.HTTPURL()}, Token: oldTokens[0], Agents: 2,
			UIDPrefix: "revoke-http", HTTP: true, PollInterval: 200 * time.Millisecond})
		Eventually(func() float64 { return metricValue(reg, "ampora_opamp_connected_agents") }, 10*time.Second).Should(Equal(14.0))
		for _, tok := range append([]string{kept}, oldTokens...) {
			Expect(pollStatus(ctx, sc, tok)).To(Equal(http.StatusOK))
		}
		invalidBefore := metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "invalid_token")

		By("deleting one Secret, changing another's token and unlabelling the third")
		Expect(env.Client.Delete(ctx, deleted)).To(Succeed())
		patch := client.MergeFrom(rotated.DeepCopy())
		rotated.Data[readapi.TokenKey] = []byte("tok-rotated-new-" + ns)
		Expect(env.Client.Patch(ctx, rotated, patch)).To(Succeed())
		patch = client.MergeFrom(unlabelled.DeepCopy())
		delete(unlabelled.Labels, readapi.LabelEnrollmentToken)
		Expect(env.Client.Patch(ctx, unlabelled, patch)).To(Succeed())

		By("ending their sessions and refusing their reconnects")
		Eventually(func() float64 { return metricValue(reg, "ampora_opamp_connected_agents") }, 10*time.Second).Should(Equal(3.0))
		Expect(metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "token_revoked")).To(BeNumerically(">=", 9))
		for _, name := range []string{"deleted", "rotated", "unlabelled"} {
			Eventually(fleets[name].Connected, 10*time.Second).Should(BeZero(), name)
		}
		Eventually(func() float64 {
			return metricValue(reg, "ampora_opamp_rejected_connections_total", "reason", "invalid_token")
		}, 10*time.Second).Should(BeNumerically(">=", invalidBefore+11), "every cut agent, and the plain-HTTP ones, tried again and were refused")
		for _, tok := range oldTokens {
			Expect(pollStatus(ctx, sc, tok)).To(Equal(http.StatusUnauthorized))
		}
		Expect(pollStatus(ctx, sc, "tok-rotated-new-"+ns)).To(Equal(http.StatusOK))

		By("leaving the agents of the token that stayed untouched")
		Consistently(fleets["kept"].Connected, 2*time.Second, 200*time.Millisecond).Should(Equal(3))
		reader := serviceAccountToken(ns, "reader")
		grantRolloutReader(ns, "reader")
		var list readapi.AgentList
		Eventually(func(g Gomega) {
			code, body, err := readAPI(ctx, sc, reader, "/v1/namespaces/"+ns+"/agentgroups/"+eng.group+"/agents")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(http.StatusOK), string(body))
			g.Expect(json.Unmarshal(body, &list)).To(Succeed())
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		keptUIDs := map[string]bool{}
		for _, uid := range uidsOf(fleets["kept"]) {
			keptUIDs[uid] = true
		}
		Expect(list.Items).To(HaveLen(14))
		for _, a := range list.Items {
			if keptUIDs[a.InstanceUID] {
				Expect(a.Connected).To(BeTrue(), a.InstanceUID)
				Expect(a.RecentDrops).To(BeZero(), "an agent of the kept token lost its session")
			} else {
				Expect(a.Connected).To(BeFalse(), a.InstanceUID)
			}
		}
	})
})
