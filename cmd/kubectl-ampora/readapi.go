package main

import (
	"context"
	"fmt"

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
	rc := readapi.New(cfg)
	live := readapi.LiveOnly(leases, o.now())
	if len(o.readAPIURLs) > 0 {
		live = nil
		for _, u := range o.readAPIURLs {
			live = append(live, replicaLease{Name: u, URL: u})
		}
	} else if len(live) > 0 && rc.Token != "" {
		// The URLs come from Leases: the token goes only to the sidecars' own Pods.
		allowed, err := o.replicaAddresses(ctx)
		if err != nil {
			return agentsResult{Problems: []string{err.Error()}}, nil
		}
		rc.Allowed = allowed.Check
	}
	return rc.RolloutAgents(ctx, live, ro.Namespace, ro.Name, state), nil
}

// replicaAddresses lists the read-API addresses the user's token may be sent to: with
// --replica-address-check=pod, the Pod IPs of the running Pods of --replica-service-account in
// the operator namespace.
func (o *globalOptions) replicaAddresses(ctx context.Context) (*readapi.Addresses, error) {
	ns, err := o.operatorNS()
	if err != nil {
		return nil, err
	}
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	check := readapi.AddressCheck{Mode: o.addressCheck, Namespace: ns, ServiceAccounts: o.replicaServiceAccounts}
	a, err := check.Addresses(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%w (the sidecars' Lease URLs are asked only once their Pods are seen: allow list on pods there, or name the replicas with --read-api-url)", err)
	}
	return a, nil
}
