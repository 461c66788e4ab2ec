package main

import (
	"context"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
)

// The read API's view of agents and replicas, shared with the dashboard.
type (
	agentInfo    = readapi.Agent
	agentsResult = readapi.Result
	replicaLease = readapi.Replica
)

// agentsOf finds the live replicas (or the --read-api-url overrides) and asks them for the
// Rollout's agents in state ("" for all).
func (o *globalOptions) agentsOf(ctx context.Context, ro *fleetv1alpha1.Rollout, state fleetv1alpha1.AgentState) (agentsResult, error) {
	var leases []replicaLease
	if len(o.readAPIURLs) == 0 {
		var err error
		if leases, _, err = o.replicaLeases(ctx); err != nil {
			return agentsResult{Problems: []string{"cannot list the sidecar Leases: " + err.Error()}}, nil
		}
	}
	return o.agentsFrom(ctx, ro, leases, state)
}

// agentsFrom asks the live replicas among leases, or the --read-api-url overrides, for the
// Rollout's agents in state.
func (o *globalOptions) agentsFrom(ctx context.Context, ro *fleetv1alpha1.Rollout, leases []replicaLease, state fleetv1alpha1.AgentState) (agentsResult, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return agentsResult{}, err
	}
	live := readapi.LiveOnly(leases, o.now())
	if len(o.readAPIURLs) > 0 {
		live = nil
		for _, u := range o.readAPIURLs {
			live = append(live, replicaLease{Name: u, URL: u})
		}
	}
	return readapi.New(cfg).RolloutAgents(ctx, live, ro.Namespace, ro.Name, state), nil
}
