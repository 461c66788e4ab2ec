package replica

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

// Flapping: at least this many disconnects within the window.
const (
	flapCount  = 3
	flapWindow = 10 * time.Minute
)

func (rp *Replica) rolloutAgents(w http.ResponseWriter, r *http.Request) {
	rp.listAgents(w, r, func(t fleet.Target) bool { return t.Rollout != nil && t.Rollout.Name == r.PathValue("name") })
}

func (rp *Replica) groupAgents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rp.listAgents(w, r, func(t fleet.Target) bool {
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
func (rp *Replica) listAgents(w http.ResponseWriter, r *http.Request, keep func(fleet.Target) bool) {
	ns := r.PathValue("ns")
	q := r.URL.Query()
	limit := queryInt(q.Get("limit"), 500, 5000)
	after := q.Get("continue")
	state := fleetv1alpha1.AgentState(q.Get("state"))
	view := rp.opts.World.View(ns)
	now := rp.opts.Clock.Now()
	var items []readapi.Agent
	rp.opts.Registry.Each(func(a *fleet.Agent) {
		if a.Namespace != ns || a.UID <= after {
			return
		}
		t := view.Target(a, now)
		if !keep(t) {
			return
		}
		info := AgentInfo(a, now)
		info.Replica = rp.opts.Replica
		if t.Admitted && t.Rollout != nil {
			v := t.Verdict(a, now)
			info.State, info.Message, info.Rank, info.InBatch = v.State, v.Message, t.Rank, t.InBatch
		}
		if state != "" && info.State != state {
			return
		}
		items = append(items, info)
	})
	sort.Slice(items, func(i, j int) bool { return items[i].InstanceUID < items[j].InstanceUID })
	encoded, cont := pageOf(items, limit, readapi.MaxPageBytes)
	writeJSON(w, encodedPage{Replica: rp.opts.Replica, Items: encoded, Continue: cont})
}

// encodedPage is a readapi.AgentList whose agents are encoded already.
type encodedPage struct {
	Replica  string            `json:"replica"`
	Items    []json.RawMessage `json:"items"`
	Continue string            `json:"continue,omitempty"`
}

// pageOf encodes items, in order, up to limit of them and maxBytes of encoding (but at least
// one), and gives the continue token when some are left: the UID of the last one taken.
func pageOf(items []readapi.Agent, limit, maxBytes int) ([]json.RawMessage, string) {
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
func (rp *Replica) groupRanks(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	q := r.URL.Query()
	hash, after := q.Get("hash"), q.Get("after")
	if hash == "" {
		http.Error(w, "hash is required", http.StatusBadRequest)
		return
	}
	limit := queryInt(q.Get("limit"), 1000, 100000)
	writeJSON(w, readapi.RankList{Replica: rp.opts.Replica, Ranks: rp.ranks(ns, name, hash, after, limit)})
}

// ranks returns, in order, the ranks under hash of the connected agents of group ns/name
// whose rank is above after, at most limit of them.
func (rp *Replica) ranks(ns, name, hash, after string, limit int) []string {
	view := rp.opts.World.View(ns)
	now := rp.opts.Clock.Now()
	var ranks []string
	rp.opts.Registry.Each(func(a *fleet.Agent) {
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

// AgentInfo is an agent as the read API shows it.
func AgentInfo(a *fleet.Agent, now time.Time) readapi.Agent {
	info := readapi.Agent{
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
