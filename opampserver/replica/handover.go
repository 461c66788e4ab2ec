package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/periodic"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

// An agent counts on exactly one replica. When an agent that had a session elsewhere opens one
// here, this replica tells its live peers (found through their Leases, reached on their read
// API with a token of its ServiceAccount bound to the read API's audience), and they forget the
// agent: it is theirs no longer, so they must not count it as disconnected.

// PeerTokenFile is where the chart mounts the sidecar's token for its peers: a projected token
// of its ServiceAccount bound to the read API's audience, which the API server refuses, so that
// no peer can act as this replica with it.
const PeerTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/read-api-token"

// handoverRequest lists agents whose session moved to the sender. Replica is informative
// only: the caller is authenticated by its token, and an agent is named with the principal
// that holds it (its namespace and token fingerprint), so that a session of another
// namespace or token that presents the same UID elsewhere cannot make a peer forget it.
type handoverRequest struct {
	Replica string          `json:"replica"`
	Agents  []handoverAgent `json:"agents"`
}

// handoverAgent is one agent of a handover notice.
type handoverAgent struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Token     string `json:"token"`
	// Since is when the sender took the agent's session. A notice that arrives late (a retry,
	// an agent that hopped back meanwhile) must not make the receiver forget a session it
	// served after that. Zero (a peer of an earlier release) forgets, as before.
	Since time.Time `json:"since"`
}

// peerClient carries this replica's peer token to its peers, following no redirect.
var peerClient = readapi.HTTPClient(10 * time.Second)

// maxHandoverAgents bounds the agents of one notice: the sender splits longer lists, the
// receiver refuses longer ones (413).
const maxHandoverAgents = 5000

// handovers queues the agents this replica took over, for the next notification.
type handovers struct {
	mu     sync.Mutex
	agents []handoverAgent
}

func (h *handovers) add(a handoverAgent) {
	h.mu.Lock()
	h.agents = append(h.agents, a)
	h.mu.Unlock()
}

func (h *handovers) take() []handoverAgent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.agents
	h.agents = nil
	return out
}

func defaultPeerToken() (string, error) {
	b, err := os.ReadFile(PeerTokenFile)
	return strings.TrimSpace(string(b)), err
}

// handoverLoop notifies peers of taken-over agents, at most twice a second.
func (rp *Replica) handoverLoop(ctx context.Context) {
	var pending []handoverAgent
	periodic.Every(ctx, rp.opts.Clock, 500*time.Millisecond, func() {
		pending = append(pending, rp.handovers.take()...)
		if len(pending) == 0 {
			return
		}
		if err := rp.notifyPeers(ctx, pending); err != nil {
			rp.log.V(1).Info("notifying peers of handovers failed; will retry", "agents", len(pending), "error", err.Error())
			if len(pending) > 100000 {
				pending = nil // peers unreachable for long: their Leases expire and their entries stop counting
			}
			return
		}
		pending = nil
	})
}

func (rp *Replica) notifyPeers(ctx context.Context, agents []handoverAgent) error {
	peers, err := rp.livePeers(ctx)
	if err != nil || len(peers) == 0 {
		return err
	}
	token, err := rp.opts.PeerToken()
	if err != nil {
		return fmt.Errorf("reading the peer token: %w", err)
	}
	var firstErr error
	for len(agents) > 0 {
		n := min(len(agents), maxHandoverAgents)
		body, _ := json.Marshal(handoverRequest{Replica: rp.opts.Replica, Agents: agents[:n]})
		agents = agents[n:]
		if err := rp.postHandover(ctx, peers, token, body); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// postHandover posts one notice to every peer.
func (rp *Replica) postHandover(ctx context.Context, peers []string, token string, body []byte) error {
	var firstErr error
	for _, url := range peers {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodPost, url+"/v1/handover", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := peerClient.Do(req)
		cancel()
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("peer %s answered %s", url, resp.Status)
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// livePeers lists the read-API URLs of the other replicas with an unexpired Lease. A URL is
// on a Lease, which is not proof of who listens there: only those whose host is the Pod IP of a
// running Pod of the sidecars' ServiceAccount are sent the token (--replica-address-check).
func (rp *Replica) livePeers(ctx context.Context) ([]string, error) {
	if rp.opts.Namespace == "" {
		return nil, nil
	}
	var leases coordinationv1.LeaseList
	if err := rp.opts.Client.List(ctx, &leases, client.InNamespace(rp.opts.Namespace), client.HasLabels{readapi.LabelReplicaLease}); err != nil {
		return nil, err
	}
	now := rp.opts.Clock.Now()
	var candidates []string
	for i := range leases.Items {
		l := &leases.Items[i]
		if l.Name == readapi.LeaseName(rp.opts.Replica) || !readapi.LeaseLive(l, now) {
			continue
		}
		if u := l.Annotations[readapi.AnnotationReadAPI]; u != "" {
			candidates = append(candidates, u)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	check := readapi.AddressCheck{Mode: rp.opts.ReplicaAddressCheck, Namespace: rp.opts.Namespace, ServiceAccounts: rp.opts.ReplicaServiceAccounts}
	allowed, err := check.Addresses(ctx, rp.opts.Client)
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, u := range candidates {
		if err := allowed.Check(u); err != nil {
			rp.log.Error(err, "not notifying a peer of handovers: its Lease's address is not one of the operator's Pods")
			continue
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// handleHandover forgets the agents a peer took over. Only the operator's own identity may
// call it: the caller's token must review, for the read API's audience only, to the same user
// as this replica's. A token the API server takes is refused: a replica that sent one would
// hand its peers its identity there (its status entries, its Lease).
func (rp *Replica) handleHandover(w http.ResponseWriter, r *http.Request) {
	token, ok := bearerToken(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), reviewTimeout)
	defer cancel()
	caller, err := rp.reviewFor(ctx, token, []string{rp.opts.ReadAPIAudience})
	if err != nil {
		http.Error(w, err.Error()+" for the audience "+rp.opts.ReadAPIAudience, http.StatusUnauthorized)
		return
	}
	// Bound to that audience and to the API server's as well: still a token that writes.
	if _, err := rp.reviewFor(ctx, token, nil); !errors.Is(err, errNotAuthenticated) {
		http.Error(w, "a token the API server takes is refused: present one bound to the audience "+rp.opts.ReadAPIAudience+" alone", http.StatusUnauthorized)
		return
	}
	self, err := rp.selfIdentity(ctx)
	if err != nil || caller.Username != self {
		http.Error(w, "forbidden: only the operator's replicas may hand agents over", http.StatusForbidden)
		return
	}
	var req handoverRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(req.Agents) > maxHandoverAgents {
		http.Error(w, fmt.Sprintf("at most %d agents per notice", maxHandoverAgents), http.StatusRequestEntityTooLarge)
		return
	}
	now := rp.opts.Clock.Now()
	for _, h := range req.Agents {
		rp.opts.Registry.Do(h.UID, false, func(a *fleet.Agent) {
			// Only the principal that holds the agent here can have moved it.
			if a.Namespace == h.Namespace && a.Grant.Fingerprint() == h.Token && (h.Since.IsZero() || !a.LastSeen.After(h.Since)) {
				a.HandedOver = true
				// A plain-HTTP agent has no session here to outlive: its polls go to the peer
				// now, and counting it here until the sweep would count it twice.
				if a.Transport == fleet.TransportHTTP {
					a.MarkDisconnected(now)
				}
			}
		})
	}
	rp.opts.Registry.Remove(func(a *fleet.Agent) bool { return a.HandedOver && !a.Connected })
	rp.metrics.handoverAgents.Add(float64(len(req.Agents)))
	w.WriteHeader(http.StatusOK)
}
