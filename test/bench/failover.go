package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/fleetsim"
)

// failover: 2 replicas; the leading manager is killed with SIGKILL while a batch is being
// pushed. How long until the other manager writes the Rollout's progress again, and whether
// the Rollout still ends with every agent counted exactly once.
func (r *run) failover(start time.Time) (Record, error) {
	const replicas = 2
	rec := newRecord("failover", r.o.agents, replicas, r.o.transport, start)
	rec.Batches = r.o.batches
	lease := leaseTimesFor(r.o.leaseDuration)
	delay := r.o.applyDelay
	if delay == "" {
		delay = "0s-" + (2 * lease.duration).String()
	}
	_, delayHi, err := fleetsim.ParseDelay(delay)
	if err != nil {
		return rec, err
	}
	res := &FailoverResult{
		LeaseDurationSeconds: lease.duration.Seconds(), RenewDeadlineSeconds: lease.renewDeadline.Seconds(),
		RetryPeriodSeconds: lease.retryPeriod.Seconds(), ApplyDelay: delay,
	}
	if err := r.up(replicas, lease); err != nil {
		return rec, err
	}
	if _, err := r.connectFleet(r.o.agents, "-profile", "delay="+delay); err != nil {
		return rec, err
	}
	if err := r.waitGroup(r.o.agents); err != nil {
		return rec, err
	}

	w := watchRollout(r.ctx, r.cl.c, benchNS, rolloutName)
	created := time.Now()
	if err := r.cl.c.Create(r.ctx, newRollout(batchSize(r.o.agents, r.o.batches))); err != nil {
		return rec, fmt.Errorf("creating the Rollout: %w", err)
	}
	killBatch := int32(min(2, r.o.batches))
	perBatch := time.Duration(r.o.agents)*10*time.Millisecond + delayHi + 30*time.Second

	// Mid-batch: the kill batch is Pushing, some but not all of its agents applied.
	var at *fleetv1alpha1.Rollout
	err = r.phase(fmt.Sprintf("wait until batch %d is being pushed and partly applied", killBatch), r.timeout(5*time.Minute+time.Duration(killBatch)*perBatch), func(ctx context.Context, ph *phase) error {
		var why string
		_, ev, err := w.next(ctx, 0, func(ro *fleetv1alpha1.Rollout) bool {
			ph.report("%s", describe(ro))
			if s, msg := stopped(ro); s {
				why = msg
				return true
			}
			b := ro.Status.CurrentBatch
			switch {
			case ro.Status.Phase == fleetv1alpha1.RolloutCompleted || (b != nil && b.Number > killBatch):
				why = fmt.Sprintf("the Rollout went past batch %d before it could be caught mid-batch (%s); give the agents a longer -apply-delay", killBatch, describe(ro))
				return true
			case b != nil && b.Number == killBatch && b.Phase == fleetv1alpha1.BatchPushing &&
				ro.Status.BatchCounts.Applied >= 1 && ro.Status.BatchCounts.Applied < b.Size:
				return true
			}
			return false
		})
		if err != nil {
			return err
		}
		if why != "" {
			return fmt.Errorf("%s", why)
		}
		at = ev.ro
		return nil
	})
	if err != nil {
		return rec, err
	}
	leader := r.leader()
	if leader == nil {
		return rec, fmt.Errorf("no manager leads")
	}
	var standby *replica
	for _, rep := range r.reps {
		if rep != leader {
			standby = rep
		}
	}
	res.KillBatch, res.KillBatchApplied = at.Status.CurrentBatch.Number, at.Status.BatchCounts.Applied
	r.logf("==> SIGKILL to the leading manager, %s (pid %d): %s", leader.manager.name, leader.manager.pid(), describe(at))
	killed := time.Now()
	if err := leader.manager.kill(); err != nil {
		return rec, fmt.Errorf("killing %s: %w", leader.manager.name, err)
	}
	acquired := make(chan time.Time, 1)
	go func() {
		_ = poll(r.ctx, 50*time.Millisecond, func() (bool, error) {
			if standby.manager.logContains(leaderLine) {
				acquired <- time.Now()
				return true, nil
			}
			return false, nil
		})
	}()

	var change observed
	err = r.phase("takeover: the other manager writes progress", r.timeout(3*lease.duration+time.Minute), func(ctx context.Context, ph *phase) error {
		select {
		case <-leader.manager.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		// Writes the dead process had in flight land within this window; what changes after
		// it can only come from the new leader.
		sleep(ctx, 200*time.Millisecond)
		from := w.len()
		base := w.latest()
		ph.report("no manager-written change since the kill; %s", describe(base))
		var err error
		_, change, err = w.next(ctx, from, func(ro *fleetv1alpha1.Rollout) bool { return managerChange(base, ro) != "" })
		if err != nil {
			return err
		}
		res.TakeoverChange = managerChange(base, change.ro)
		return nil
	})
	if err != nil {
		return rec, err
	}
	res.TakeoverSeconds = round3(change.at.Sub(killed).Seconds())
	select {
	case t := <-acquired:
		res.LeaderAcquiredSeconds = num(round3(t.Sub(killed).Seconds()))
	case <-time.After(5 * time.Second):
		r.logf("    warning: %s never logged %q", standby.manager.name, leaderLine)
	}
	r.logf("    takeover after %.3fs (%s); %s", res.TakeoverSeconds, res.TakeoverChange, describe(change.ro))

	done, err := r.untilCompleted(w, 0, r.timeout(5*time.Minute+time.Duration(r.o.batches)*perBatch))
	if err != nil {
		return rec, err
	}
	c := done.ro.Status.Counts
	res.FinalCounts = c
	res.CountsExact = int(c.Targeted) == r.o.agents && int(c.Applied) == r.o.agents
	res.FailoverTotalSeconds = round3(done.at.Sub(created).Seconds())
	rec.FailoverResult = res
	return rec, nil
}

// managerChange names what differs between two states in the fields only a manager writes
// that the takeover watches: status.currentBatch and status.counts; "" when neither does.
func managerChange(before, after *fleetv1alpha1.Rollout) string {
	var what []string
	if before == nil || !equality.Semantic.DeepEqual(before.Status.CurrentBatch, after.Status.CurrentBatch) {
		what = append(what, "currentBatch")
	}
	if before == nil || before.Status.Counts != after.Status.Counts {
		what = append(what, "counts")
	}
	return strings.Join(what, "+")
}
