package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/readapi"
)

// Replicas is what the engine asks of the OpAMP sidecar replicas: which are live (their
// Leases), and the ranks of a group's agents across them (their read API). readapi.Peers asks
// the real ones; phase tests give their own.
type Replicas interface {
	Live(ctx context.Context, now time.Time) (map[string]readapi.Replica, error)
	Ranks(ctx context.Context, live map[string]readapi.Replica, ns, group, hash, after string, limit int) ([]string, error)
}

// maxReplicaEntries is the CRD's bound on status.replicas (Rollout and AgentGroup).
const maxReplicaEntries = 64

// replicaPruneAt is how full status.replicas may get before the entries of every dead replica
// go at once, whatever their age. Every sidecar Pod ever started leaves an entry under its own
// name, and an entry is only ever rewritten by its replica, so without pruning the list fills
// after enough restarts and upgrades, and from then on the API server refuses a new replica's
// entry for good. Pruning well before the bound leaves room for replicas that start meanwhile.
const replicaPruneAt = maxReplicaEntries * 3 / 4

// DefaultReplicaReportTimeout is how long a replica's entry may go unwritten before it stops
// counting. A sidecar rewrites an unchanged entry every --report-refresh (30 s): two refreshes
// missed is a replica that does not report, not one that had nothing to say.
const DefaultReplicaReportTimeout = time.Minute

// entryStamp is a status entry's replica and when it wrote the entry.
type entryStamp struct {
	replica    string
	reportedAt time.Time
}

// staleEntries returns, highest first, the indexes of the entries to remove: those of replicas
// with no live Lease that have not reported for timeout (a replica that restarts keeps its
// entry), and, once the list holds replicaPruneAt entries or more, of every replica with no
// live Lease.
func staleEntries(entries []entryStamp, live map[string]readapi.Replica, now time.Time, timeout time.Duration) []int {
	full := len(entries) >= replicaPruneAt
	var out []int
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if _, ok := live[e.replica]; !ok && (full || now.Sub(e.reportedAt) >= timeout) {
			out = append(out, i)
		}
	}
	return out
}

// silence is a live replica that has not reported for a while: its entry is older than the
// timeout, or it has none though its Lease is older than that.
type silence struct {
	replica string
	// last is its entry's reportedAt, or when it took its Lease if it has no entry.
	last time.Time
}

// silentReplicas lists, by name, the live replicas that have not reported for timeout. A
// replica owes an entry from owedSince (when the object became one the sidecars report on) or
// from when it took its Lease, whichever is later.
func silentReplicas(entries []entryStamp, live map[string]readapi.Replica, owedSince, now time.Time, timeout time.Duration) []silence {
	last := map[string]time.Time{}
	for _, e := range entries {
		last[e.replica] = e.reportedAt
	}
	var out []silence
	for name, rep := range live {
		at, ok := last[name]
		if !ok {
			at = rep.Acquired
			if owedSince.After(at) {
				at = owedSince
			}
		}
		if at.IsZero() || now.Sub(at) < timeout {
			continue
		}
		out = append(out, silence{replica: name, last: at.UTC().Truncate(time.Second)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].replica < out[j].replica })
	return out
}

// silenceMessage names the silent replicas: "replica X has not reported since 2026-12-04T10:00:00Z".
// A time, not an age: the message stays the same from pass to pass, so that it causes no write.
func silenceMessage(silent []silence) string {
	parts := make([]string, 0, len(silent))
	for i, s := range silent {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more", len(silent)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("replica %s has not reported since %s", s.replica, s.last.Format(time.RFC3339)))
	}
	return strings.Join(parts, ", ")
}

// silentSet is the names of silent replicas, for the sums that leave them out.
func silentSet(silent []silence) map[string]bool {
	out := make(map[string]bool, len(silent))
	for _, s := range silent {
		out[s.replica] = true
	}
	return out
}

// pruneEntries removes from obj's status.replicas the entries staleEntries names, with a JSON
// patch that tests each entry's name before removing it: an entry that moved or was rewritten
// meanwhile makes the whole patch fail, and the next pass retries.
func pruneEntries(ctx context.Context, c client.Client, obj client.Object, entries []entryStamp, live map[string]readapi.Replica, now time.Time, timeout time.Duration) error {
	stale := staleEntries(entries, live, now, timeout)
	if len(stale) == 0 {
		return nil
	}
	var ops []map[string]any
	for _, i := range stale {
		path := fmt.Sprintf("/status/replicas/%d", i)
		ops = append(ops, map[string]any{"op": "test", "path": path + "/replica", "value": entries[i].replica},
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
