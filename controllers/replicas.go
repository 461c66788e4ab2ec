package controllers

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

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver"
)

// Replicas finds the live OpAMP sidecar replicas through their Leases and asks their read API
// for the ranks of a group's agents. It is how the manager learns batch membership without
// holding any agent itself: through the API server and authenticated calls between the
// operator's own Pods, nothing else.
type Replicas struct {
	Client    client.Reader
	Namespace string
	// Token returns the bearer token presented to the sidecars' read API.
	Token func() (string, error)
	HTTP  *http.Client
	// Check says which Lease URLs may be sent the token (its Namespace is Namespace).
	Check readapi.AddressCheck
}

// Replica is one live sidecar replica.
type Replica struct {
	Name      string
	URL       string
	RenewedAt time.Time
}

// Live lists the replicas whose Lease has not expired at now, by name.
func (r *Replicas) Live(ctx context.Context, now time.Time) (map[string]Replica, error) {
	var leases coordinationv1.LeaseList
	if err := r.Client.List(ctx, &leases, client.InNamespace(r.Namespace), client.HasLabels{opampserver.LabelReplicaLease}); err != nil {
		return nil, err
	}
	live := map[string]Replica{}
	for i := range leases.Items {
		l := &leases.Items[i]
		// A replica holds the Lease of its own name: another Lease naming it as holder
		// would stand in for it.
		if !opampserver.LeaseLive(l, now) || l.Spec.HolderIdentity == nil || l.Name != opampserver.LeaseName(*l.Spec.HolderIdentity) {
			continue
		}
		live[*l.Spec.HolderIdentity] = Replica{Name: *l.Spec.HolderIdentity,
			URL: l.Annotations[opampserver.AnnotationReadAPI], RenewedAt: l.Spec.RenewTime.Time}
	}
	return live, nil
}

// Ranks merges, across live replicas, the ranks (under hash) of the group's connected agents
// above after, and returns the smallest limit of them in order.
func (r *Replicas) Ranks(ctx context.Context, live map[string]Replica, ns, group, hash, after string, limit int) ([]string, error) {
	token, err := r.Token()
	if err != nil {
		return nil, fmt.Errorf("reading the token for the sidecars: %w", err)
	}
	hc := r.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
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
		u := fmt.Sprintf("%s/v1/namespaces/%s/agentgroups/%s/ranks?%s", rep.URL, url.PathEscape(ns), url.PathEscape(group), q.Encode())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("asking replica %s for ranks: %w", rep.Name, err)
		}
		body, err := readapi.ReadBounded(resp.Body, maxRanksBytes)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("replica %s answered %s", rep.Name, resp.Status)
		}
		var list opampserver.RankList
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

// maxReplicaEntries is the CRD's bound on status.replicas (Rollout and AgentGroup).
const maxReplicaEntries = 64

// replicaPruneAt is how full status.replicas may get before the entries of dead replicas are
// removed. Every sidecar Pod ever started leaves an entry under its own name, and an entry is
// only ever rewritten by its replica, so without this the list fills after enough restarts
// and upgrades, and from then on the API server refuses a new replica's entry for good.
// Pruning well before the bound leaves room for replicas that start meanwhile.
const replicaPruneAt = maxReplicaEntries * 3 / 4

// staleEntries returns, highest first, the indexes of the entries (by replica name) whose
// replica is not live, once the list holds replicaPruneAt entries or more; nil before.
func staleEntries(replicas []string, live map[string]Replica) []int {
	if len(replicas) < replicaPruneAt {
		return nil
	}
	var out []int
	for i := len(replicas) - 1; i >= 0; i-- {
		if _, ok := live[replicas[i]]; !ok {
			out = append(out, i)
		}
	}
	return out
}

// pruneEntries removes the entries of dead replicas from obj's status.replicas, when the list
// is nearly full, with a JSON patch that tests each entry's name before removing it: an entry
// that moved or was rewritten meanwhile makes the whole patch fail, and the next pass retries.
func pruneEntries(ctx context.Context, c client.Client, obj client.Object, replicas []string, live map[string]Replica) error {
	stale := staleEntries(replicas, live)
	if len(stale) == 0 {
		return nil
	}
	var ops []map[string]any
	for _, i := range stale {
		path := fmt.Sprintf("/status/replicas/%d", i)
		ops = append(ops, map[string]any{"op": "test", "path": path + "/replica", "value": replicas[i]},
			map[string]any{"op": "remove", "path": path})
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	err = c.Status().Patch(ctx, obj, client.RawPatch(types.JSONPatchType, body))
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
		// Gone, or changed since it was read (a failed test reads as invalid): the next pass
		// sees it as it is now.
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %d entries of dead replicas: %w", len(stale), err)
	}
	return nil
}
