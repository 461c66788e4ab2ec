package replica

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/gates"
	"github.com/ampora-io/ampora/internal/periodic"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

const maxSample = 10

// maxConflictGroups is how many groups status names per conflicting agent (the CRD's
// conflicts[].groups MaxItems). More AgentGroups may match one agent, since any namespace
// editor can create them; naming them all would get every entry refused.
const maxConflictGroups = 8

type objKey struct{ kind, namespace, name string }

type written struct {
	body string
	at   time.Time
}

// reporter writes this replica's entries into Rollout and AgentGroup statuses: at most one
// write per object per ReportInterval whatever the fleet size, and only when the entry
// changed or ReportRefresh passed.
type reporter struct {
	rp   *Replica
	mu   sync.Mutex
	last map[objKey]written
}

func (r *reporter) loop(ctx context.Context) {
	periodic.Every(ctx, r.rp.opts.Clock, r.rp.opts.ReportInterval, func() { r.report(ctx) })
}

type rolloutAcc struct {
	group   string
	view    *fleet.RolloutView
	entry   fleetv1alpha1.ReplicaReport
	failed  []fleetv1alpha1.FailedAgent
	denied  map[string]int32 // by push policy
	buckets []int32
}

type groupAcc struct {
	entry     fleetv1alpha1.GroupReplicaReport
	versions  map[string]int32
	conflicts []fleetv1alpha1.AgentConflict
}

// Snapshot is what this replica would report now, computed from the registry.
type Snapshot struct {
	Rollouts map[objKey]*rolloutAcc
	Groups   map[objKey]*groupAcc
}

func (r *reporter) snapshot(now time.Time) Snapshot {
	rp := r.rp
	views := map[string]*fleet.NSView{}
	snap := Snapshot{Rollouts: map[objKey]*rolloutAcc{}, Groups: map[objKey]*groupAcc{}}
	for _, ns := range rp.opts.World.Namespaces() {
		v := rp.opts.World.View(ns)
		views[ns] = v
		for _, g := range v.Groups {
			snap.Groups[objKey{"AgentGroup", ns, g.Name}] = &groupAcc{versions: map[string]int32{}}
			if g.Rollout != nil {
				snap.Rollouts[objKey{"Rollout", ns, g.Rollout.Name}] = &rolloutAcc{
					group: g.Name, view: g.Rollout, buckets: make([]int32, len(gates.Buckets)+1)}
			}
		}
	}
	rp.opts.Registry.Each(func(a *fleet.Agent) {
		v := views[a.Namespace]
		if v == nil {
			return
		}
		t := v.Target(a, now)
		if len(t.Conflicts) > 1 {
			for _, name := range t.Conflicts {
				ga := snap.Groups[objKey{"AgentGroup", a.Namespace, name}]
				ga.entry.Matching++
				ga.entry.Conflicting++
				if len(ga.conflicts) < maxSample*4 {
					ga.conflicts = append(ga.conflicts, fleetv1alpha1.AgentConflict{InstanceUID: a.UID, Groups: conflictGroups(t.Conflicts, name)})
				}
			}
			return
		}
		if t.Group == nil {
			return
		}
		ga := snap.Groups[objKey{"AgentGroup", a.Namespace, t.Group.Name}]
		ga.entry.Matching++
		if a.Connected {
			ga.entry.Connected++
			ga.versions[a.ServiceVersion()]++
		}
		if !t.Admitted || t.Rollout == nil {
			return
		}
		ra := snap.Rollouts[objKey{"Rollout", a.Namespace, t.Rollout.Name}]
		if ra == nil {
			return
		}
		v2 := t.Verdict(a, now)
		ra.entry.Counts.Count(v2.State)
		if t.InBatch {
			ra.entry.BatchCounts.Count(v2.State)
			if (v2.State == fleetv1alpha1.AgentApplied || v2.State == fleetv1alpha1.AgentUnhealthy) &&
				a.OfferedHash == t.Desired && !a.OfferedAt.IsZero() && !a.AppliedAt.Before(a.OfferedAt) {
				ra.buckets[gates.BucketIndex(a.AppliedAt.Sub(a.OfferedAt))]++
			}
		}
		if t.Denied != "" {
			if ra.denied == nil {
				ra.denied = map[string]int32{}
			}
			ra.denied[t.Denied]++
		}
		if v2.State.Problem() {
			ra.failed = append(ra.failed, a.FailedAgent(v2))
		}
	})
	return snap
}

// conflictGroups names at most maxConflictGroups of the groups that match an agent, in order,
// always including self, the group whose entry lists it.
func conflictGroups(all []string, self string) []string {
	if len(all) <= maxConflictGroups {
		return all
	}
	out := slices.Clone(all[:maxConflictGroups])
	if !slices.Contains(out, self) {
		out[maxConflictGroups-1] = self
	}
	return out
}

// report computes the snapshot and writes the entries that changed.
func (r *reporter) report(ctx context.Context) {
	rp := r.rp
	now := rp.opts.Clock.Now()
	snap := r.snapshot(now)
	reportedAt := metav1.NewTime(now.Truncate(time.Second))

	for key, ra := range snap.Rollouts {
		e := &ra.entry
		e.Replica, e.ConfigHash, e.Batch = rp.opts.Replica, ra.view.Config.Hash, ra.view.Batch
		e.BatchStartedAt = fleet.StatusTime(ra.view.BatchStart)
		if ga := snap.Groups[objKey{"AgentGroup", key.namespace, ra.group}]; ga != nil {
			e.Connected = ga.entry.Connected
		}
		if hasAny(ra.buckets) {
			e.ApplyDurationBuckets = ra.buckets
		}
		slices.SortFunc(ra.failed, fleetv1alpha1.CompareFailedAgents)
		for i := 0; i < len(ra.failed) && i < maxSample; i++ {
			e.FailedAgents = append(e.FailedAgents, ra.failed[i])
		}
		e.DeniedBy = fleetv1alpha1.TopDenials(ra.denied)
		r.setStateGauges(key, e.Counts)
		r.write(ctx, key, e, func() any { e.ReportedAt = reportedAt; return e }, now)
	}
	for key, ga := range snap.Groups {
		e := &ga.entry
		e.Replica = rp.opts.Replica
		e.Versions = fleetv1alpha1.TopVersions(ga.versions)
		sort.Slice(ga.conflicts, func(i, j int) bool { return ga.conflicts[i].InstanceUID < ga.conflicts[j].InstanceUID })
		if len(ga.conflicts) > maxSample {
			ga.conflicts = ga.conflicts[:maxSample]
		}
		e.Conflicts = ga.conflicts
		r.write(ctx, key, e, func() any { e.ReportedAt = reportedAt; return e }, now)
	}
}

func hasAny(b []int32) bool {
	for _, n := range b {
		if n != 0 {
			return true
		}
	}
	return false
}

func (r *reporter) setStateGauges(key objKey, c fleetv1alpha1.AgentCounts) {
	g := r.rp.metrics.agentsByState
	for _, state := range fleetv1alpha1.AgentStates {
		g.WithLabelValues(key.namespace, key.name, string(state)).Set(float64(c.Of(state)))
	}
}

// write applies one entry with server-side apply under this replica's own field manager,
// unless it equals the last one written and the refresh interval has not passed.
func (r *reporter) write(ctx context.Context, key objKey, entry any, stamped func() any, now time.Time) {
	body, _ := json.Marshal(entry)
	r.mu.Lock()
	last, ok := r.last[key]
	r.mu.Unlock()
	if ok && last.body == string(body) && now.Sub(last.at) < r.rp.opts.ReportRefresh {
		return
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(stamped())
	if err != nil {
		r.rp.log.Error(err, "converting a status entry")
		return
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": fleetv1alpha1.GroupVersion.String(),
		"kind":       key.kind,
		"metadata":   map[string]any{"name": key.name, "namespace": key.namespace},
		"status":     map[string]any{"replicas": []any{m}},
	}}
	err = r.rp.opts.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(FieldManager(r.rp.opts.Replica)), client.ForceOwnership)
	if err != nil {
		if ctx.Err() == nil {
			r.rp.log.V(1).Info("writing status entry failed", "kind", key.kind, "namespace", key.namespace, "name", key.name, "error", err.Error())
		}
		return
	}
	r.rp.metrics.statusWrites.WithLabelValues(key.kind).Inc()
	r.mu.Lock()
	r.last[key] = written{body: string(body), at: now}
	r.mu.Unlock()
}
