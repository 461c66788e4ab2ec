package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

// failMessage is what the failing agents return for a config that sends to otlp/backend.
const failMessage = `exporters::otlp/backend: dial tcp 10.0.4.17:4317: connect: connection refused`

// baseline is the group's first config; the failing agents apply it.
const baseline = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
processors:
  batch: {}
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
`

// batching is the demo's config (config/samples): the failing agents cannot reach its backend.
const batching = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
      http:
        endpoint: 0.0.0.0:4318
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
  batch:
    send_batch_size: 8192
    timeout: 200ms
exporters:
  otlp/backend:
    endpoint: traces.example.internal:4317
extensions:
  health_check: {}
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp/backend]
`

var _ = Describe("kubectl ampora dashboard", func() {
	It("shows a paused rollout's gate message and a failed agent's error, the agent's details, and updates live", func(ctx SpecContext) {
		opamp := startOperator()
		ns, enroll := "demo", demoNamespace()
		kubeconfig := viewer(ns)

		fleet := harness.StartFleet(fleetsim.Options{URLs: []string{opamp}, Token: enroll, Agents: 40, Seed: 42,
			Versions: []fleetsim.Share{{Value: "0.149.0", Weight: 0.7}, {Value: "0.148.0", Weight: 0.3}},
			Profiles: []fleetsim.Profile{{Name: "failing", Fraction: 0.25,
				Attributes: map[string]string{"service.name": "otelcol-gateway", "service.version": "0.148.0", "deployment.environment": "production"},
				Behavior: fleetsim.Behavior{FailWith: failMessage, FailIfContains: "otlp/backend",
					ApplyDelay: fleetsim.UniformDelay(500*time.Millisecond, 3*time.Second)}}},
			Default: fleetsim.Profile{
				Attributes: map[string]string{"service.name": "otelcol-gateway", "deployment.environment": "production"},
				Behavior:   fleetsim.Behavior{ApplyDelay: fleetsim.UniformDelay(time.Second, 5*time.Second)}}})
		var failing []string
		for _, a := range firstByRank(fleet, collectorconfig.Hash([]byte(batching)), 10) {
			if a.Profile == "failing" {
				failing = append(failing, a.UID.String())
			}
		}
		Expect(len(failing)).To(BeNumerically(">=", 2), "the seed must put at least two failing agents in batch 1 to breach a 10 %% failure ratio")

		By("starting the dashboard with the viewer's kubeconfig, before the rollouts, so that it samples their throughput")
		dash := exec.Command(plugin, "--kubeconfig", kubeconfig, "dashboard", "-n", ns, "--address", "127.0.0.1:0", "--refresh", "1s",
			harness.AddressCheckFlag) // the sidecar runs on 127.0.0.1, not in a Pod
		dash.Env = append(os.Environ(), "HOME="+GinkgoT().TempDir())
		session, err := gexec.Start(dash, gexec.NewPrefixedWriter("[dashboard] ", GinkgoWriter), gexec.NewPrefixedWriter("[dashboard] ", GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { session.Kill().Wait(10 * time.Second) })
		// The printed address carries the run's access token, 32 random bytes in base64url.
		urlRE := regexp.MustCompile(`at ((http://127\.0\.0\.1:\d+/)\?token=[A-Za-z0-9_-]{43})\n`)
		Eventually(func() string { return string(session.Out.Contents()) }, 30*time.Second, 100*time.Millisecond).Should(MatchRegexp(urlRE.String()))
		m := urlRE.FindStringSubmatch(string(session.Out.Contents()))
		printed, base := m[1], m[2]
		Expect(string(session.Out.Contents())).To(ContainSubstring("namespace " + ns + ", read-only"))

		By("a baseline rollout completes; a second one pauses at the failure gate")
		create(group(ns))
		create(rollout(ns, "gateways-baseline", baseline, fleetv1alpha1.FromPercent(100), nil))
		Eventually(phase(ns, "gateways-baseline"), 90*time.Second).Should(Equal(fleetv1alpha1.RolloutCompleted))
		create(rollout(ns, "gateways-batching", batching, fleetv1alpha1.FromPercent(25), new(int32(10))))
		Eventually(phase(ns, "gateways-batching"), 90*time.Second).Should(Equal(fleetv1alpha1.RolloutPaused))
		breach := get(ns, "gateways-batching").Status.Pause.Message
		Expect(breach).To(Equal(fmt.Sprintf("failure-ratio: %d %% > 10 %%", len(failing)*10)))

		By("a page for another Host name is refused: no DNS rebinding")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
		Expect(err).NotTo(HaveOccurred())
		req.Host = "rebound.example:80"
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusMisdirectedRequest))

		By("a request without the access token is refused, a page and an asset alike")
		for _, u := range []string{base, base + "rollouts/" + ns + "/gateways-batching", base + "static/dashboard.js"} {
			resp, err := http.Get(u)
			Expect(err).NotTo(HaveOccurred())
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusForbidden), u)
			Expect(string(body)).To(ContainSubstring("Open the address that kubectl ampora dashboard printed"))
			Expect(string(body)).NotTo(ContainSubstring(ns))
		}

		b := newBrowser()

		By("the list shows both rollouts, the paused one with its gate message, at the printed address without its token")
		b.do(chromedp.Navigate(printed))
		Eventually(b.location, 20*time.Second, 250*time.Millisecond).Should(Equal(base))
		Expect(b.eval(`document.cookie === ""`)).To(BeTrue(), "the token's cookie is readable by scripts")
		row := `tr.rollout[data-rollout="` + ns + `/gateways-batching"]`
		Eventually(b.text(row), 20*time.Second, 250*time.Millisecond).Should(And(ContainSubstring("Paused"), ContainSubstring(breach),
			ContainSubstring("1 of 4")))
		Expect(b.text(`tr.rollout[data-rollout="` + ns + `/gateways-baseline"]`)()).To(ContainSubstring("Completed"))
		b.save("list")

		By("the rollout's page shows the batch, the gate message and the failed agents' errors")
		b.click(row + ` a.rollout-link`)
		Eventually(b.text("#pause-message"), 20*time.Second, 250*time.Millisecond).Should(Equal(breach))
		Expect(b.text("#batch")()).To(Equal("Batch 1 of 4"))
		Expect(b.text("#phase")()).To(Equal("Paused"))
		for _, st := range []string{"pending", "applying", "applied", "failed", "disconnected"} {
			Expect(b.count("#state-"+st+" svg.bar")).To(Equal(1), "a progress bar for %s", st)
		}
		Expect(b.text("#state-failed .count")()).To(Equal(fmt.Sprint(len(failing))))
		Eventually(b.text("#failed"), 20*time.Second, 250*time.Millisecond).Should(ContainSubstring(failMessage))
		Eventually(func() int { return b.count("#failed tr.agent") }, 20*time.Second, 250*time.Millisecond).Should(Equal(len(failing)))
		Expect(b.text("#diff")()).To(And(ContainSubstring("exporters/otlp/backend"), ContainSubstring("exporters/debug")))
		Eventually(b.text("#events"), 20*time.Second, 250*time.Millisecond).Should(And(
			ContainSubstring("BatchStarted"), ContainSubstring("batch 1: "+breach)))
		// The chart has samples once the page has been up a couple of refreshes.
		Eventually(func() int { return b.count("#throughput polyline.rate") }, 20*time.Second, 250*time.Millisecond).Should(Equal(1))
		b.screenshot()

		By("clicking a failed agent shows its apply error, version, attributes and health")
		b.click(`#failed a.agent-link`)
		Eventually(b.text("#apply-error"), 20*time.Second, 250*time.Millisecond).Should(Equal(failMessage))
		Expect(failing).To(ContainElement(b.text("#agent-uid")()))
		Expect(b.text("#agent-state")()).To(Equal("Failed"))
		Expect(b.text("#facts")()).To(MatchRegexp(`version\s+0\.148\.0`))
		Expect(b.text("#attributes")()).To(And(MatchRegexp(`deployment\.environment\s+production`),
			MatchRegexp(`service\.name\s+otelcol-gateway`), MatchRegexp(`os\.type\s+linux`)))
		Expect(b.text("#health")()).NotTo(BeEmpty())
		b.save("agent")

		By("back on the rollout's page, a resume shows without a reload")
		b.click("#back")
		Eventually(b.text("#pause-message"), 20*time.Second, 250*time.Millisecond).Should(Equal(breach))
		// A reload would lose this.
		Expect(b.eval(`(window.amporaMarker = true)`)).To(BeTrue())
		ro := get(ns, "gateways-batching")
		orig := ro.DeepCopy()
		ro.Spec.Gates.MaxFailurePercent = new(int32(100))
		if ro.Annotations == nil {
			ro.Annotations = map[string]string{}
		}
		ro.Annotations[fleetv1alpha1.AnnotationAction] = string(fleetv1alpha1.ActionResume)
		ro.Annotations[fleetv1alpha1.AnnotationActionRequestedBy] = "dashboard-test"
		Expect(env.Client.Patch(ctx, ro, client.MergeFrom(orig))).To(Succeed())
		Eventually(b.text("#phase"), 90*time.Second, 250*time.Millisecond).Should(Equal("Completed"))
		Expect(b.eval(`window.amporaMarker === true`)).To(BeTrue(), "the page was reloaded")
		final := get(ns, "gateways-batching")
		Eventually(b.text("#state-applied .count"), 20*time.Second, 250*time.Millisecond).Should(Equal(fmt.Sprint(final.Status.Counts.Applied)))
		Expect(b.text("#batch")()).To(Equal("Batch 4 of 4"))
		Eventually(b.text("#events"), 20*time.Second, 250*time.Millisecond).Should(ContainSubstring("resume requested by dashboard-test"))

		By("Ctrl-C stops the dashboard cleanly")
		session.Interrupt()
		Eventually(session, 15*time.Second).Should(gexec.Exit(0))
	})
})

// browser is one headless Chromium tab.
type browser struct {
	ctx  context.Context
	dir  string
	shot int
}

// newBrowser starts Chromium with a fresh profile, for the rest of the spec.
func newBrowser() *browser {
	GinkgoHelper()
	profile := GinkgoT().TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	DeferCleanup(func() {
		_ = chromedp.Cancel(ctx)
		cancel()
		cancelAlloc()
	})
	dir, err := os.MkdirTemp("", "ampora-dashboard-")
	Expect(err).NotTo(HaveOccurred())
	b := &browser{ctx: ctx, dir: dir}
	// The first run starts the browser; it must not carry a timeout.
	Expect(chromedp.Do(ctx)).To(Succeed(), "starting %s", chromium)
	// The screenshots and pages stay for a look after a failure; they go after a success.
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			b.save("failure")
			GinkgoWriter.Printf("screenshots and pages kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return b
}

// do runs actions, within a minute.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	Expect(chromedp.Do(ctx, actions...)).To(Succeed())
}

// location is the address the tab shows.
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		return ""
	}
	return s
}

// eval evaluates a JavaScript expression in the page, within five seconds.
func (b *browser) eval(expr string) bool {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
	return err == nil && v
}

// text returns a poller of the visible text of the first element sel matches, "" while there
// is none (or the page is loading): the page swaps its content in place every second, so a
// query must not hold on to a node.
func (b *browser) text(sel string) func() string {
	q, _ := json.Marshal(sel)
	return func() string {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(function () { const e = document.querySelector(%s); return e ? e.innerText.trim() : ""; })()`, q)))
		if err != nil {
			return ""
		}
		return s
	}
}

// count is the number of elements sel matches.
func (b *browser) count(sel string) int {
	q, _ := json.Marshal(sel)
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%s).length`, q)))
	if err != nil {
		return -1
	}
	return n
}

// click follows the link sel matches, as a user's click does: in the page, in one step, since
// the page may swap the link for a fresh copy at any moment.
func (b *browser) click(sel string) {
	GinkgoHelper()
	q, _ := json.Marshal(sel)
	Eventually(func() bool {
		return b.eval(fmt.Sprintf(`(function () { const e = document.querySelector(%s); if (!e) return false; e.click(); return true; })()`, q))
	}, 20*time.Second, 250*time.Millisecond).Should(BeTrue(), "no element %s to click", sel)
}

// screenshot saves the whole page in the screenshot directory and, when DASHBOARD_SCREENSHOT
// names a file (relative to the repository), there too.
func (b *browser) screenshot() {
	GinkgoHelper()
	png := b.save("rollout")
	Expect(png).NotTo(BeEmpty())
	if dst := os.Getenv("DASHBOARD_SCREENSHOT"); dst != "" {
		if !filepath.IsAbs(dst) {
			dst = filepath.Join(testenv.Root(), dst)
		}
		raw, err := os.ReadFile(png)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(dst, raw, 0o644)).To(Succeed())
		AddReportEntry("screenshot", dst)
	}
}

// save writes a full-page PNG and the page's HTML into the screenshot directory and returns
// the PNG's path ("" when the browser could not take it).
func (b *browser) save(name string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	b.shot++
	base := filepath.Join(b.dir, fmt.Sprintf("%02d-%s", b.shot, name))
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		_ = os.WriteFile(base+".html", []byte(html), 0o644)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		GinkgoWriter.Printf("screenshot %s: %v\n", name, err)
		return ""
	}
	if err := os.WriteFile(base+".png", buf, 0o644); err != nil {
		return ""
	}
	GinkgoWriter.Printf("screenshot: %s.png\n", base)
	AddReportEntry("screenshot "+name, base+".png")
	return base + ".png"
}

func create(obj client.Object) {
	GinkgoHelper()
	Expect(env.Client.Create(context.Background(), obj)).To(Succeed())
}

func group(ns string) *fleetv1alpha1.AgentGroup {
	return &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments-gateways"},
		Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{
			MatchAttributes: map[string]string{"service.name": "otelcol-gateway"}}}}
}

func rollout(ns, name, body string, size fleetv1alpha1.BatchSize, maxFailurePercent *int32) *fleetv1alpha1.Rollout {
	r := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "payments-gateways", Config: fleetv1alpha1.RolloutConfig{Inline: &body},
			Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &size}}}
	if maxFailurePercent != nil {
		r.Spec.Gates = &fleetv1alpha1.GateThresholds{MaxFailurePercent: maxFailurePercent}
	}
	return r
}

func get(ns, name string) *fleetv1alpha1.Rollout {
	GinkgoHelper()
	r := &fleetv1alpha1.Rollout{}
	Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, r)).To(Succeed())
	return r
}

func phase(ns, name string) func() fleetv1alpha1.RolloutPhase {
	return func() fleetv1alpha1.RolloutPhase { return get(ns, name).Status.Phase }
}

// firstByRank returns the n agents with the lowest rank under hash: those batch 1 of n admits.
func firstByRank(f *fleetsim.Fleet, hash string, n int) []*fleetsim.Agent {
	agents := slices.Clone(f.Agents)
	sort.Slice(agents, func(i, j int) bool {
		return membership.Rank(hash, agents[i].UID.String()) < membership.Rank(hash, agents[j].UID.String())
	})
	return agents[:n]
}
