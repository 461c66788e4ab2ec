package sidecar_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/opampserver"
	"github.com/ampora-io/ampora/test/fleetsim"
)

var _ = Describe("OpAMP sidecar security", func() {
	BeforeEach(ensureOperatorNamespace)

	It("serves agents over mTLS, refuses agents without a client certificate, and shows each agent's certificate expiry", func(ctx SpecContext) {
		ns, token := namespace("mtls")
		// x509 keeps whole seconds.
		notAfter := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second).UTC()
		certs := newPKI(GinkgoT().TempDir(), notAfter)
		sc := startSidecar("mtls-0", func(o *opampserver.Options) {
			o.TLSCertFile, o.TLSKeyFile, o.ClientCAFile = certs.ServerCertFile, certs.ServerKeyFile, certs.CAFile
		})
		wss := "wss://" + sc.srv.Addr().String() + "/v1/opamp"
		eng := newEngine(ns, collectorConfig, nil)

		fleet := startFleet(fleetsim.Options{URLs: []string{wss}, Token: token, Agents: 3, UIDPrefix: "mtls",
			TLSConfig: &tls.Config{RootCAs: certs.Roots, Certificates: []tls.Certificate{certs.ClientCert}, MinVersion: tls.VersionTLS12}})

		anonymous, err := fleetsim.Start(ctx, fleetsim.Options{URLs: []string{wss}, Token: token, Agents: 1, UIDPrefix: "mtls-anonymous",
			TLSConfig: &tls.Config{RootCAs: certs.Roots, MinVersion: tls.VersionTLS12}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(anonymous.Stop)
		Eventually(anonymous.Agents[0].LastConnectError, 10*time.Second).Should(MatchError(ContainSubstring("certificate required")))
		Expect(anonymous.Connected()).To(BeZero())

		reader := serviceAccountToken(ns, "reader")
		grantRolloutReader(ns, "reader")
		var list readapi.AgentList
		Eventually(func(g Gomega) {
			code, body, err := readAPI(ctx, sc, reader, "/v1/namespaces/"+ns+"/agentgroups/"+eng.group+"/agents")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(http.StatusOK), string(body))
			g.Expect(json.Unmarshal(body, &list)).To(Succeed())
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())

		// The agent without a certificate never reached the server.
		want := uidsOf(fleet)
		sort.Strings(want)
		var got []string
		for _, a := range list.Items {
			got = append(got, a.InstanceUID)
			Expect(a.Connected).To(BeTrue())
			Expect(a.Transport).To(Equal("ws"))
			Expect(a.CertNotAfter).NotTo(BeNil(), a.InstanceUID)
			Expect(*a.CertNotAfter).To(BeTemporally("==", notAfter), a.InstanceUID)
		}
		Expect(got).To(Equal(want))
	})

	It("answers the read API only to callers allowed to get the namespace's rollouts", func(ctx SpecContext) {
		ns, token := namespace("readapi")
		sc := startSidecar("readapi-0")
		eng := newEngine(ns, collectorConfig, nil)
		const failure = `unknown exporter "otlp"`
		fleet := startFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: 8,
			Profiles: []fleetsim.Profile{{Name: "failing", Fraction: 3.0 / 8, Behavior: fleetsim.Behavior{FailWith: failure}}}})
		eng.startBatch(1, uidsOf(fleet), 0, 8)
		want := fleetv1alpha1.AgentCounts{Targeted: 8, Applied: 5, Failed: 3}
		Eventually(func() string { return describeCounts(eng.report("readapi-0").Counts) }, 10*time.Second).
			Should(Equal(describeCounts(want)))

		agentsPath := "/v1/namespaces/" + ns + "/rollouts/" + eng.rollout + "/agents"
		get := func(token, path string) (int, []byte) {
			GinkgoHelper()
			code, body, err := readAPI(ctx, sc, token, path)
			Expect(err).NotTo(HaveOccurred())
			return code, body
		}

		By("refusing callers without a valid token")
		code, _ := get("", agentsPath)
		Expect(code).To(Equal(http.StatusUnauthorized))
		code, _ = get("not-a-token", agentsPath)
		Expect(code).To(Equal(http.StatusUnauthorized))

		By("refusing a ServiceAccount without RBAC")
		code, _ = get(serviceAccountToken(ns, "nobody"), agentsPath)
		Expect(code).To(Equal(http.StatusForbidden))

		By("answering a ServiceAccount allowed to get rollouts in the namespace, and there only")
		reader := serviceAccountToken(ns, "reader")
		grantRolloutReader(ns, "reader")
		var failed readapi.AgentList
		Eventually(func(g Gomega) {
			code, body, err := readAPI(ctx, sc, reader, agentsPath+"?state=Failed")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(http.StatusOK), string(body))
			g.Expect(json.Unmarshal(body, &failed)).To(Succeed())
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		code, _ = get(reader, "/v1/namespaces/default/rollouts/"+eng.rollout+"/agents")
		Expect(code).To(Equal(http.StatusForbidden))

		var wantFailed []string
		for _, a := range fleet.Agents {
			if a.Profile == "failing" {
				wantFailed = append(wantFailed, a.UID.String())
			}
		}
		sort.Strings(wantFailed)
		Expect(failed.Replica).To(Equal("readapi-0"))
		var gotFailed []string
		for _, a := range failed.Items {
			gotFailed = append(gotFailed, a.InstanceUID)
			Expect(a.State).To(Equal(fleetv1alpha1.AgentFailed))
			Expect(a.Message).To(Equal(failure))
			Expect(a.Status).To(Equal("FAILED"))
			Expect(a.StatusError).To(Equal(failure))
			Expect(a.InBatch).To(BeTrue())
		}
		Expect(gotFailed).To(Equal(wantFailed))

		code, body := get(reader, agentsPath)
		Expect(code).To(Equal(http.StatusOK))
		var all readapi.AgentList
		Expect(json.Unmarshal(body, &all)).To(Succeed())
		Expect(all.Items).To(HaveLen(8))

		By("listing the group's ranks in order, and a page of them")
		var wantRanks []string
		for _, uid := range uidsOf(fleet) {
			wantRanks = append(wantRanks, membership.Rank(eng.hash, uid))
		}
		sort.Strings(wantRanks)
		ranksPath := "/v1/namespaces/" + ns + "/agentgroups/" + eng.group + "/ranks"
		ranks := func(query url.Values) []string {
			GinkgoHelper()
			code, body := get(reader, ranksPath+"?"+query.Encode())
			Expect(code).To(Equal(http.StatusOK), string(body))
			var rl readapi.RankList
			Expect(json.Unmarshal(body, &rl)).To(Succeed())
			return rl.Ranks
		}
		got := ranks(url.Values{"hash": {eng.hash}})
		Expect(got).To(Equal(wantRanks))
		Expect(sort.StringsAreSorted(got)).To(BeTrue())
		Expect(ranks(url.Values{"hash": {eng.hash}, "after": {wantRanks[1]}, "limit": {"3"}})).To(Equal(wantRanks[2:5]))
		code, _ = get(reader, ranksPath)
		Expect(code).To(Equal(http.StatusBadRequest), "ranks without a hash")
	})
})
