// Package dashboard serves a read-only web page of Ampora rollouts on the loopback interface,
// for `kubectl ampora dashboard`: the rollouts with their phase and progress, and per rollout
// its batch, agents by state, pause reason, throughput over time, failed agents, config diff
// and Events. Pages are rendered on the server with html/template; a small script refreshes
// them in place. Every asset is embedded, so the page needs no network beyond this server.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/present"
	"github.com/ampora-io/ampora/internal/readapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	Source Source
	// Namespace limits the dashboard to one namespace; empty is every namespace.
	Namespace string
	// Context names the kubeconfig context, for the header.
	Context string
	// Refresh is how often the rollouts are read, and the pages refresh.
	Refresh time.Duration
	// History is how long throughput samples are kept.
	History time.Duration
	// Token is the access token every request must carry; empty, New makes a fresh one.
	Token string
	Now   func() time.Time
}

// Server renders the pages. Run reads the rollouts every Refresh; the pages show the latest
// reading, so that many open pages cost the API server no more than one.
type Server struct {
	opts  Options
	pages map[string]*template.Template

	mu       sync.Mutex
	rollouts []fleetv1alpha1.Rollout
	readAt   time.Time
	readErr  error
	series   map[types.NamespacedName]*series
	cache    map[string]cached
}

// cached is an answer about one rollout, kept for a short while: several open pages, or one
// page refreshing, do not ask again while the rollout has not changed.
type cached struct {
	at              time.Time
	resourceVersion string
	value           any
}

// cacheFor is how long an answer is kept while its rollout does not change.
const cacheFor = 15 * time.Second

// askTimeout bounds one question to the API server or the read API.
const askTimeout = 20 * time.Second

// New parses the templates; it fails only on a broken build or without randomness.
func New(o Options) (*Server, error) {
	if o.Source == nil {
		return nil, errors.New("dashboard: no source")
	}
	if o.Refresh <= 0 {
		o.Refresh = 2 * time.Second
	}
	if o.History <= 0 {
		o.History = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Token == "" {
		t, err := NewToken()
		if err != nil {
			return nil, err
		}
		o.Token = t
	}
	s := &Server{opts: o, pages: map[string]*template.Template{}, series: map[types.NamespacedName]*series{}, cache: map[string]cached{}}
	for _, name := range []string{"list", "rollout", "agent", "message"} {
		t, err := template.New(name).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return s, nil
}

// Refresh reads the rollouts once and samples their throughput.
func (s *Server) Refresh(ctx context.Context) error {
	rs, err := s.opts.Source.Rollouts(ctx, s.opts.Namespace)
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.readErr = err
		return err
	}
	sortRollouts(rs)
	s.rollouts, s.readAt, s.readErr = rs, now, nil
	seen := map[types.NamespacedName]bool{}
	for i := range rs {
		key := types.NamespacedName{Namespace: rs[i].Namespace, Name: rs[i].Name}
		seen[key] = true
		sr := s.series[key]
		if sr == nil {
			sr = &series{}
			s.series[key] = sr
		}
		sr.add(now, &rs[i], s.opts.History)
	}
	for key := range s.series {
		if !seen[key] {
			delete(s.series, key)
		}
	}
	for key, c := range s.cache {
		if now.Sub(c.at) > cacheFor {
			delete(s.cache, key)
		}
	}
	return nil
}

// Run refreshes every Refresh until ctx ends. Errors show on the pages.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, askTimeout)
			_ = s.Refresh(rctx)
			cancel()
		}
	}
}

// URL is the address to open: the dashboard at hostport, with the access token.
func (s *Server) URL(hostport string) string {
	return "http://" + hostport + "/?" + TokenParam + "=" + s.opts.Token
}

// Handler serves the pages and the embedded assets, GET only, to loopback Host names only,
// to requests that carry the access token only.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.serveList)
	mux.HandleFunc("GET /rollouts/{ns}/{name}", s.serveRollout)
	mux.HandleFunc("GET /rollouts/{ns}/{name}/agents/{uid}", s.serveAgent)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s.message(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
	})
	return guard(requireToken(s.opts.Token, mux))
}

// chrome fills what every page shows, and says how old the rollouts read are.
func (s *Server) chrome(title string) chrome {
	now := s.opts.Now()
	c := chrome{Title: title, Scope: "all namespaces", Context: s.opts.Context,
		RefreshMillis: s.opts.Refresh.Milliseconds(), RefreshText: s.opts.Refresh.String()}
	if s.opts.Namespace != "" {
		c.Scope = "namespace " + s.opts.Namespace
	}
	if !s.readAt.IsZero() {
		c.AsOf = s.readAt.Local().Format("15:04:05")
	}
	switch {
	case s.readErr != nil && s.readAt.IsZero():
		c.Stale = "Cannot read the rollouts: " + s.readErr.Error()
	case s.readErr != nil:
		c.Stale = fmt.Sprintf("Cannot read the rollouts: %s. Showing what was read %s.", s.readErr, present.Ago(now, s.readAt))
	case !s.readAt.IsZero() && now.Sub(s.readAt) > 3*s.opts.Refresh+10*time.Second:
		c.Stale = "The rollouts were last read " + present.Ago(now, s.readAt) + "."
	}
	return c
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c := s.chrome("Rollouts")
	rs := append([]fleetv1alpha1.Rollout(nil), s.rollouts...)
	s.mu.Unlock()
	s.render(w, r, http.StatusOK, "list", listView(c, rs, s.opts.Namespace == "", s.opts.Now()))
}

// lookup finds a rollout in the latest reading, with its throughput samples.
func (s *Server) lookup(ns, name string) (*fleetv1alpha1.Rollout, *series, chrome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chrome(ns + "/" + name)
	for i := range s.rollouts {
		if ro := &s.rollouts[i]; ro.Namespace == ns && ro.Name == name {
			var cp *series
			if sr := s.series[types.NamespacedName{Namespace: ns, Name: name}]; sr != nil {
				cp = &series{uid: sr.uid, hash: sr.hash, samples: append([]sample(nil), sr.samples...)}
			}
			return ro.DeepCopy(), cp, c
		}
	}
	return nil, nil, c
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, ns, name string) {
	msg := fmt.Sprintf("There is no rollout %s in namespace %s", name, ns)
	if s.opts.Namespace != "" && ns != s.opts.Namespace {
		msg = fmt.Sprintf("This dashboard shows namespace %s only (start it with -n %s or -A to see namespace %s)", s.opts.Namespace, ns, ns)
	}
	s.message(w, r, http.StatusNotFound, "Rollout not found", msg+".")
}

func (s *Server) serveRollout(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	ro, sr, c := s.lookup(ns, name)
	if ro == nil {
		s.notFound(w, r, ns, name)
		return
	}
	ctx := r.Context()
	failed := s.failedAgents(ctx, ro)
	events, eventsErr := s.events(ctx, ro)
	s.render(w, r, http.StatusOK, "rollout", rolloutView(c, ro, sr, failed, events, eventsErr, s.opts.Now()))
}

func (s *Server) serveAgent(w http.ResponseWriter, r *http.Request) {
	ns, name, uid := r.PathValue("ns"), r.PathValue("name"), r.PathValue("uid")
	ro, _, c := s.lookup(ns, name)
	if ro == nil {
		s.notFound(w, r, ns, name)
		return
	}
	c.Title = "Agent " + uid
	a, notes := s.findAgent(r.Context(), ro, uid, parseState(r.URL.Query().Get("state")))
	if a == nil {
		s.message(w, r, http.StatusNotFound, "Agent not found",
			fmt.Sprintf("Agent %s is not among the agents of rollout %s/%s. %s", uid, ns, name, joinNotes(notes)))
		return
	}
	p := agentView(c, ro, a, s.opts.Now())
	p.Notes = notes
	s.render(w, r, http.StatusOK, "agent", p)
}

func joinNotes(notes []string) string {
	var b bytes.Buffer
	for i, n := range notes {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(n)
	}
	return b.String()
}

// remember returns the cached answer for key while ro is unchanged and young enough, else
// computes and keeps a new one. The computation outlives a page that goes away meanwhile, so
// that no "context canceled" gets cached.
func (s *Server) remember(ctx context.Context, key string, ro *fleetv1alpha1.Rollout, compute func(context.Context) any) any {
	now := s.opts.Now()
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && c.resourceVersion == ro.ResourceVersion && now.Sub(c.at) < cacheFor {
		return c.value
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), askTimeout)
	defer cancel()
	v := compute(cctx)
	s.mu.Lock()
	s.cache[key] = cached{at: now, resourceVersion: ro.ResourceVersion, value: v}
	s.mu.Unlock()
	return v
}

type eventsAnswer struct {
	events []corev1.Event
	err    string
}

func (s *Server) events(ctx context.Context, ro *fleetv1alpha1.Rollout) ([]corev1.Event, string) {
	ans := s.remember(ctx, "events/"+ro.Namespace+"/"+ro.Name, ro, func(ctx context.Context) any {
		evs, err := s.opts.Source.Events(ctx, ro)
		if err != nil {
			msg := "Cannot list the Events: " + err.Error()
			if apierrors.IsForbidden(err) {
				msg = "Your credentials may not list Events in namespace " + ro.Namespace + "."
			}
			return eventsAnswer{err: msg}
		}
		return eventsAnswer{events: evs}
	}).(eventsAnswer)
	return ans.events, ans.err
}

// failedAgents asks the read API for the agents in each failed-agent state that the counts
// say holds some, and falls back on the status's sample when it cannot answer.
func (s *Server) failedAgents(ctx context.Context, ro *fleetv1alpha1.Rollout) failedView {
	return s.remember(ctx, "failed/"+ro.Namespace+"/"+ro.Name, ro, func(ctx context.Context) any {
		st := &ro.Status
		if st.Counts.Problems() == 0 {
			return failedView{Summary: "none"}
		}
		if !st.Phase.Serving() {
			return failedFromStatus(ro, []string{"The sidecars list the agents of active rollouts only; this is the sample the rollout's status keeps."})
		}
		var all readapi.Result
		problems := map[string]bool{}
		replicas := 0
		for _, state := range fleetv1alpha1.ProblemStates {
			if st.Counts.Of(state) == 0 {
				continue
			}
			res, err := s.opts.Source.Agents(ctx, ro, state)
			if err != nil {
				res.Problems = append(res.Problems, err.Error())
			}
			all.Agents = append(all.Agents, res.Agents...)
			all.Answered = max(all.Answered, res.Answered)
			replicas = max(replicas, res.Answered+len(res.Problems))
			for _, p := range res.Problems {
				if !problems[p] {
					problems[p] = true
					all.Problems = append(all.Problems, p)
				}
			}
		}
		if all.Answered == 0 {
			notes := []string{"The read API did not answer; this is the sample the rollout's status keeps."}
			for _, p := range all.Problems {
				notes = append(notes, "read API: "+p)
			}
			return failedFromStatus(ro, notes)
		}
		return failedFromAPI(ro, all, replicas)
	}).(failedView)
}

// findAgent looks the agent up in the read API, in the state the link named first, and falls
// back on the status's sample.
func (s *Server) findAgent(ctx context.Context, ro *fleetv1alpha1.Rollout, uid string, hint fleetv1alpha1.AgentState) (*readapi.Agent, []string) {
	var notes []string
	if ro.Status.Phase.Serving() {
		tries := []fleetv1alpha1.AgentState{""}
		if hint != "" {
			tries = []fleetv1alpha1.AgentState{hint, ""}
		}
		answered := false
		for _, st := range tries {
			res, err := s.opts.Source.Agents(ctx, ro, st)
			if err != nil {
				res.Problems = append(res.Problems, err.Error())
			}
			for i := range res.Agents {
				if res.Agents[i].InstanceUID == uid {
					a := res.Agents[i]
					return &a, problemNotes(res.Problems)
				}
			}
			answered = answered || res.Answered > 0
			notes = problemNotes(res.Problems)
		}
		if answered {
			return nil, notes
		}
	} else {
		notes = append(notes, "The sidecars list the agents of active rollouts only.")
	}
	if a := agentFromStatus(ro, uid); a != nil {
		return a, append(notes, "Shown from the sample the rollout's status keeps; attributes and health need the read API.")
	}
	return nil, notes
}

func problemNotes(ps []string) []string {
	var out []string
	for _, p := range ps {
		out = append(out, "read API: "+p)
	}
	return out
}

type messagePage struct {
	chrome
	Heading, Text string
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, code int, heading, text string) {
	s.mu.Lock()
	c := s.chrome(heading)
	s.mu.Unlock()
	s.render(w, r, code, "message", messagePage{chrome: c, Heading: heading, Text: text})
}

// fragmentHeader asks for the page's content only: the script swaps it in place.
const fragmentHeader = "X-Ampora-Fragment"

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, page string, data any) {
	name := "page"
	if r.Header.Get(fragmentHeader) == "1" {
		name = "main"
	}
	var b bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "cannot render the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", fragmentHeader)
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}
