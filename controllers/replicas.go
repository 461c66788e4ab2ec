package controllers

import (
	"context"
	"encoding/json"
	"fmt"
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

// replicaPruneAt is how full status.replicas may get before the entries of dead replicas are
// removed. Every sidecar Pod ever started leaves an entry under its own name, and an entry is
// only ever rewritten by its replica, so without this the list fills after enough restarts
// and upgrades, and from then on the API server refuses a new replica's entry for good.
// Pruning well before the bound leaves room for replicas that start meanwhile.
const replicaPruneAt = maxReplicaEntries * 3 / 4

// staleEntries returns, highest first, the indexes of the entries (by replica name) whose
// replica is not live, once the list holds replicaPruneAt entries or more; nil before.
func staleEntries(replicas []string, live map[string]readapi.Replica) []int {
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
func pruneEntries(ctx context.Context, c client.Client, obj client.Object, replicas []string, live map[string]readapi.Replica) error {
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
