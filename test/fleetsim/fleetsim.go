// Package fleetsim simulates a fleet of OpAMP agents on the real opamp-go client, over
// WebSocket or plain HTTP, for tests, the demo and the benchmarks. Each agent has attributes
// and a behaviour drawn per fraction of the fleet: apply after a delay, fail with a message,
// never report remote config status, drop the session right after a push, flap, turn
// unhealthy after applying, lack a component, or report a stale FAILED after reconnecting.
package fleetsim

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
)

// Behavior is how an agent treats a config it is offered.
type Behavior struct {
	// ApplyDelay draws the time an apply takes; nil applies at once.
	ApplyDelay func(r *rand.Rand) time.Duration
	// FailWith makes every apply fail with this error_message.
	FailWith string
	// FailIfContains limits FailWith to configs whose body contains this text.
	FailIfContains string
	// NoRemoteConfigStatus leaves out the ReportsRemoteConfig capability: the agent applies but
	// never says APPLYING, APPLIED or FAILED.
	NoRemoteConfigStatus bool
	// NoAcceptRemoteConfig leaves out AcceptsRemoteConfig: the agent must never be offered one.
	NoAcceptRemoteConfig bool
	// DisconnectAfterPush drops the session as soon as a config arrives, and stays away.
	DisconnectAfterPush bool
	// RestartOnApply makes the agent, once it reported APPLYING, drop its session for this
	// long and come back reporting APPLIED, as a collector that restarts on a reload does.
	RestartOnApply time.Duration
	// FlapEvery reconnects the agent at this interval.
	FlapEvery time.Duration
	// UnhealthyAfterApply reports health false, with this last_error, after applying.
	UnhealthyAfterApply string
	// MissingComponents are "kind/type" entries (for example "exporters/otlphttp") left out of
	// the AvailableComponents the agent reports; setting any makes it report components.
	MissingComponents []string
	// ReportComponents makes the agent report AvailableComponents (all of Components).
	ReportComponents bool
	// StaleFailedAfterReconnect makes the agent, after its first reconnect, report FAILED for
	// the last config it failed, as a collector that persisted its status would.
	StaleFailedAfterReconnect bool
}

// Profile gives a fraction of the fleet its attributes and behaviour.
type Profile struct {
	Name       string
	Fraction   float64
	Attributes map[string]string
	Behavior   Behavior
}

// Options configure a fleet.
type Options struct {
	// URLs of the OpAMP endpoints (ws://host:port/v1/opamp or http://...); agent i connects
	// to URLs[i % len(URLs)].
	URLs []string
	// Token is sent as "Authorization: Bearer <token>" when set.
	Token string
	// TLSConfig, when set, connects over TLS (a ws:// URL becomes wss://); set Certificates in
	// it to present a client certificate.
	TLSConfig *tls.Config
	// HTTP uses plain-HTTP polling instead of WebSocket.
	HTTP         bool
	PollInterval time.Duration
	// Heartbeat overrides the client's heartbeat interval.
	Heartbeat time.Duration
	// Agents is the fleet size; Profiles share it by fraction, in order; the rest take Default.
	Agents   int
	Profiles []Profile
	Default  Profile
	// Versions spreads service.version over the whole fleet by weight, across profiles alike;
	// a profile's own service.version attribute wins.
	Versions []Share
	// Seed makes instance UIDs and draws reproducible.
	Seed uint64
	// UIDPrefix distinguishes fleets of one test that must not share UIDs.
	UIDPrefix string
}

// Share is one value of an attribute and its weight in the fleet.
type Share struct {
	Value  string
	Weight float64
}

// pick returns the share of shares at u in [0, 1), by cumulative weight.
func pick(shares []Share, u float64) string {
	total := 0.0
	for _, s := range shares {
		total += s.Weight
	}
	acc := 0.0
	for _, s := range shares {
		acc += s.Weight / total
		if u < acc {
			return s.Value
		}
	}
	return shares[len(shares)-1].Value
}

// Components a simulated agent reports when it reports AvailableComponents.
var Components = map[string][]string{
	"receivers":  {"otlp", "prometheus", "filelog", "hostmetrics"},
	"processors": {"batch", "memory_limiter", "attributes", "probabilistic_sampler", "filter"},
	"exporters":  {"otlp", "otlphttp", "debug", "prometheusremotewrite"},
	"connectors": {"forward", "spanmetrics"},
	"extensions": {"health_check", "pprof", "zpages"},
}

// Fleet is a running set of simulated agents.
type Fleet struct {
	Agents []*Agent
}

// Start connects every agent. It returns once all clients have started (not necessarily
// connected: use Connected to wait).
func Start(ctx context.Context, o Options) (*Fleet, error) {
	f, err := Plan(o)
	if err != nil {
		return nil, err
	}
	for _, a := range f.Agents {
		if err := a.start(ctx); err != nil {
			f.Stop()
			return nil, err
		}
	}
	return f, nil
}

// Plan makes the agents Start would connect, with their UIDs and attributes, and connects none.
func Plan(o Options) (*Fleet, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("fleetsim: no server URL")
	}
	for _, v := range o.Versions {
		if !(v.Weight > 0) {
			return nil, fmt.Errorf("fleetsim: version %q has weight %v, want > 0", v.Value, v.Weight)
		}
	}
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	f := &Fleet{}
	assigned := 0
	for pi, p := range append(append([]Profile{}, o.Profiles...), o.Default) {
		n := int(p.Fraction*float64(o.Agents) + 0.5)
		if pi == len(o.Profiles) {
			n = o.Agents - assigned
		}
		for j := 0; j < n && assigned < o.Agents; j++ {
			f.Agents = append(f.Agents, newAgent(o, p, assigned, r))
			assigned++
		}
	}
	return f, nil
}

// Stop disconnects every agent.
func (f *Fleet) Stop() {
	var wg sync.WaitGroup
	for _, a := range f.Agents {
		wg.Go(a.Stop)
	}
	wg.Wait()
}

// Connected counts agents whose client reports a live connection.
func (f *Fleet) Connected() int {
	n := 0
	for _, a := range f.Agents {
		if a.IsConnected() {
			n++
		}
	}
	return n
}

// Count counts agents for which pred holds.
func (f *Fleet) Count(pred func(a *Agent) bool) int {
	n := 0
	for _, a := range f.Agents {
		if pred(a) {
			n++
		}
	}
	return n
}

// Agent is one simulated agent. Its instance UID stays the same across reconnects.
type Agent struct {
	UID      uuid.UUID
	Profile  string
	Attrs    map[string]string
	behavior Behavior
	opts     Options
	url      string
	rand     *rand.Rand

	mu        sync.Mutex
	client    client.OpAMPClient
	cancel    context.CancelFunc
	connected bool
	stopped   bool
	// effective is the config the agent runs (nil: its local one). It has no lock of its own
	// because the client's GetEffectiveConfig callback reads it from within the plain-HTTP
	// client's Start, which runs under mu.
	effective   atomic.Pointer[[]byte]
	status      *protobufs.RemoteConfigStatus
	received    []string // config hashes offered, in order
	lastFailed  []byte
	reconnected bool
	healthy     bool
	healthError string
	connectErr  error
}

func newAgent(o Options, p Profile, i int, r *rand.Rand) *Agent {
	seed := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d", o.UIDPrefix, o.Seed, i))
	var id uuid.UUID
	copy(id[:], seed[:16])
	id[6] = (id[6] & 0x0f) | 0x70 // version 7 shape, as OpAMP recommends
	id[8] = (id[8] & 0x3f) | 0x80
	attrs := map[string]string{
		"service.name":    "otelcol",
		"service.version": "0.149.0",
		"host.name":       fmt.Sprintf("host-%05d", i),
		"os.type":         "linux",
	}
	if len(o.Versions) > 0 {
		// A golden-ratio sequence spreads the versions evenly over any run of consecutive
		// agents, so each profile gets about the same mix as the fleet.
		_, u := math.Modf(float64(o.Seed%1024)/1024 + float64(i)*(math.Sqrt(5)-1)/2)
		attrs["service.version"] = pick(o.Versions, u)
	}
	for k, v := range p.Attributes {
		attrs[k] = v
	}
	return &Agent{
		UID: id, Profile: p.Name, Attrs: attrs, behavior: p.Behavior, opts: o,
		url: o.URLs[i%len(o.URLs)], rand: rand.New(rand.NewPCG(r.Uint64(), r.Uint64())), healthy: true,
		status: &protobufs.RemoteConfigStatus{},
	}
}

func (a *Agent) capabilities() protobufs.AgentCapabilities {
	c := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	if !a.behavior.NoAcceptRemoteConfig {
		c |= protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig
	}
	if !a.behavior.NoRemoteConfigStatus {
		c |= protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
	}
	if a.behavior.ReportComponents || len(a.behavior.MissingComponents) > 0 {
		c |= protobufs.AgentCapabilities_AgentCapabilities_ReportsAvailableComponents
	}
	return c
}

func (a *Agent) description() *protobufs.AgentDescription {
	kv := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	d := &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{
		kv("service.name", a.Attrs["service.name"]), kv("service.instance.id", a.UID.String()),
	}}
	for k, v := range a.Attrs {
		if k != "service.name" {
			d.NonIdentifyingAttributes = append(d.NonIdentifyingAttributes, kv(k, v))
		}
	}
	return d
}

func (a *Agent) components() *protobufs.AvailableComponents {
	missing := map[string]bool{}
	for _, m := range a.behavior.MissingComponents {
		missing[m] = true
	}
	out := &protobufs.AvailableComponents{Components: map[string]*protobufs.ComponentDetails{}}
	h := sha256.New()
	for kind, types := range Components {
		d := &protobufs.ComponentDetails{SubComponentMap: map[string]*protobufs.ComponentDetails{}}
		for _, t := range types {
			if !missing[kind+"/"+t] {
				d.SubComponentMap[t] = &protobufs.ComponentDetails{}
				h.Write([]byte(kind + "/" + t + ";"))
			}
		}
		out.Components[kind] = d
	}
	out.Hash = h.Sum(nil)
	return out
}

// start builds a client and connects.
func (a *Agent) start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return nil
	}
	var c client.OpAMPClient
	if a.opts.HTTP {
		hc := client.NewHTTP(nopLogger{})
		if a.opts.PollInterval > 0 {
			hc.SetPollingInterval(a.opts.PollInterval)
		}
		c = hc
	} else {
		c = client.NewWebSocket(nopLogger{})
	}
	if err := c.SetAgentDescription(a.description()); err != nil {
		return err
	}
	if err := c.SetHealth(a.healthLocked()); err != nil {
		return err
	}
	caps := a.capabilities()
	if caps&protobufs.AgentCapabilities_AgentCapabilities_ReportsAvailableComponents != 0 {
		if err := c.SetAvailableComponents(a.components()); err != nil {
			return err
		}
	}
	if err := c.SetCapabilities(&caps); err != nil {
		return err
	}
	header := http.Header{}
	if a.opts.Token != "" {
		header.Set("Authorization", "Bearer "+a.opts.Token)
	}
	settings := types.StartSettings{
		OpAMPServerURL: a.url,
		Header:         header,
		TLSConfig:      a.opts.TLSConfig,
		InstanceUid:    types.InstanceUid(a.UID),
		Callbacks: types.Callbacks{
			OnConnect:       func(context.Context) { a.setConnected(true, nil) },
			OnConnectFailed: func(_ context.Context, err error) { a.setConnected(false, err) },
			OnMessage:       a.onMessage,
			GetEffectiveConfig: func(context.Context) (*protobufs.EffectiveConfig, error) {
				return a.effectiveConfig(), nil
			},
		},
	}
	if a.opts.Heartbeat > 0 {
		hb := a.opts.Heartbeat
		settings.HeartbeatInterval = &hb
	}
	if a.status.LastRemoteConfigHash != nil || a.status.Status != 0 {
		settings.RemoteConfigStatus = a.status
	}
	if a.reconnected && a.behavior.StaleFailedAfterReconnect && a.lastFailed != nil {
		settings.RemoteConfigStatus = &protobufs.RemoteConfigStatus{
			LastRemoteConfigHash: a.lastFailed,
			Status:               protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED,
			ErrorMessage:         "stale: " + a.behavior.FailWith,
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	if err := c.Start(cctx, settings); err != nil {
		cancel()
		return err
	}
	a.client, a.cancel = c, cancel
	if a.behavior.FlapEvery > 0 {
		go a.flap(cctx)
	}
	return nil
}

func (a *Agent) healthLocked() *protobufs.ComponentHealth {
	return &protobufs.ComponentHealth{Healthy: a.healthy, LastError: a.healthError,
		StartTimeUnixNano: uint64(time.Now().UnixNano())}
}

func (a *Agent) setConnected(v bool, err error) {
	a.mu.Lock()
	a.connected, a.connectErr = v, err
	a.mu.Unlock()
}

func (a *Agent) isStopped() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped
}

// IsConnected says whether the agent's session is up.
func (a *Agent) IsConnected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.connected && !a.stopped
}

// LastConnectError is the error of the agent's last failed connection attempt, or nil once
// it connected.
func (a *Agent) LastConnectError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.connectErr
}

// ConfigStatus is the remote config status the agent holds: the hash (hex) of the last config
// it was offered and how applying it went, whether or not it reports that to the server.
func (a *Agent) ConfigStatus() (hash string, status protobufs.RemoteConfigStatuses) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return fmt.Sprintf("%x", a.status.LastRemoteConfigHash), a.status.Status
}

// Received lists the config hashes the agent was offered, in order (hex).
func (a *Agent) Received() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.received...)
}

// EffectiveHash is the hex SHA-256 of the config the agent runs ("" for its local one).
func (a *Agent) EffectiveHash() string {
	body := a.effective.Load()
	if body == nil {
		return ""
	}
	sum := sha256.Sum256(*body)
	return fmt.Sprintf("%x", sum)
}

// effectiveBody is the body of the config the agent runs, local or remote.
func (a *Agent) effectiveBody() []byte {
	if body := a.effective.Load(); body != nil {
		return *body
	}
	return []byte("# local config\n")
}

func (a *Agent) effectiveConfig() *protobufs.EffectiveConfig {
	body := a.effectiveBody()
	return &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
		"": {Body: body, ContentType: "text/yaml"},
	}}}
}

// current returns the agent's client of the moment: an apply outlives the session it came on,
// as a collector's does, and reports on whichever session is up when it finishes.
func (a *Agent) current() client.OpAMPClient {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client == nil {
		return noClient{}
	}
	return a.client
}

func (a *Agent) onMessage(_ context.Context, msg *types.MessageData) {
	if msg.RemoteConfig == nil {
		return
	}
	rc := msg.RemoteConfig
	a.mu.Lock()
	a.received = append(a.received, fmt.Sprintf("%x", rc.ConfigHash))
	b := a.behavior
	a.mu.Unlock()

	if b.DisconnectAfterPush {
		go a.Stop()
		return
	}
	report := func(st protobufs.RemoteConfigStatuses, errMsg string) {
		s := &protobufs.RemoteConfigStatus{LastRemoteConfigHash: rc.ConfigHash, Status: st, ErrorMessage: errMsg}
		a.mu.Lock()
		a.status = s
		a.mu.Unlock()
		if !b.NoRemoteConfigStatus {
			_ = a.current().SetRemoteConfigStatus(s)
		}
	}
	report(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING, "")
	if b.RestartOnApply > 0 {
		go a.restartApplying(rc, b.RestartOnApply)
		return
	}
	apply := func() {
		if b.FailWith != "" && (b.FailIfContains == "" || strings.Contains(string(rc.GetConfig().GetConfigMap()[""].GetBody()), b.FailIfContains)) {
			a.mu.Lock()
			a.lastFailed = rc.ConfigHash
			a.mu.Unlock()
			report(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, b.FailWith)
			return
		}
		var body []byte
		if rc.Config != nil {
			if f, ok := rc.Config.ConfigMap[""]; ok {
				body = f.Body
			}
		}
		if body == nil || len(rc.Config.GetConfigMap()) == 0 {
			a.effective.Store(nil) // a withdrawal: back to the local config
		} else {
			a.effective.Store(&body)
		}
		_ = a.current().UpdateEffectiveConfig(context.Background())
		report(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, "")
		if b.UnhealthyAfterApply != "" {
			a.mu.Lock()
			a.healthy, a.healthError = false, b.UnhealthyAfterApply
			h := a.healthLocked()
			a.mu.Unlock()
			_ = a.current().SetHealth(h)
		}
	}
	if b.ApplyDelay == nil {
		apply()
		return
	}
	a.mu.Lock()
	d := b.ApplyDelay(a.rand)
	a.mu.Unlock()
	time.AfterFunc(d, func() {
		if !a.isStopped() {
			apply()
		}
	})
}

// restartApplying drops the session, takes rc while away, and comes back after d with APPLIED.
func (a *Agent) restartApplying(rc *protobufs.AgentRemoteConfig, d time.Duration) {
	a.mu.Lock()
	c, cancel := a.client, a.cancel
	a.client, a.connected, a.reconnected = nil, false, true
	a.mu.Unlock()
	closeClient(c, cancel)
	if f, ok := rc.GetConfig().GetConfigMap()[""]; ok {
		body := f.Body
		a.effective.Store(&body)
	}
	a.mu.Lock()
	a.status = &protobufs.RemoteConfigStatus{LastRemoteConfigHash: rc.ConfigHash, Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED}
	a.mu.Unlock()
	time.Sleep(d) // the collector's restart
	_ = a.start(context.Background())
}

// RevertToPrevious makes the agent report APPLIED for the config it ran before its last
// remote config, as a collector does when it falls back after failing to apply a new one.
func (a *Agent) RevertToPrevious() {
	sum := sha256.Sum256(a.effectiveBody())
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status = &protobufs.RemoteConfigStatus{LastRemoteConfigHash: sum[:],
		Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED}
}

// Reconnect drops the session and connects again, to url when it is not empty (another
// replica), keeping the instance UID and what the agent runs.
func (a *Agent) Reconnect(ctx context.Context, url string) error {
	a.mu.Lock()
	c, cancel := a.client, a.cancel
	a.client, a.connected = nil, false
	if url != "" {
		a.url = url
	}
	a.reconnected = true
	a.mu.Unlock()
	closeClient(c, cancel)
	return a.start(ctx)
}

func (a *Agent) flap(ctx context.Context) {
	t := time.NewTimer(a.behavior.FlapEvery)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	go func() { _ = a.Reconnect(context.WithoutCancel(ctx), "") }()
}

// Stop disconnects the agent for good.
func (a *Agent) Stop() {
	a.mu.Lock()
	c, cancel := a.client, a.cancel
	a.stopped, a.connected, a.client = true, false, nil
	a.mu.Unlock()
	closeClient(c, cancel)
}

// closeClient stops a session's client, if any, waiting at most 5 s.
func closeClient(c client.OpAMPClient, cancel context.CancelFunc) {
	if c == nil {
		return
	}
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	_ = c.Stop(ctx)
	done()
	cancel()
}

// noClient stands in while an agent has no session: what it reports then is kept in the
// agent's state and sent when it connects again.
type noClient struct{ client.OpAMPClient }

func (noClient) SetRemoteConfigStatus(*protobufs.RemoteConfigStatus) error { return nil }
func (noClient) UpdateEffectiveConfig(context.Context) error               { return nil }
func (noClient) SetHealth(*protobufs.ComponentHealth) error                { return nil }

type nopLogger struct{}

func (nopLogger) Debugf(context.Context, string, ...any) {}
func (nopLogger) Errorf(context.Context, string, ...any) {}
