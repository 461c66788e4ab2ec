package fleet

import (
	"sync"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server/types"
)

// How an agent reaches the replica: a WebSocket session, or plain-HTTP polls (a session each).
const (
	TransportWS   = "ws"
	TransportHTTP = "http"
)

// MaxRecentDisconnects bounds the disconnect history kept per agent (for flapping).
const MaxRecentDisconnects = 8

// Agent is everything this replica knows about one agent. Fields are guarded by the
// registry shard's lock; read them through Registry methods or under Registry.Do.
//
// One record is kept per agent for as long as it is connected and an hour after, so it holds
// only what is read: strings that repeat across a fleet (attribute keys, versions, hashes) are
// interned, and no message from the agent is kept.
type Agent struct {
	UID       string // canonical UUID form
	Namespace string

	// Attributes holds identifying and non-identifying attributes alike, as strings.
	Attributes   map[string]string
	Capabilities uint64

	// Health as last reported: whether the agent reported any, its top-level healthy flag
	// and last_error (the rest of ComponentHealth is not used, so it is not kept).
	HealthReported bool
	Healthy        bool
	// Connected is true while the agent has a live session.
	Connected bool
	// HandedOver is set when a peer said it holds the agent's session now.
	HandedOver  bool
	Status      protobufs.RemoteConfigStatuses
	HealthError string

	// RemoteConfigStatus as last reported, when that status was entered, and when the agent
	// last entered APPLIED.
	StatusHash  string
	StatusError string
	StatusSince time.Time
	AppliedAt   time.Time
	// Failures holds, per config hash, the error the agent reported FAILED with. A hash in it
	// is never offered again until a retry or a new revision.
	Failures map[string]Failure

	EffectiveHash string

	// Components are the available component types per kind ("receivers" -> {"otlp"}).
	Components     map[string]map[string]struct{}
	ComponentsHash []byte

	Transport       string // TransportWS or TransportHTTP
	ConnectedSince  time.Time
	LastSeen        time.Time
	DisconnectedAt  time.Time
	Disconnects     []time.Time
	CertNotAfter    time.Time
	LastSequenceNum uint64
	Conn            types.Connection
	// Grant is the grant the instance UID is bound to for as long as this record lives: the
	// Grant of the session that first presented it (or, once that grant is revoked, of the
	// session that resumed it). Sessions with another Grant are refused the UID, so that no
	// other principal can report for the agent or receive its config. The record counts
	// against the grant's cap until it is forgotten.
	Grant *Grant

	// Dispatch state: the hash last offered, when, and how many times.
	OfferedHash string
	OfferedAt   time.Time
	// SentAt (Unix nanoseconds) and sentConn say when the offer was last sent, and on which
	// session, so that a new session or a long silence re-sends it.
	SentAt   int64
	SentConn uint64
	ConnSeq  uint64
	// DeniedHash and noSessionHash make the denied and no-session counters count once per
	// agent and revision.
	DeniedHash    string
	NoSessionHash string
}

// Failure is a FAILED report for one config hash.
type Failure struct {
	Message string
	At      time.Time
}

// ServiceName is the agent's service.name, or "unknown".
func (a *Agent) ServiceName() string { return attrOr(a.Attributes, "service.name") }

// ServiceVersion is the agent's service.version, or "unknown".
func (a *Agent) ServiceVersion() string { return attrOr(a.Attributes, "service.version") }

func attrOr(m map[string]string, k string) string {
	if v, ok := m[k]; ok && v != "" {
		return v
	}
	return "unknown"
}

// FailedFor returns the error the agent reported FAILED with for hash, if it did.
func (a *Agent) FailedFor(hash string) (string, bool) {
	f, ok := a.Failures[hash]
	return f.Message, ok
}

// Flapping says whether the agent disconnected at least n times within window before now.
func (a *Agent) Flapping(n int, window time.Duration, now time.Time) bool {
	count := 0
	for _, t := range a.Disconnects {
		if now.Sub(t) <= window {
			count++
		}
	}
	return count >= n
}

// Observation extracts what verification needs, for the desired hash.
func (a *Agent) Observation(desired string, admittedAt time.Time) Observation {
	o := Observation{
		Capabilities:   a.Capabilities,
		Connected:      a.Connected,
		DisconnectedAt: a.DisconnectedAt,
		StatusHash:     a.StatusHash,
		Status:         a.Status,
		StatusError:    a.StatusError,
		StatusSince:    a.StatusSince,
		EffectiveHash:  a.EffectiveHash,
		AdmittedAt:     admittedAt,
	}
	if f, ok := a.Failures[desired]; ok {
		o.FailedForDesired, o.FailedError = true, f.Message
	}
	o.HealthReported, o.Healthy, o.HealthError = a.HealthReported, a.Healthy, a.HealthError
	if a.OfferedHash == desired {
		o.OfferedAt = a.OfferedAt
	}
	return o
}

// Registry holds the agents of this replica, sharded so that messages of different agents
// rarely contend for one lock.
type Registry struct {
	shards [64]registryShard
}

type registryShard struct {
	mu     sync.Mutex
	agents map[string]*Agent
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	for i := range r.shards {
		r.shards[i].agents = map[string]*Agent{}
	}
	return r
}

func (r *Registry) shard(uid string) *registryShard {
	h := uint8(0)
	for i := 0; i < len(uid); i++ {
		h = h*31 + uid[i]
	}
	return &r.shards[h%uint8(len(r.shards))]
}

// Do runs fn with the agent of uid under its shard lock, creating the agent when create is
// true. It returns false when the agent is unknown and not created.
func (r *Registry) Do(uid string, create bool, fn func(a *Agent)) bool {
	return r.do(uid, create, func(a *Agent) bool { fn(a); return true })
}

// Claim runs fn with the agent of uid under its shard lock, creating it if unknown; a created
// agent is kept only when fn returns true, so that a refused session leaves nothing behind.
func (r *Registry) Claim(uid string, fn func(a *Agent) bool) {
	r.do(uid, true, fn)
}

func (r *Registry) do(uid string, create bool, fn func(a *Agent) bool) bool {
	s := r.shard(uid)
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agents[uid]
	if !ok {
		if !create {
			return false
		}
		a = &Agent{UID: uid}
		s.agents[uid] = a
	}
	if !fn(a) && !ok {
		delete(s.agents, uid)
	}
	return true
}

// Each runs fn for every agent, one shard lock at a time. fn must not call back into the
// registry.
func (r *Registry) Each(fn func(a *Agent)) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for _, a := range s.agents {
			fn(a)
		}
		s.mu.Unlock()
	}
}

// Delete forgets one agent.
func (r *Registry) Delete(uid string) {
	s := r.shard(uid)
	s.mu.Lock()
	if a, ok := s.agents[uid]; ok {
		a.Grant.Release()
		delete(s.agents, uid)
	}
	s.mu.Unlock()
}

// Remove forgets agents for which drop returns true (for example long-disconnected ones).
func (r *Registry) Remove(drop func(a *Agent) bool) int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for uid, a := range s.agents {
			if drop(a) {
				a.Grant.Release()
				delete(s.agents, uid)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Len is the number of agents known.
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.agents)
		s.mu.Unlock()
	}
	return n
}
