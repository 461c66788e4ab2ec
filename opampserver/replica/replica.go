// Package replica is what one sidecar replica shares with the cluster and with its peers: its
// entries in the Rollout and AgentGroup statuses (report.go), its Lease (lease.go), the
// handover of agents whose session moved to it (handover.go) and the read API over its
// registry (readapi.go). It reads the fleet and changes it only when a peer says an agent's
// session moved there.
package replica

import (
	"cmp"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

// Options configure a Replica.
type Options struct {
	// Replica names this replica (its Pod name); it keys the replica's status entries.
	Replica string
	// Namespace is the operator's namespace, where the Leases live; "" runs without a Lease
	// and without peers.
	Namespace string
	// ReportInterval is the least time between two status writes for one object;
	// ReportRefresh rewrites an unchanged entry this often, so that its time stays fresh.
	ReportInterval time.Duration
	ReportRefresh  time.Duration
	// LeaseDuration is how long the replica's Lease lasts without renewal.
	LeaseDuration time.Duration
	// ReadAPIAudience is the audience of the tokens the manager and the peers present.
	ReadAPIAudience string
	// PeerToken returns the token this replica presents to its peers (bound to
	// ReadAPIAudience alone).
	PeerToken func() (string, error)
	// ReplicaAddressCheck and ReplicaServiceAccounts say which peers' read-API URLs, on their
	// Leases, get PeerToken.
	ReplicaAddressCheck    string
	ReplicaServiceAccounts []string

	Client   client.Client
	Registry *fleet.Registry
	World    *fleet.World
	Clock    clock.WithTicker
	Logger   logr.Logger
	Metrics  prometheus.Registerer
}

// Replica holds this replica's share of the cluster's state.
type Replica struct {
	opts     Options
	log      logr.Logger
	metrics  *metrics
	reporter *reporter
	// handovers queues the agents this replica took over, for the next notice to its peers.
	handovers handovers
	// leaseTaken is set once this process wrote its Lease.
	leaseTaken atomic.Bool
	// self is the user this replica's peer token reviews to, looked up once.
	selfMu sync.Mutex
	self   string
}

// New builds a Replica.
func New(opts Options) *Replica {
	opts.ReadAPIAudience = cmp.Or(opts.ReadAPIAudience, readapi.DefaultAudience)
	opts.ReportInterval = cmp.Or(opts.ReportInterval, time.Second)
	opts.ReportRefresh = cmp.Or(opts.ReportRefresh, 30*time.Second)
	opts.LeaseDuration = cmp.Or(opts.LeaseDuration, 15*time.Second)
	if opts.PeerToken == nil {
		opts.PeerToken = defaultPeerToken
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	r := &Replica{opts: opts, log: opts.Logger, metrics: newMetrics(opts.Metrics)}
	r.reporter = &reporter{rp: r, last: map[objKey]written{}}
	return r
}

// Run reports, holds the Lease (publishing readAPIURL on it) and notifies peers of handovers
// until ctx ends.
func (r *Replica) Run(ctx context.Context, readAPIURL string) {
	var wg sync.WaitGroup
	wg.Go(func() { r.reporter.loop(ctx) })
	wg.Go(func() { r.leaseLoop(ctx, readAPIURL) })
	wg.Go(func() { r.handoverLoop(ctx) })
	wg.Wait()
}

// Release expires the Lease at once, on a clean shutdown once Run returned and the sessions
// are closed, so that peers and the manager stop counting this replica without waiting for the
// Lease to run out.
func (r *Replica) Release() { r.releaseLease() }

// Handler serves the read API: agents of a rollout or group by state, and the ranks the
// manager needs for batch membership, to callers that authenticate with a bearer token
// (TokenReview) and may get rollouts in the namespace (SubjectAccessReview); and the peers'
// handover notices.
func (r *Replica) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/namespaces/{ns}/rollouts/{name}/agents", r.authorized(r.rolloutAgents))
	mux.HandleFunc("GET /v1/namespaces/{ns}/agentgroups/{name}/agents", r.authorized(r.groupAgents))
	mux.HandleFunc("GET /v1/namespaces/{ns}/agentgroups/{name}/ranks", r.authorized(r.groupRanks))
	mux.HandleFunc("POST /v1/handover", r.handleHandover)
	return mux
}

// TookOver queues a notice to the peers: the agent's session is here since at.
func (r *Replica) TookOver(uid, namespace string, grant *fleet.Grant, at time.Time) {
	r.handovers.add(handoverAgent{UID: uid, Namespace: namespace, Token: grant.Fingerprint(), Since: at})
}

// FieldManager is the server-side apply field manager of a replica's status entries.
func FieldManager(replica string) string { return "ampora-opamp/" + replica }
