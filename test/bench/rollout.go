package main

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// rollout: N agents that apply at once, B batches, no bake. How long the Rollout takes, how
// far its status trails the agents, and what it costs the API server and the manager.
func (r *run) rollout(start time.Time) (Record, error) {
	rec := newRecord("rollout", r.o.agents, r.o.replicas, r.o.transport, start)
	rec.Batches = r.o.batches
	if err := r.up(r.o.replicas, leaseTimesFor(r.o.leaseDuration)); err != nil {
		return rec, err
	}
	var extra []string
	if r.o.applyDelay != "" {
		extra = append(extra, "-profile", "delay="+r.o.applyDelay)
	}
	if _, err := r.connectFleet(r.o.agents, extra...); err != nil {
		return rec, err
	}
	if err := r.waitGroup(r.o.agents); err != nil {
		return rec, err
	}

	w := watchRollout(r.ctx, r.cl.c, benchNS, rolloutName)
	writes0, err := r.cl.rolloutStatusWrites(r.ctx)
	if err != nil {
		return rec, err
	}
	created := time.Now()
	if err := r.cl.c.Create(r.ctx, newRollout(batchSize(r.o.agents, r.o.batches))); err != nil {
		return rec, fmt.Errorf("creating the Rollout: %w", err)
	}
	done, err := r.untilCompleted(w, 0, r.timeout(5*time.Minute+time.Duration(r.o.agents)*10*time.Millisecond+time.Duration(r.o.batches)*10*time.Second))
	if err != nil {
		return rec, err
	}
	writes1, err := r.cl.rolloutStatusWrites(r.ctx)
	if err != nil {
		return rec, err
	}
	leader := r.leader()
	if leader == nil {
		return rec, fmt.Errorf("no manager leads at the end of the rollout")
	}
	managerRSS, err := readRSS(leader.manager.pid())
	if err != nil {
		return rec, err
	}
	// The load generators' last counts arrive up to one interval after the agents applied.
	sleep(r.ctx, 2*r.o.sampleEvery+100*time.Millisecond)

	st := done.ro.Status
	total := done.at.Sub(created)
	res := &RolloutResult{
		Plan:                    st.Plan,
		Applied:                 int(st.Counts.Applied),
		TotalSeconds:            round3(total.Seconds()),
		AppliesPerMinute:        round1(float64(st.Counts.Applied) / total.Minutes()),
		StatusLagResolutionMs:   float64(r.o.sampleEvery.Milliseconds()),
		APIServerStatusWrites:   writes1.total() - writes0.total(),
		APIServerWritesBy:       writes1.minus(writes0),
		StatusWriters:           len(r.reps) + 1,
		ManagerRSSBytes:         managerRSS,
		ManagerAppliesPerMinute: st.AppliesPerMinute,
	}
	res.APIServerWritesPerSec = round3(res.APIServerStatusWrites / total.Seconds() / float64(1*res.StatusWriters))
	lags := statusLags(r.appliedSeries(), w.all(), r.o.agents, st.Plan)
	res.StatusLagP50Ms, res.StatusLagP99Ms = lags.endToEnd.p50, lags.endToEnd.p99
	res.SidecarReportLagP50Ms, res.SidecarReportLagP99Ms = lags.sidecar.p50, lags.sidecar.p99
	res.ManagerAggLagP50Ms, res.ManagerAggLagP99Ms = lags.manager.p50, lags.manager.p99
	res.StatusLagPerBatchMs = lags.perBatch
	rec.RolloutResult = res
	return rec, nil
}

// batchSize is ceil(n/b).
func batchSize(n, b int) int { return (n + b - 1) / b }

// waitGroup waits until the leader's AgentGroup controller sees all n agents matching and
// connected: the batch plan is cut from the group's size.
func (r *run) waitGroup(n int) error {
	return r.phase("the AgentGroup sees every agent", r.timeout(2*time.Minute+time.Duration(n)*time.Millisecond), func(ctx context.Context, ph *phase) error {
		return poll(ctx, 250*time.Millisecond, func() (bool, error) {
			var g fleetv1alpha1.AgentGroup
			if err := r.cl.c.Get(ctx, client.ObjectKey{Namespace: benchNS, Name: groupName}, &g); err != nil {
				ph.report("reading the AgentGroup: %v", err)
				return false, nil
			}
			ph.report("AgentGroup %s: %d matching, %d connected", groupName, g.Status.MatchingAgents, g.Status.ConnectedAgents)
			return int(g.Status.MatchingAgents) == n && int(g.Status.ConnectedAgents) == n, nil
		})
	})
}

// untilCompleted waits for the Rollout to reach Completed, failing as soon as it stops
// short of it, and prints its progress every few seconds.
func (r *run) untilCompleted(w *rolloutWatch, from int, timeout time.Duration) (observed, error) {
	var done observed
	err := r.phase("the Rollout runs to Completed", timeout, func(ctx context.Context, ph *phase) error {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					r.logf("    %s", describe(w.latest()))
				}
			}
		}()
		var why string
		_, ev, err := w.next(ctx, from, func(ro *fleetv1alpha1.Rollout) bool {
			ph.report("%s", describe(ro))
			if s, msg := stopped(ro); s {
				why = msg
				return true
			}
			return ro.Status.Phase == fleetv1alpha1.RolloutCompleted
		})
		if err != nil {
			return err
		}
		if why != "" {
			return fmt.Errorf("the Rollout stopped short of Completed: %s", why)
		}
		done = ev
		r.logf("    %s", describe(ev.ro))
		return nil
	})
	return done, err
}

// quantiles are the median and the 99th percentile of a set of lags, null when empty.
type quantiles struct{ p50, p99 *float64 }

func quantilesOf(xs []float64) quantiles {
	return quantiles{num(round1(percentile(xs, 50))), num(round1(percentile(xs, 99)))}
}

// lagSet is what statusLags finds.
type lagSet struct {
	endToEnd, sidecar, manager quantiles
	perBatch                   []*float64
}

// statusLags compares three cumulative curves of applied agents: t_A(k), when the fleet's
// k-th agent reported APPLIED (the load generators' counts); t_R(k), when the replicas'
// status entries first summed to k; t_S(k), when the Rollout's top-level count first reached
// k. See fieldHelp for the exact definitions.
func statusLags(fleet [][]point, evs []observed, n int, plan []int32) lagSet {
	tA := firstReach(fleetCurve(fleet), n)
	top, reps := curves(evs)
	tS, tR := firstReach(top, n), firstReach(reps, n)
	out := lagSet{
		endToEnd: quantilesOf(lagsMs(tA, tS)),
		sidecar:  quantilesOf(lagsMs(tA, tR)),
		manager:  quantilesOf(lagsMs(tR, tS)),
	}
	targets := cumulative(plan)
	a, s := atTargets(tA, targets), atTargets(tS, targets)
	for i := range targets {
		if a[i].IsZero() || s[i].IsZero() {
			out.perBatch = append(out.perBatch, nil)
			continue
		}
		out.perBatch = append(out.perBatch, num(round1(float64(s[i].Sub(a[i]))/float64(time.Millisecond))))
	}
	return out
}
