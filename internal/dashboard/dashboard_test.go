package dashboard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time {
	t := metav1.NewTime(now.Add(d))
	return &t
}

const (
	failMsg = `exporter "otlp/backend": dial tcp 10.0.4.17:4317: connect: connection refused <script>alert(1)</script>`
	uid1    = "0190f3c2-0000-7000-8000-000000000001"
	uid2    = "0190f3c2-0000-7000-8000-000000000002"
)

// paused is a rollout a failure-ratio gate paused on batch 1 of 2.
func paused() fleetv1alpha1.Rollout {
	return fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "gw", UID: "u-gw", Generation: 1, ResourceVersion: "7",
			CreationTimestamp: *at(-5 * time.Minute)},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: "gateways"},
		Status: fleetv1alpha1.RolloutStatus{
			ObservedGeneration: 1, Phase: fleetv1alpha1.RolloutPaused,
			Message:  "failure-ratio: 20 % > 10 % (batch 1: 2 failed)",
			Revision: "3f2a9c0d1e", ConfigHash: "3f2a9c0d1e00", PreviousRevision: "aa11bb22cc",
			GroupSize: 20, Plan: []int32{10, 10}, BatchProgress: "1/2",
			CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 1, Size: 10, Phase: fleetv1alpha1.BatchEvaluating,
				StartedAt: at(-90 * time.Second), FinishedAt: at(-60 * time.Second)},
			Counts:           fleetv1alpha1.AgentCounts{Targeted: 10, Applied: 8, Failed: 2},
			BatchCounts:      fleetv1alpha1.AgentCounts{Targeted: 10, Applied: 8, Failed: 2},
			AppliesPerMinute: 5,
			Pause: &fleetv1alpha1.PauseDetail{Reason: fleetv1alpha1.PauseGateBreach, Gate: fleetv1alpha1.GateFailureRatio,
				Observed: "20 %", Threshold: "10 %", Batch: 1, Since: *at(-60 * time.Second), Message: "failure-ratio: 20 % > 10 %"},
			FailedAgents: []fleetv1alpha1.FailedAgent{
				{InstanceUID: uid1, State: fleetv1alpha1.AgentFailed, ServiceVersion: "0.148.0", HostName: "host-1", Message: failMsg},
			},
			Diff: &fleetv1alpha1.ConfigDiff{FromRevision: "aa11bb22cc", Summary: "+1 exporter, -1 exporter, ~1 pipeline",
				Added: []string{"exporters/otlp/backend"}, Removed: []string{"exporters/debug"}, Changed: []string{"pipelines/traces"}},
			EffectiveGates: &fleetv1alpha1.EffectiveGates{GateThresholds: fleetv1alpha1.GateThresholds{MaxFailurePercent: ptr.To(int32(10)),
				MaxApplyDurationP95: &metav1.Duration{Duration: 10 * time.Minute}, BakeTime: &metav1.Duration{Duration: 0}}},
			StartedAt: at(-90 * time.Second),
			Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "GateBreach",
				Message: "failure-ratio: 20 % > 10 %"}},
		},
	}
}

func completed() fleetv1alpha1.Rollout {
	return fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "base", UID: "u-base", CreationTimestamp: *at(-time.Hour)},
		Spec:       fleetv1alpha1.RolloutSpec{AgentGroup: "gateways"},
		Status: fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutCompleted, GroupSize: 20, Plan: []int32{20},
			CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 1, Size: 20, Phase: fleetv1alpha1.BatchDone},
			Counts:       fleetv1alpha1.AgentCounts{Targeted: 20, Applied: 20}},
	}
}

func failedAgent(uid string) readapi.Agent {
	return readapi.Agent{InstanceUID: uid, State: fleetv1alpha1.AgentFailed, Message: failMsg, StatusError: failMsg,
		Status: "FAILED", StatusHash: "3f2a9c0d1e00", ServiceName: "otelcol-gateway", ServiceVersion: "0.148.0", HostName: "host-1",
		Attributes: map[string]string{"service.name": "otelcol-gateway", "service.version": "0.148.0", "team": `<b>"payments"</b>`},
		Healthy:    ptr.To(false), HealthError: "pipeline traces: exporter down", Replica: "ampora-0", Transport: "websocket", Connected: true,
		AcceptsConfig: true, ReportsStatus: true, Rank: "00ab", InBatch: true}
}

type fakeSource struct {
	rollouts  []fleetv1alpha1.Rollout
	err       error
	events    []corev1.Event
	eventsErr error
	agents    readapi.Result
	asked     []fleetv1alpha1.AgentState
}

func (f *fakeSource) Rollouts(_ context.Context, ns string) ([]fleetv1alpha1.Rollout, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []fleetv1alpha1.Rollout
	for _, r := range f.rollouts {
		if ns == "" || r.Namespace == ns {
			out = append(out, *r.DeepCopy())
		}
	}
	return out, nil
}

func (f *fakeSource) Events(context.Context, *fleetv1alpha1.Rollout) ([]corev1.Event, error) {
	return f.events, f.eventsErr
}

func (f *fakeSource) Agents(_ context.Context, _ *fleetv1alpha1.Rollout, state fleetv1alpha1.AgentState) (readapi.Result, error) {
	f.asked = append(f.asked, state)
	res := readapi.Result{Answered: f.agents.Answered, Problems: f.agents.Problems}
	for _, a := range f.agents.Agents {
		if state == "" || a.State == state {
			res.Agents = append(res.Agents, a)
		}
	}
	return res, nil
}

// testToken is the access token of the servers under test; get presents it in its cookie.
const testToken = "dGVzdC10b2tlbi10ZXN0LXRva2VuLXRlc3QtdG9rZW4"

func newServer(t *testing.T, src *fakeSource, ns string) *Server {
	t.Helper()
	s, err := New(Options{Source: src, Namespace: ns, Context: "envtest", Refresh: time.Second, Token: testToken,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(context.Background()); err != nil && src.err == nil {
		t.Fatal(err)
	}
	return s
}

func get(t *testing.T, h http.Handler, path string, header ...string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8484"+path, nil)
	req.AddCookie(&http.Cookie{Name: "ampora-dashboard-8484", Value: testToken})
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body), rec.Header()
}

func TestPages(t *testing.T) {
	src := &fakeSource{
		rollouts: []fleetv1alpha1.Rollout{paused(), completed()},
		events: []corev1.Event{
			{Type: corev1.EventTypeNormal, Reason: "BatchStarted", Message: "batch 1 of 2 started: 10 agents", Count: 1, LastTimestamp: *at(-90 * time.Second)},
			{Type: corev1.EventTypeWarning, Reason: "Paused", Message: "batch 1: failure-ratio: 20 % > 10 %", Count: 1, LastTimestamp: *at(-60 * time.Second)},
		},
		agents: readapi.Result{Answered: 1, Agents: []readapi.Agent{failedAgent(uid1), failedAgent(uid2)}},
	}
	h := newServer(t, src, "").Handler()
	tests := []struct {
		name, path string
		code       int
		want       []string
		wantNot    []string
	}{
		{name: "list", path: "/", code: 200, want: []string{
			"<!DOCTYPE html>", `href="/rollouts/demo/gw"`, `<span class="ns">demo/</span>gw`, `class="badge paused phase">Paused`,
			"failure-ratio: 20 % &gt; 10 %", "8 of 20 applied", ">1 of 2<", "1 paused · 1 completed", "all namespaces · context envtest",
			`<rect class="seg applied" x="0.0" width="40.0" height="10">`, `<rect class="seg failed" x="40.0" width="10.0" height="10">`,
		}},
		{name: "rollout", path: "/rollouts/demo/gw", code: 200, want: []string{
			`<h2 id="batch">Batch 1 of 2</h2>`, `<p class="gate-message" id="pause-message">failure-ratio: 20 % &gt; 10 %</p>`,
			"Paused by gate <code>failure-ratio</code>", "<dt>observed</dt><dd>20 %</dd>", "<dt>threshold</dt><dd>10 %</dd>",
			`href="/rollouts/demo/gw/agents/` + uid1 + `?state=Failed"`,
			"exporter &#34;otlp/backend&#34;: dial tcp 10.0.4.17:4317: connect: connection refused &lt;script&gt;alert(1)&lt;/script&gt;",
			"2, from the sidecars&#39; read API (1 of 1 replicas answered)",
			`<tr id="state-pending">`, `<tr id="state-applying">`, `<tr id="state-applied">`, `<tr id="state-failed">`,
			`<tr id="state-disconnected">`, "disconnected since push", `<rect class="seg applied" width="80.0" height="10"/>`,
			"&#43;1 exporter, -1 exporter, ~1 pipeline", `<li class="added"><span class="mark">&#43;</span><code>exporters/otlp/backend</code></li>`,
			`<li class="removed"><span class="mark">−</span><code>exporters/debug</code></li>`,
			"Gates in force: failure-ratio 10 % · apply-duration-p95 10m · bake 0s", "batch 1: failure-ratio: 20 % &gt; 10 %", "BatchStarted",
			"collecting samples…", `<span id="apm">5</span>`, "kubectl ampora why gw -n demo",
		}, wantNot: []string{"<script>alert", `<tr id="state-timedout">`}},
		{name: "agent", path: "/rollouts/demo/gw/agents/" + uid1 + "?state=Failed", code: 200, want: []string{
			`<span class="mono" id="agent-uid">` + uid1 + `</span>`, `<span id="agent-state" class="badge failed">Failed</span>`,
			`<pre class="error-text" id="apply-error">exporter &#34;otlp/backend&#34;: dial tcp`,
			"<dt>version</dt><dd>0.148.0</dd>", "<th>team</th><td>&lt;b&gt;&#34;payments&#34;&lt;/b&gt;</td>",
			`<span class="badge bad">unhealthy</span>`, "pipeline traces: exporter down",
			"<dd>FAILED for config 3f2a9c0d1e00 (this revision)</dd>", "connected to ampora-0 over websocket",
			`<a id="back" href="/rollouts/demo/gw">gw</a>`,
		}, wantNot: []string{"<b>&#34;payments"}},
		{name: "unknown agent", path: "/rollouts/demo/gw/agents/nope", code: 404, want: []string{"Agent nope is not among the agents of rollout demo/gw."}},
		{name: "unknown rollout", path: "/rollouts/demo/nope", code: 404, want: []string{"There is no rollout nope in namespace demo."}},
		{name: "unknown page", path: "/nope", code: 404, want: []string{"There is no page at this address."}},
		{name: "stylesheet", path: "/static/dashboard.css", code: 200, want: []string{".gate-message"}},
		{name: "script", path: "/static/dashboard.js", code: 200, want: []string{"X-Ampora-Fragment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, hdr := get(t, h, tt.path)
			if code != tt.code {
				t.Fatalf("GET %s = %d, want %d\n%s", tt.path, code, tt.code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s lacks %q\n%s", tt.path, w, body)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("GET %s has %q", tt.path, w)
				}
			}
			if hdr.Get("Content-Security-Policy") != contentSecurityPolicy {
				t.Errorf("CSP = %q", hdr.Get("Content-Security-Policy"))
			}
		})
	}
	// The failed agents are asked by state, for the states that hold agents: Failed only.
	if len(src.asked) == 0 || src.asked[0] != fleetv1alpha1.AgentFailed {
		t.Errorf("asked the read API for %q, want Failed first", src.asked)
	}
}

func TestFragment(t *testing.T) {
	h := newServer(t, &fakeSource{rollouts: []fleetv1alpha1.Rollout{paused()}}, "demo").Handler()
	code, body, hdr := get(t, h, "/rollouts/demo/gw", fragmentHeader, "1")
	if code != 200 || strings.Contains(body, "<html") || !strings.Contains(body, `id="pause-message"`) {
		t.Errorf("fragment = %d\n%s", code, body)
	}
	if hdr.Get("Vary") != fragmentHeader {
		t.Errorf("Vary = %q", hdr.Get("Vary"))
	}
}

func TestFallbacks(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("no"))
	t.Run("read API down: the status sample", func(t *testing.T) {
		src := &fakeSource{rollouts: []fleetv1alpha1.Rollout{paused()}, eventsErr: forbidden,
			agents: readapi.Result{Problems: []string{"the kubeconfig user has no bearer token"}}}
		h := newServer(t, src, "demo").Handler()
		_, body, _ := get(t, h, "/rollouts/demo/gw")
		for _, w := range []string{"sample of 1 from the rollout&#39;s status", "read API: the kubeconfig user has no bearer token",
			"connection refused &lt;script&gt;", "Your credentials may not list Events in namespace demo."} {
			if !strings.Contains(body, w) {
				t.Errorf("page lacks %q\n%s", w, body)
			}
		}
		code, body, _ := get(t, h, "/rollouts/demo/gw/agents/"+uid1)
		if code != 200 || !strings.Contains(body, "<dt>version</dt><dd>0.148.0</dd>") || !strings.Contains(body, "attributes and health need the read API") {
			t.Errorf("agent page = %d\n%s", code, body)
		}
	})
	t.Run("out of scope", func(t *testing.T) {
		h := newServer(t, &fakeSource{rollouts: []fleetv1alpha1.Rollout{paused()}}, "demo").Handler()
		code, body, _ := get(t, h, "/rollouts/other/gw")
		if code != 404 || !strings.Contains(body, "This dashboard shows namespace demo only") {
			t.Errorf("= %d\n%s", code, body)
		}
	})
	t.Run("cannot list", func(t *testing.T) {
		src := &fakeSource{err: errors.New("connection refused")}
		h := newServer(t, src, "demo").Handler()
		_, body, _ := get(t, h, "/")
		if !strings.Contains(body, "Cannot read the rollouts: connection refused") {
			t.Errorf("list lacks the error\n%s", body)
		}
	})
}

func TestGuard(t *testing.T) {
	h := newServer(t, &fakeSource{}, "").Handler()
	tests := []struct {
		method, host string
		code         int
	}{
		{"GET", "127.0.0.1:8484", 200},
		{"GET", "localhost:8484", 200},
		{"GET", "LOCALHOST", 200},
		{"GET", "[::1]:8484", 200},
		{"HEAD", "127.0.0.2", 200},
		{"GET", "evil.example:8484", http.StatusMisdirectedRequest},
		{"GET", "10.0.0.1:8484", http.StatusMisdirectedRequest},
		{"GET", "localhost.evil.example", http.StatusMisdirectedRequest},
		{"POST", "127.0.0.1:8484", http.StatusMethodNotAllowed},
		{"DELETE", "127.0.0.1:8484", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, "/", nil)
		req.Host = tt.host
		req.AddCookie(&http.Cookie{Name: cookieName(tt.host), Value: testToken})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.code {
			t.Errorf("%s with Host %s = %d, want %d", tt.method, tt.host, rec.Code, tt.code)
		}
		for _, k := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Cache-Control"} {
			if rec.Header().Get(k) == "" {
				t.Errorf("%s with Host %s: no %s", tt.method, tt.host, k)
			}
		}
	}
}

func TestListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "10.1.2.3:0", "example.com:80"} {
		if ln, err := Listen(addr, false); err == nil {
			_ = ln.Close()
			t.Errorf("Listen(%q) accepted a non-loopback address", addr)
		}
	}
	a, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen(a.Addr().String(), true)
	if err != nil {
		t.Fatalf("no fallback from a taken port: %v", err)
	}
	defer b.Close()
	if b.Addr().String() == a.Addr().String() {
		t.Errorf("fallback took the same address")
	}
	if _, err := Listen(a.Addr().String(), false); err == nil {
		t.Errorf("a taken port without fallback succeeded")
	}
}

func TestSeries(t *testing.T) {
	ro := paused()
	var s series
	for i, applied := range []int32{0, 5, 10, 10, 30} {
		ro.Status.Counts.Applied = applied
		s.add(now.Add(time.Duration(i)*15*time.Second), &ro, time.Hour)
	}
	if _, ok := s.rate(0); ok {
		t.Errorf("the first sample has a rate")
	}
	// At 60 s, the window reaches back to the first sample: 30 applies in a minute.
	if r, _ := s.rate(4); r != 30 {
		t.Errorf("rate(4) = %v, want 30", r)
	}
	if r, _ := s.rate(1); r != 20 {
		t.Errorf("rate(1) = %v, want 20", r)
	}
	v := s.chart(now.Add(time.Minute))
	if v.Empty || v.Last != "30" || strings.Count(v.Rate, ",") != 4 || strings.Count(v.Avg, ",") != 5 {
		t.Errorf("chart = %+v", v)
	}
	if v.Grid[2].Label != "50" {
		t.Errorf("top of the chart = %s, want 50", v.Grid[2].Label)
	}
	// A new revision starts again; old samples age out.
	ro.Status.ConfigHash = "other"
	s.add(now.Add(2*time.Minute), &ro, time.Hour)
	if len(s.samples) != 1 {
		t.Errorf("a new revision kept %d samples", len(s.samples))
	}
	s.add(now.Add(3*time.Hour), &ro, time.Hour)
	if len(s.samples) != 1 {
		t.Errorf("old samples kept: %d", len(s.samples))
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 1: 1, 1.5: 2, 3: 5, 7: 10, 10: 10, 11: 20, 787: 1000, 420: 500} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestCache(t *testing.T) {
	src := &fakeSource{rollouts: []fleetv1alpha1.Rollout{paused()},
		agents: readapi.Result{Answered: 1, Agents: []readapi.Agent{failedAgent(uid1)}}}
	s := newServer(t, src, "demo")
	h := s.Handler()
	get(t, h, "/rollouts/demo/gw")
	get(t, h, "/rollouts/demo/gw", fragmentHeader, "1")
	if len(src.asked) != 1 {
		t.Fatalf("two views of an unchanged rollout asked the read API %d times, want 1", len(src.asked))
	}
	src.rollouts[0].ResourceVersion = "8"
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	get(t, h, "/rollouts/demo/gw")
	if len(src.asked) != 2 {
		t.Errorf("a changed rollout did not ask again: %d questions", len(src.asked))
	}
}
