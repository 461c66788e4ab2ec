// Package opampserver is the OpAMP server that runs beside the manager in every operator Pod.
// Every replica serves agents (active-active). A replica keeps a registry of the agents whose
// sessions it holds, verifies what they report, offers each the config it should run (as the
// Rollout and AgentGroup statuses say), and writes its own per-replica counts into those
// statuses with server-side apply. The API server is the only state replicas share.
//
// The Server is a composition: package fleet holds the registry, the decoded reports, the
// verified states and the push decisions; package transport the connection limits below OpAMP;
// package replica what the replica shares with the cluster and its peers (status entries,
// Lease, handover, read API). This package holds the endpoints, the sessions and the dispatch
// loop that joins them.
package opampserver

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/ampora-io/ampora/opampserver/replica"
	"github.com/ampora-io/ampora/opampserver/transport"

	"github.com/go-logr/logr"
	opamp "github.com/open-telemetry/opamp-go/server"
	opamptypes "github.com/open-telemetry/opamp-go/server/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/revision"
)

// Options configure a Server.
type Options struct {
	// Replica names this replica (its Pod name); it keys the replica's status entries.
	Replica string
	// Namespace is the operator's namespace, where the replica's Lease lives.
	Namespace string

	// ListenAddr and Path are where agents connect (":4320", "/v1/opamp").
	ListenAddr string
	Path       string
	// TLSCertFile and TLSKeyFile serve TLS; ClientCAFile turns on client-certificate
	// verification (mTLS).
	TLSCertFile, TLSKeyFile, ClientCAFile string

	// ProbeAddr serves /healthz, /readyz and /metrics; ReadAPIAddr serves the read API.
	ProbeAddr   string
	ReadAPIAddr string
	// PprofAddr, when set, serves Go's profiles at /debug/pprof/ (for diagnosis; off by
	// default, as profiles show the process's internals to whoever can reach them).
	PprofAddr string
	// ReadAPIURL is the address peers and the manager use to reach the read API; it is
	// published in the replica's Lease.
	ReadAPIURL string

	// UnauthenticatedNamespace, when set, admits agents without a token into that namespace
	// (for demos); otherwise they are refused with 401.
	UnauthenticatedNamespace string
	// TokenNamespaces are the namespaces whose enrollment-token Secrets the server reads: its
	// Secret informer lists and watches those namespaces only, so that RBAC needs to grant
	// Secrets there alone (a RoleBinding per namespace). nil reads every namespace, which
	// needs list and watch of Secrets cluster-wide (tests and local runs with a kubeconfig);
	// an empty, non-nil slice reads none, and only UnauthenticatedNamespace admits agents.
	TokenNamespaces []string

	// MaxConnections caps WebSocket sessions; past it connections get 503 with Retry-After.
	MaxConnections int
	// MaxOpenConnections caps the TCP connections the agent listener holds open, before any
	// HTTP is read; past it new connections are closed at once. 0 takes
	// DefaultMaxOpenConnections; a negative value turns the cap off.
	MaxOpenConnections int
	// ReadHeaderTimeout bounds reading a request's headers; ReadTimeout the whole request,
	// body included (plain-HTTP polls; a WebSocket session's deadlines are cleared once it is
	// upgraded); WriteTimeout the handling and reply of a plain-HTTP poll and each message
	// written on a WebSocket session; IdleTimeout a keep-alive connection's wait for its next
	// request; FirstMessageTimeout the wait for a WebSocket session's first message.
	ReadHeaderTimeout   time.Duration
	ReadTimeout         time.Duration
	WriteTimeout        time.Duration
	IdleTimeout         time.Duration
	FirstMessageTimeout time.Duration
	// MaxInflight caps messages handled at once; past it agents are told UNAVAILABLE.
	MaxInflight int
	// MaxMessageBytes caps one AgentToServer message, decompressed.
	MaxMessageBytes int64
	// MaxAgentsPerToken caps the registry records bound to one enrollment token (connected or
	// kept after disconnecting), so that one token cannot fill the registry with made-up UIDs.
	// 0 takes DefaultMaxAgentsPerToken; a negative value turns the cap off.
	MaxAgentsPerToken int

	// HTTPAgentTimeout is how long a plain-HTTP agent may stay silent before it counts as
	// disconnected; DisconnectedRetention is how long a disconnected agent stays registered.
	HTTPAgentTimeout      time.Duration
	DisconnectedRetention time.Duration
	// ReportInterval is the least time between two status writes for one object.
	ReportInterval time.Duration
	// ReportRefresh rewrites an unchanged entry this often, so that its time stays fresh.
	ReportRefresh time.Duration
	// LeaseDuration is how long the replica's Lease lasts without renewal.
	LeaseDuration time.Duration
	// ShutdownGrace bounds how long shutdown waits for sessions to drain.
	ShutdownGrace time.Duration

	// PeerToken returns the bearer token this replica presents to its peers: one of its
	// ServiceAccount bound to ReadAPIAudience (PeerTokenFile by default); peers refuse others.
	PeerToken func() (string, error)
	// ReadAPIAudience is the audience of the tokens the manager presents to the read API
	// (readapi.DefaultAudience when empty): a token bound to it is refused by the API server, so
	// the internet-facing sidecar never holds a credential that acts as the manager there.
	// Tokens for the API server's own audiences (users', peers') are accepted too.
	ReadAPIAudience string
	// ReplicaAddressCheck (readapi.AddressCheckPod when empty, or AddressCheckNone) and
	// ReplicaServiceAccounts say which peers' read-API URLs, on their Leases, get PeerToken.
	ReplicaAddressCheck    string
	ReplicaServiceAccounts []string

	Clock  clock.WithTicker
	Logger logr.Logger
	// Registry receives the metrics; a new one is made when nil.
	Registry *prometheus.Registry
}

func (o *Options) defaults() {
	o.ListenAddr = cmp.Or(o.ListenAddr, ":4320")
	o.Path = cmp.Or(o.Path, "/v1/opamp")
	o.MaxInflight = cmp.Or(o.MaxInflight, 1024)
	o.MaxOpenConnections = cmp.Or(o.MaxOpenConnections, transport.DefaultMaxOpenConnections())
	o.ReadHeaderTimeout = cmp.Or(o.ReadHeaderTimeout, 10*time.Second)
	o.ReadTimeout = cmp.Or(o.ReadTimeout, 30*time.Second)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, 30*time.Second)
	o.IdleTimeout = cmp.Or(o.IdleTimeout, 2*time.Minute)
	o.FirstMessageTimeout = cmp.Or(o.FirstMessageTimeout, 30*time.Second)
	o.MaxMessageBytes = cmp.Or(o.MaxMessageBytes, 4<<20)
	o.MaxAgentsPerToken = cmp.Or(o.MaxAgentsPerToken, DefaultMaxAgentsPerToken)
	o.HTTPAgentTimeout = cmp.Or(o.HTTPAgentTimeout, 90*time.Second)
	o.DisconnectedRetention = cmp.Or(o.DisconnectedRetention, time.Hour)
	o.ReportInterval = cmp.Or(o.ReportInterval, time.Second)
	o.ReportRefresh = cmp.Or(o.ReportRefresh, 30*time.Second)
	o.LeaseDuration = cmp.Or(o.LeaseDuration, 15*time.Second)
	o.ShutdownGrace = cmp.Or(o.ShutdownGrace, 10*time.Second)
	o.ReadAPIAudience = cmp.Or(o.ReadAPIAudience, readapi.DefaultAudience)
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
}

// readsTokens says whether any namespace's enrollment tokens are read (TokenNamespaces is
// nil, every namespace, or names some).
func (o *Options) readsTokens() bool { return o.TokenNamespaces == nil || len(o.TokenNamespaces) > 0 }

// DefaultMaxAgentsPerToken is above the WebSocket sessions one replica can hold (about 19,990
// with the open-files limit), leaving room for agents kept for an hour after disconnecting.
const DefaultMaxAgentsPerToken = 50000

// Server is one sidecar replica.
type Server struct {
	opts  Options
	log   logr.Logger
	clock clock.WithTicker
	cache cache.Cache
	// registry holds the agents, world what each namespace's objects say they should run,
	// replica what this replica shares with the cluster and its peers.
	registry *fleet.Registry
	world    *fleet.World
	replica  *replica.Replica
	// tokens are the enrollment tokens; anonymous is the grant of sessions without one
	// (--allow-unauthenticated-into): one principal, capped like a token.
	tokens    TokenStore
	anonymous *fleet.Grant
	metrics   *metrics
	// inflight caps the messages handled at once, connLimit the agent listener's
	// connections, sessions the open WebSocket sessions.
	inflight  semaphore
	connLimit transport.ConnLimiter
	sessions  sessionSet
	// dirty queues the namespaces whose view must be rebuilt and pushed.
	dirty namespaceQueue
	addrs listenAddrs
	ready atomic.Bool
}

// listenAddrs are where the agent listener and the read API listen, once Run listens.
type listenAddrs struct {
	mu          sync.Mutex
	agent, read net.Addr
}

func (l *listenAddrs) set(agent, read *net.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if agent != nil {
		l.agent = *agent
	}
	if read != nil {
		l.read = *read
	}
}

// New builds a Server that talks to the API server at cfg.
func New(cfg *rest.Config, scheme *runtime.Scheme, opts Options) (*Server, error) {
	opts.defaults()
	if opts.Replica == "" {
		return nil, errors.New("a replica name is required")
	}
	byObject := map[client.Object]cache.ByObject{
		&appsv1.ControllerRevision{}: {Label: labels.SelectorFromSet(labels.Set{revision.LabelConfig: "true"})},
	}
	if opts.readsTokens() {
		secrets := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{}).Add(mustRequirement(readapi.LabelEnrollmentToken))}
		if opts.TokenNamespaces != nil {
			secrets.Namespaces = map[string]cache.Config{}
			for _, ns := range opts.TokenNamespaces {
				secrets.Namespaces[ns] = cache.Config{}
			}
		}
		byObject[&corev1.Secret{}] = secrets
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, ByObject: byObject})
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	s := newServer(opts, c)
	s.replica = replica.New(replica.Options{
		Replica: opts.Replica, Namespace: opts.Namespace,
		ReportInterval: opts.ReportInterval, ReportRefresh: opts.ReportRefresh, LeaseDuration: opts.LeaseDuration,
		ReadAPIAudience: opts.ReadAPIAudience, PeerToken: opts.PeerToken,
		ReplicaAddressCheck: opts.ReplicaAddressCheck, ReplicaServiceAccounts: opts.ReplicaServiceAccounts,
		Client: cl, Registry: s.registry, World: s.world, Clock: opts.Clock, Logger: s.log, Metrics: opts.Registry,
	})
	return s, nil
}

// newServer composes a Server around reader, its view of the API server's objects; New adds
// the replica.
func newServer(opts Options, reader client.Reader) *Server {
	s := &Server{
		opts:     opts,
		log:      opts.Logger.WithValues("replica", opts.Replica),
		clock:    opts.Clock,
		registry: fleet.NewRegistry(),
		inflight: make(semaphore, opts.MaxInflight),
		dirty:    newNamespaceQueue(),
	}
	if c, ok := reader.(cache.Cache); ok {
		s.cache = c
	}
	if opts.UnauthenticatedNamespace != "" {
		s.anonymous = fleet.NewGrant(opts.UnauthenticatedNamespace, "anonymous")
	}
	s.world = fleet.NewWorld(reader, s.log, requiredComponents)
	s.metrics = newMetrics(opts.Registry, s)
	s.initConnLimit()
	return s
}

// Addr is where agents connect, once Run listens.
func (s *Server) Addr() net.Addr {
	s.addrs.mu.Lock()
	defer s.addrs.mu.Unlock()
	return s.addrs.agent
}

// ReadAPIAddr is where the read API listens, once Run listens.
func (s *Server) ReadAPIAddr() net.Addr {
	s.addrs.mu.Lock()
	defer s.addrs.mu.Unlock()
	return s.addrs.read
}

// Ready says whether the caches synced and the server accepts agents.
func (s *Server) Ready() bool { return s.ready.Load() }

// Run serves agents until ctx ends, then closes every session within the shutdown grace.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	cacheErr := make(chan error, 1)
	go func() { cacheErr <- s.cache.Start(ctx) }()
	if !s.cache.WaitForCacheSync(ctx) {
		return errors.New("informer caches did not sync")
	}
	if err := s.watch(ctx); err != nil {
		return err
	}
	if s.opts.readsTokens() {
		if _, err := s.tokens.Rebuild(ctx, s.cache); err != nil {
			return err
		}
	}

	handler, connContext, err := opamp.New(opampLogger{s.log}).Attach(opamp.Settings{
		Callbacks: opamptypes.Callbacks{OnConnecting: s.onConnecting},
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(s.opts.Path, s.agentHandler(http.HandlerFunc(handler)))
	srv := &http.Server{
		Handler:           mux,
		ConnContext:       connContext,
		ConnState:         s.connLimit.ConnState,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		// TLS handshake failures and the like are the agents' problem: log them quietly.
		ErrorLog: log.New(logWriter{s.log.V(1)}, "", 0),
	}
	tcp, err := net.Listen("tcp", s.opts.ListenAddr)
	if err != nil {
		return err
	}
	// The cap sits under TLS: net/http must see the *tls.Conn to serve TLS.
	s.connLimit.Listener = tcp
	var ln net.Listener = &s.connLimit
	if s.opts.TLSCertFile != "" {
		tlsCfg, err := s.tlsConfig()
		if err != nil {
			_ = ln.Close()
			return err
		}
		ln = tls.NewListener(ln, tlsCfg)
	}
	agentAddr := ln.Addr()
	s.addrs.set(&agentAddr, nil)

	var wg sync.WaitGroup
	serveErr := make(chan error, 4) // one for each server below
	wg.Go(func() { serveErr <- ignoreClosed(srv.Serve(ln)) })

	var side []*http.Server
	serve := func(addr string, h http.Handler) (net.Addr, error) {
		if addr == "" {
			return nil, nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
		side = append(side, hs)
		wg.Go(func() { serveErr <- ignoreClosed(hs.Serve(ln)) })
		return ln.Addr(), nil
	}
	if _, err := serve(s.opts.ProbeAddr, s.probes()); err != nil {
		return err
	}
	if a, err := serve(s.opts.PprofAddr, pprofHandler()); err != nil {
		return err
	} else if a != nil {
		s.log.Info("serving profiles", "addr", a.String())
	}
	readAddr, err := serve(s.opts.ReadAPIAddr, s.replica.Handler())
	if err != nil {
		return err
	}
	if readAddr != nil {
		s.addrs.set(nil, &readAddr)
		if s.opts.ReadAPIURL == "" {
			s.opts.ReadAPIURL = localURL(readAddr)
			s.log.Info("no read-API URL given: peers on other hosts cannot reach this replica", "url", s.opts.ReadAPIURL)
		}
	}

	wg.Go(func() { s.dispatchLoop(ctx) })
	wg.Go(func() { s.sweepLoop(ctx) })
	wg.Go(func() { s.replica.Run(ctx, s.opts.ReadAPIURL) })
	s.ready.Store(true)
	s.log.Info("OpAMP server listening", "addr", ln.Addr().String(), "path", s.opts.Path)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	case runErr = <-cacheErr:
	}
	s.ready.Store(false)
	cancel()
	s.shutdown(srv, side)
	wg.Wait()
	s.replica.Release()
	s.log.Info("OpAMP server stopped")
	return runErr
}

// shutdown stops accepting, closes every WebSocket session (opamp-go's Stop does not) and
// waits at most the shutdown grace.
func (s *Server) shutdown(srv *http.Server, side []*http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
	defer cancel()
	// Stop accepting first: opamp-go clients reconnect at once, and a session upgraded after
	// the close below would outlive the server (net/http does not track hijacked connections).
	_ = srv.Shutdown(ctx)
	s.sessions.closeAll()
	for _, h := range side {
		_ = h.Shutdown(ctx)
	}
}

// initConnLimit sets up the cap on the agent listener's connections and its counters.
func (s *Server) initConnLimit() {
	s.connLimit.Max = int64(max(s.opts.MaxOpenConnections, 0))
	s.connLimit.Refused = func() { s.metrics.rejected.WithLabelValues("connection_limit").Inc() }
	s.connLimit.TimedOut = func() { s.metrics.rejected.WithLabelValues("timeout").Inc() }
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// agentHandler serves the OpAMP endpoint: plain-HTTP polls through opamp-go (plainHTTP),
// anything else as a WebSocket session of the sidecar's own. Messages are capped at the
// limit: plain-HTTP bodies here, WebSocket messages through the hijacked connection.
func (s *Server) agentHandler(plainHTTP http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxMessageBytes {
			s.tooLarge(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxMessageBytes)
		if !isPlainHTTP(r) {
			s.serveWebSocket(w, r)
			return
		}
		// Nobody without a valid token makes the sidecar read and inflate a body: opamp-go
		// would refuse them only after it.
		if ns, _, reason := s.authenticate(r); ns == "" {
			s.metrics.rejected.WithLabelValues(reason).Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="ampora"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		// opamp-go inflates a gzip body whole, with no limit: a small body could inflate to
		// gigabytes. So the body is read and inflated here, within the same limit, and handed
		// on as it was sent, uncompressed.
		body, err := readBody(r, s.opts.MaxMessageBytes)
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			s.tooLarge(w)
			return
		case err != nil:
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		r.Header.Del("Content-Encoding")
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		plainHTTP.ServeHTTP(w, r)
	})
}

func (s *Server) tooLarge(w http.ResponseWriter) {
	s.metrics.rejected.WithLabelValues("too_large").Inc()
	http.Error(w, "message too large", http.StatusRequestEntityTooLarge)
}

// readBody reads a plain-HTTP poll's body, inflating it when it is gzip (the one encoding
// opamp-go accepts); a body, or an inflated body, over max fails with *http.MaxBytesError.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Header.Get("Content-Encoding") != "gzip" {
		return io.ReadAll(r.Body)
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	body, err := io.ReadAll(io.LimitReader(zr, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > max {
		return nil, &http.MaxBytesError{Limit: max}
	}
	return body, nil
}

func (s *Server) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.opts.TLSCertFile, s.opts.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.opts.ClientCAFile != "" {
		pem, err := os.ReadFile(s.opts.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", s.opts.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// probes serves /healthz, /readyz and /metrics.
func (s *Server) probes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{s.opts.Registry, prometheus.DefaultGatherer}, promhttp.HandlerOpts{}))
	return mux
}

// pprofHandler serves Go's profiles at /debug/pprof/.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// watch rebuilds the world of a namespace whenever one of its objects changes.
func (s *Server) watch(ctx context.Context) error {
	for _, obj := range []client.Object{&fleetv1alpha1.AgentGroup{}, &fleetv1alpha1.Rollout{},
		&fleetv1alpha1.GatePolicy{}, &appsv1.ControllerRevision{}} {
		inf, err := s.cache.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { s.markWorldDirty(o) },
			UpdateFunc: func(_, o any) { s.markWorldDirty(o) },
			DeleteFunc: func(o any) { s.markWorldDirty(o) },
		}); err != nil {
			return err
		}
	}
	if !s.opts.readsTokens() {
		return nil
	}
	inf, err := s.cache.GetInformer(ctx, &corev1.Secret{})
	if err != nil {
		return err
	}
	rebuild := func(any) {
		revoked, err := s.tokens.Rebuild(ctx, s.cache)
		if err != nil {
			s.log.Error(err, "rebuilding enrollment tokens")
			return
		}
		if revoked > 0 {
			s.closeRevoked()
		}
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: rebuild, UpdateFunc: func(_, o any) { rebuild(o) }, DeleteFunc: rebuild,
	})
	return err
}

func (s *Server) markWorldDirty(o any) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if obj, ok := o.(client.Object); ok {
		s.dirty.add(obj.GetNamespace(), 0)
	}
}

func (s *Server) connectedCount() int {
	n := 0
	s.registry.Each(func(a *fleet.Agent) {
		if a.Connected {
			n++
		}
	})
	return n
}

// logWriter turns net/http's error log into logr lines.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}

// opampLogger adapts logr to opamp-go's logger.
type opampLogger struct{ log logr.Logger }

func (l opampLogger) Debugf(_ context.Context, format string, v ...any) {
	l.log.V(2).Info(fmt.Sprintf(format, v...))
}

func (l opampLogger) Errorf(_ context.Context, format string, v ...any) {
	l.log.V(1).Info(fmt.Sprintf(format, v...))
}

// localURL is an http URL for a listener, with a wildcard address replaced by loopback.
func localURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
