package replica

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-telemetry/opamp-go/protobufs"
	testingclock "k8s.io/utils/clock/testing"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/ampora-io/ampora/opampserver/fleet/fleettest"
)

// agent registers a connected agent of the test namespace that reports status for hash.
func agent(r *fleet.Registry, b byte, attrs map[string]string, st protobufs.RemoteConfigStatuses, hash, errMsg string, at time.Time) {
	uid := fleet.UIDString(fleettest.UID(b))
	r.Do(uid, true, func(a *fleet.Agent) {
		a.UID, a.Namespace, a.Connected, a.ConnectedSince = uid, "prod", true, fleettest.Start
		a.Attributes, a.Capabilities = attrs, fleettest.CapsFull
		a.Apply(fleet.Report{Remote: &fleet.RemoteStatus{Hash: hash, Status: st, Error: errMsg}}, at)
	})
}

func TestSnapshot(t *testing.T) {
	clk := testingclock.NewFakeClock(fleettest.Start)
	cfg := fleettest.Config(fleettest.CollectorBody)
	reg, world := fleet.NewRegistry(), fleet.NewWorld(nil, logr.Discard(), nil)
	group := fleettest.RolloutGroup(cfg)
	other := &fleet.GroupView{Name: "other", Selector: group.Selector, Excluded: map[string]struct{}{}}
	world.SetView("prod", &fleet.NSView{Groups: []*fleet.GroupView{group}})
	rp := New(Options{Replica: "replica-0", Registry: reg, World: world, Clock: clk, Logger: logr.Discard()})

	gw := func(v string) map[string]string { return map[string]string{"service.name": "gw", "service.version": v} }
	applied, failed := fleettest.Applied, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED
	for i := range 3 {
		agent(reg, byte(i+1), gw("0.149.0"), applied, cfg.Hash, "", fleettest.Start.Add(time.Second))
	}
	for i := range 12 {
		agent(reg, byte(i+10), gw("0.148.0"), failed, cfg.Hash, fmt.Sprintf("bad pipeline %d", i), fleettest.Start.Add(time.Second))
	}
	now := fleettest.Start.Add(5 * time.Second)
	snap := rp.reporter.snapshot(now)

	g := snap.Groups[objKey{"AgentGroup", "prod", "all"}]
	if g == nil || g.entry.Matching != 15 || g.entry.Connected != 15 {
		t.Fatalf("group entry %+v, want 15 matching and connected", g)
	}
	if g.versions["0.149.0"] != 3 || g.versions["0.148.0"] != 12 {
		t.Errorf("versions %v", g.versions)
	}
	ra := snap.Rollouts[objKey{"Rollout", "prod", "roll"}]
	if ra == nil {
		t.Fatal("no rollout entry")
	}
	if c := ra.entry.Counts; c != (fleetv1alpha1.AgentCounts{Targeted: 15, Applied: 3, Failed: 12}) {
		t.Errorf("counts %+v, want 15 targeted: 3 applied, 12 failed", c)
	}
	if ra.entry.BatchCounts != ra.entry.Counts {
		t.Errorf("batch counts %+v differ from counts %+v: the batch admits every agent", ra.entry.BatchCounts, ra.entry.Counts)
	}
	if len(ra.failed) != 12 {
		t.Fatalf("%d failed agents gathered, want 12 (the report cuts the sample, not the snapshot)", len(ra.failed))
	}
	for _, fa := range ra.failed {
		if fa.State != fleetv1alpha1.AgentFailed || fa.ServiceVersion != "0.148.0" || fa.Message == "" {
			t.Errorf("failed agent %+v", fa)
		}
	}

	// Two groups matching one agent: it is a conflict in both, and counts in no rollout.
	world.SetView("prod", &fleet.NSView{Groups: []*fleet.GroupView{group, other}})
	snap = rp.reporter.snapshot(now)
	for _, name := range []string{"all", "other"} {
		g := snap.Groups[objKey{"AgentGroup", "prod", name}]
		if g.entry.Conflicting != 15 || len(g.conflicts) != 15 {
			t.Errorf("group %s: %d conflicting, %d named; want 15", name, g.entry.Conflicting, len(g.conflicts))
		}
	}
	if ra := snap.Rollouts[objKey{"Rollout", "prod", "roll"}]; ra.entry.Counts != (fleetv1alpha1.AgentCounts{}) {
		t.Errorf("conflicting agents counted in the rollout: %+v", ra.entry.Counts)
	}
}
