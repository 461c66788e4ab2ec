package readapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/membership"
)

// Peers finds the live OpAMP sidecar replicas through their Leases and asks their read API
// for the ranks of a group's agents. It is how the manager learns batch membership without
// holding any agent itself: through the API server and authenticated calls between the
// operator's own Pods, nothing else.
type Peers struct {
	Client    client.Reader
	Namespace string
	// Token returns the bearer token presented to the sidecars' read API.
	Token func() (string, error)
	HTTP  *http.Client
	// Check says which Lease URLs may be sent the token (its Namespace is Namespace).
	Check AddressCheck
}

// Live lists the replicas whose Lease has not expired at now, by name.
func (r *Peers) Live(ctx context.Context, now time.Time) (map[string]Replica, error) {
	replicas, err := Replicas(ctx, r.Client, r.Namespace)
	if err != nil {
		return nil, err
	}
	live := map[string]Replica{}
	for _, rep := range LiveOnly(replicas, now) {
		live[rep.Name] = rep
	}
	return live, nil
}

// Ranks merges, across live replicas, the ranks (under hash) of the group's connected agents
// above after, and returns the smallest limit of them in order.
func (r *Peers) Ranks(ctx context.Context, live map[string]Replica, ns, group, hash, after string, limit int) ([]string, error) {
	token, err := r.Token()
	if err != nil {
		return nil, fmt.Errorf("reading the token for the sidecars: %w", err)
	}
	hc := r.HTTP
	if hc == nil {
		hc = HTTPClient(10 * time.Second)
	}
	check := r.Check
	check.Namespace = r.Namespace
	allowed, err := check.Addresses(ctx, r.Client)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, rep := range live {
		if rep.URL == "" {
			return nil, fmt.Errorf("replica %s publishes no read API", rep.Name)
		}
		// The URL is on a Lease: the operator's token goes only to the sidecars' own Pods.
		if err := allowed.Check(rep.URL); err != nil {
			return nil, fmt.Errorf("replica %s: %w", rep.Name, err)
		}
		q := url.Values{"hash": {hash}, "after": {after}, "limit": {strconv.Itoa(limit)}}
		u := rep.URL + RanksPath(ns, group) + "?" + q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("asking replica %s for ranks: %w", rep.Name, err)
		}
		body, err := ReadBounded(resp.Body, maxRanksBytes)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("replica %s answered %s", rep.Name, resp.Status)
		}
		var list RankList
		if err == nil {
			err = json.Unmarshal(body, &list)
		}
		if err == nil {
			err = checkRanks(list.Ranks)
		}
		if err != nil {
			return nil, fmt.Errorf("reading ranks from replica %s: %w", rep.Name, err)
		}
		all = append(all, list.Ranks...)
	}
	sort.Strings(all)
	all = dedupSorted(all)
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// maxRanksBytes bounds a replica's answer of ranks: a sidecar answers at most 100000 ranks
// of 16 hex digits (about 1.9 MB as JSON).
const maxRanksBytes = 4 << 20

// checkRanks refuses ranks that are not 16 lowercase hex digits: a cutoff goes into
// status.currentBatch, whose pattern would refuse the whole status write.
func checkRanks(ranks []string) error {
	for _, r := range ranks {
		if _, err := membership.RankValue(r); err != nil || strings.ToLower(r) != r {
			return fmt.Errorf("malformed rank %.40q", r)
		}
	}
	return nil
}

// dedupSorted drops repeated ranks: an agent that moved between replicas while they were
// asked appears once.
func dedupSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// RankList is a replica's answer of ranks: those of a group's eligible agents, in order.
type RankList struct {
	Replica string   `json:"replica"`
	Ranks   []string `json:"ranks"`
}

// RanksPath is the read API's path of a group's ranks (query: hash, after, limit).
func RanksPath(ns, group string) string {
	return fmt.Sprintf("/v1/namespaces/%s/agentgroups/%s/ranks", url.PathEscape(ns), url.PathEscape(group))
}
