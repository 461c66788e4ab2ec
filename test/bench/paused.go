package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// paused: one Rollout paused by spec.paused before its first batch, over N connected agents.
// What a waiting Rollout costs while nothing happens: the leading manager's requests to the
// API server, and the API server's requests on Rollouts, per minute of the idle window.
func (r *run) paused(start time.Time) (Record, error) {
	rec := newRecord("paused", r.o.agents, r.o.replicas, r.o.transport, start)
	if err := r.up(r.o.replicas, leaseTimesFor(r.o.leaseDuration)); err != nil {
		return rec, err
	}
	if _, err := r.connectFleet(r.o.agents); err != nil {
		return rec, err
	}
	if err := r.waitGroup(r.o.agents); err != nil {
		return rec, err
	}
	ro := newRollout(batchSize(r.o.agents, 1))
	ro.Spec.Paused = true
	if err := r.cl.c.Create(r.ctx, ro); err != nil {
		return rec, fmt.Errorf("creating the Rollout: %w", err)
	}
	err := r.phase("the Rollout pauses", r.timeout(2*time.Minute), func(ctx context.Context, ph *phase) error {
		return poll(ctx, 200*time.Millisecond, func() (bool, error) {
			var cur fleetv1alpha1.Rollout
			if err := r.cl.c.Get(ctx, client.ObjectKeyFromObject(ro), &cur); err != nil {
				return false, err
			}
			ph.report("phase %s", cur.Status.Phase)
			return cur.Status.Phase == fleetv1alpha1.RolloutPaused, nil
		})
	})
	if err != nil {
		return rec, err
	}
	leader := r.leader()
	if leader == nil {
		return rec, fmt.Errorf("no manager leads")
	}
	// The pause's own writes land first.
	sleep(r.ctx, r.o.settle)
	m0, a0, err := r.requestCounts(leader)
	if err != nil {
		return rec, err
	}
	t0 := time.Now()
	sleep(r.ctx, r.o.idle)
	m1, a1, err := r.requestCounts(leader)
	if err != nil {
		return rec, err
	}
	window := time.Since(t0)
	minutes := window.Minutes()
	res := &PausedResult{PausedIdleSeconds: round3(window.Seconds()), APIServerRolloutRequestsByVerb: map[string]float64{}}
	res.ManagerRequestsPerMinute = round1((m1 - m0) / minutes)
	for k, v := range a1 {
		if d := v - a0[k]; d > 0 {
			res.APIServerRolloutRequestsByVerb[k] = round1(d / minutes)
			res.APIServerRolloutRequestsPerMinute += d / minutes
		}
	}
	res.APIServerRolloutRequestsPerMinute = round1(res.APIServerRolloutRequestsPerMinute)
	rec.PausedResult = res
	return rec, nil
}

// requestCounts reads the leading manager's client-side request count (every request it made
// to the API server, rest_client_requests_total) and the API server's count of requests on
// Rollouts, by "VERB subresource".
func (r *run) requestCounts(leader *replica) (manager float64, rollouts map[string]float64, err error) {
	samples, err := scrape(r.ctx, r.cl.metrics, leader.mgrMetrics+"/metrics")
	if err != nil {
		return 0, nil, fmt.Errorf("the manager's metrics: %w", err)
	}
	manager, _ = sum(samples, "rest_client_requests_total", func(map[string]string) bool { return true })
	samples, err = scrape(r.ctx, r.cl.metrics, strings.TrimRight(r.cl.cfg.Host, "/")+"/metrics")
	if err != nil {
		return 0, nil, fmt.Errorf("kube-apiserver metrics: %w", err)
	}
	rollouts = map[string]float64{}
	for _, s := range samples {
		if s.name == "apiserver_request_total" && s.labels["resource"] == "rollouts" {
			rollouts[strings.TrimSpace(s.labels["verb"]+" "+s.labels["subresource"])] += s.value
		}
	}
	return manager, rollouts, nil
}
