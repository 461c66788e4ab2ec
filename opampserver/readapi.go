package opampserver

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

// AgentInfo is one agent as the read API shows it; the type is shared with the API's clients
// (internal/readapi), so that both sides read one wire format. Replica is this replica: the
// registry holds only agents whose session it holds or held.
type AgentInfo = readapi.Agent

// AgentList is a page of agents; Continue is passed back to get the next page.
type AgentList = readapi.AgentList

// Flapping: at least this many disconnects within the window.
const (
	flapCount  = 3
	flapWindow = 10 * time.Minute
)

// serveReadAPI serves the read API: agents of a rollout or group by state, and the ranks the
// manager needs for batch membership. Callers authenticate with a bearer token (checked by
// TokenReview) and must be allowed to get rollouts in the namespace (SubjectAccessReview).
func (s *Server) serveReadAPI(wg *sync.WaitGroup, errs chan<- error) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/namespaces/{ns}/rollouts/{name}/agents", s.authorized(s.rolloutAgents))
	mux.HandleFunc("GET /v1/namespaces/{ns}/agentgroups/{name}/agents", s.authorized(s.groupAgents))
	mux.HandleFunc("GET /v1/namespaces/{ns}/agentgroups/{name}/ranks", s.authorized(s.groupRanks))
	mux.HandleFunc("POST /v1/handover", s.handleHandover)
	ln, err := net.Listen("tcp", s.opts.ReadAPIAddr)
	if err != nil {
		return nil, err
	}
	s.addrMu.Lock()
	s.readAddr = ln.Addr()
	s.addrMu.Unlock()
	h := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	wg.Go(func() { errs <- ignoreClosed(h.Serve(ln)) })
	return h, nil
}

// reviewTimeout bounds the TokenReview and SubjectAccessReview of one read-API request.
const reviewTimeout = 10 * time.Second

// bearerToken is the request's bearer token; without one it answers 401 and returns false.
func bearerToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		http.Error(w, "a bearer token is required", http.StatusUnauthorized)
		return "", false
	}
	return token, true
}

// authorized checks the bearer token with TokenReview and the caller's right to get rollouts
// in the namespace with SubjectAccessReview.
func (s *Server) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(w, r)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), reviewTimeout)
		defer cancel()
		user, err := s.reviewToken(ctx, token)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// The whole user as the token reviewed: RBAC (or a webhook authorizer) may decide on
		// its extra, such as a bound token's Pod or credential ID.
		extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, Groups: user.Groups, UID: user.UID, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: r.PathValue("ns"), Verb: "get",
				Group: fleetv1alpha1.GroupVersion.Group, Resource: "rollouts",
			},
		}}
		if err := s.client.Create(ctx, sar); err != nil {
			http.Error(w, "access review failed", http.StatusServiceUnavailable)
			return
		}
		if !sar.Status.Allowed {
			http.Error(w, "forbidden: cannot get rollouts in namespace "+r.PathValue("ns"), http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

func (s *Server) rolloutAgents(w http.ResponseWriter, r *http.Request) {
	s.listAgents(w, r, func(t fleet.Target) bool { return t.Rollout != nil && t.Rollout.Name == r.PathValue("name") })
}

func (s *Server) groupAgents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.listAgents(w, r, func(t fleet.Target) bool {
		if t.Group != nil && t.Group.Name == name {
			return true
		}
		for _, g := range t.Conflicts {
			if g == name {
				return true
			}
		}
		return false
	})
}

// listAgents pages through the agents of a namespace that keep says, ordered by instance UID,
// optionally only those in one state (?state=Failed).
func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, keep func(fleet.Target) bool) {
	ns := r.PathValue("ns")
	q := r.URL.Query()
	limit := queryInt(q.Get("limit"), 500, 5000)
	after := q.Get("continue")
	state := fleetv1alpha1.AgentState(q.Get("state"))
	view := s.world.View(ns)
	now := s.clock.Now()
	var items []AgentInfo
	s.registry.Each(func(a *fleet.Agent) {
		if a.Namespace != ns || a.UID <= after {
			return
		}
		t := view.Target(a, now)
		if !keep(t) {
			return
		}
		info := agentInfo(a, now)
		info.Replica = s.opts.Replica
		if t.Admitted && t.Rollout != nil {
			v := verdictFor(a, t, now)
			info.State, info.Message, info.Rank, info.InBatch = v.State, v.Message, t.Rank, t.InBatch
		}
		if state != "" && info.State != state {
			return
		}
		items = append(items, info)
	})
	sort.Slice(items, func(i, j int) bool { return items[i].InstanceUID < items[j].InstanceUID })
	encoded, cont := pageOf(items, limit, readapi.MaxPageBytes)
	writeJSON(w, encodedPage{Replica: s.opts.Replica, Items: encoded, Continue: cont})
}

// encodedPage is an AgentList whose agents are encoded already.
type encodedPage struct {
	Replica  string            `json:"replica"`
	Items    []json.RawMessage `json:"items"`
	Continue string            `json:"continue,omitempty"`
}

// pageOf encodes items, in order, up to limit of them and maxBytes of encoding (but at least
// one), and gives the continue token when some are left: the UID of the last one taken.
func pageOf(items []AgentInfo, limit, maxBytes int) ([]json.RawMessage, string) {
	var out []json.RawMessage
	size, taken := 0, 0
	for ; taken < len(items) && len(out) < limit; taken++ {
		b, err := json.Marshal(&items[taken])
		if err != nil {
			continue // an agent's strings and maps always encode; never seen, never paged
		}
		if len(out) > 0 && size+len(b)+1 > maxBytes {
			break
		}
		out, size = append(out, b), size+len(b)+1
	}
	if taken < len(items) && taken > 0 {
		return out, items[taken-1].InstanceUID
	}
	return out, ""
}

// groupRanks lists the ranks, under ?hash=, of the group's connected agents above ?after=, at
// most ?limit=, in order: what the manager merges across replicas to cut a batch.
func (s *Server) groupRanks(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	q := r.URL.Query()
	hash, after := q.Get("hash"), q.Get("after")
	if hash == "" {
		http.Error(w, "hash is required", http.StatusBadRequest)
		return
	}
	limit := queryInt(q.Get("limit"), 1000, 100000)
	writeJSON(w, readapi.RankList{Replica: s.opts.Replica, Ranks: s.Ranks(ns, name, hash, after, limit)})
}

// Ranks returns, in order, the ranks under hash of the connected agents of group ns/name
// whose rank is above after, at most limit of them.
func (s *Server) Ranks(ns, name, hash, after string, limit int) []string {
	view := s.world.View(ns)
	now := s.clock.Now()
	var ranks []string
	s.registry.Each(func(a *fleet.Agent) {
		if a.Namespace != ns || !a.Connected {
			return
		}
		t := view.Target(a, now)
		if t.Group == nil || t.Group.Name != name {
			return
		}
		if rank := membership.Rank(hash, a.UID); rank > after {
			ranks = append(ranks, rank)
		}
	})
	sort.Strings(ranks)
	if len(ranks) > limit {
		ranks = ranks[:limit]
	}
	return ranks
}

func agentInfo(a *fleet.Agent, now time.Time) AgentInfo {
	info := AgentInfo{
		InstanceUID:    a.UID,
		ServiceName:    a.Attributes["service.name"],
		ServiceVersion: a.Attributes["service.version"],
		HostName:       a.Attributes["host.name"],
		Attributes:     a.Attributes,
		StatusHash:     a.StatusHash,
		StatusError:    a.StatusError,
		Transport:      a.Transport,
		Connected:      a.Connected,
		RecentDrops:    len(a.Disconnects),
		Flapping:       a.Flapping(flapCount, flapWindow, now),
		ReportsStatus:  a.Capabilities&fleet.CapReportsRemoteConfig != 0,
		AcceptsConfig:  a.Capabilities&fleet.CapAcceptsRemoteConfig != 0,
	}
	if a.StatusHash != "" || a.Status != 0 {
		info.Status = strings.TrimPrefix(a.Status.String(), "RemoteConfigStatuses_")
	}
	if a.HealthReported {
		h := a.Healthy
		info.Healthy, info.HealthError = &h, a.HealthError
	}
	if !a.ConnectedSince.IsZero() {
		t := a.ConnectedSince
		info.ConnectedSince = &t
	}
	if !a.DisconnectedAt.IsZero() {
		t := a.DisconnectedAt
		info.DisconnectedAt = &t
	}
	if !a.CertNotAfter.IsZero() {
		t := a.CertNotAfter
		info.CertNotAfter = &t
	}
	return info
}

func queryInt(v string, def, max int) int {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return def
	}
	return min(n, max)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
