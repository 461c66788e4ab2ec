package bounds_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("Read API", func() {
	It("cuts a page of agents with large attributes at its byte bound, and pages through them all", func() {
		ns, token := h.Namespace("readapi")
		group(ns, "gateways")
		sc := h.StartSidecar("readapi-" + ns)
		// Each agent reports 120 attributes of 250-character keys and values: about 60 kB each
		// as JSON, so 80 of them, far fewer than a page's 5000, take about 5 MB.
		attrs := map[string]string{}
		for i := range 120 {
			attrs[fmt.Sprintf("%03d.%s", i, strings.Repeat("k", 246))] = strings.Repeat("v", 250)
		}
		const agents = 80
		harness.StartFleet(fleetsim.Options{URLs: []string{sc.URL()}, Token: token, Agents: agents, Seed: 5,
			Default: fleetsim.Profile{Attributes: attrs}})

		opToken, err := h.Token()
		Expect(err).NotTo(HaveOccurred())
		base := "http://" + sc.Srv.ReadAPIAddr().String() + "/v1/namespaces/" + ns + "/agentgroups/gateways/agents"
		page := func(cont string) (readapi.AgentList, int) {
			GinkgoHelper()
			q := url.Values{"limit": {"5000"}}
			if cont != "" {
				q.Set("continue", cont)
			}
			req, err := http.NewRequest(http.MethodGet, base+"?"+q.Encode(), nil)
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Authorization", "Bearer "+opToken)
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			defer func() { _ = resp.Body.Close() }()
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			body, err := io.ReadAll(resp.Body)
			Expect(err).NotTo(HaveOccurred())
			var l readapi.AgentList
			Expect(json.Unmarshal(body, &l)).To(Succeed())
			return l, len(body)
		}
		// Wait until every agent has reported its attributes, or the first page is cut already
		// (then it holds more than a page's bytes of full agents).
		Eventually(func() int {
			n := 0
			l, _ := page("")
			for _, a := range l.Items {
				if len(a.Attributes) > 100 {
					n++
				}
			}
			if l.Continue != "" {
				return agents
			}
			return n
		}, 30*time.Second).Should(Equal(agents))

		seen := map[string]bool{}
		cont, pages := "", 0
		for {
			l, size := page(cont)
			pages++
			Expect(size).To(BeNumerically("<=", readapi.MaxAnswerBytes), "page %d", pages)
			for _, a := range l.Items {
				seen[a.InstanceUID] = true
			}
			if l.Continue == "" {
				break
			}
			cont = l.Continue
		}
		Expect(pages).To(BeNumerically(">", 1))
		Expect(seen).To(HaveLen(agents))
	})
})
