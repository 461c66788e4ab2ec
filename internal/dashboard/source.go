package dashboard

import (
	"context"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/readapi"
)

// Source is what the dashboard reads, with the user's own credentials.
type Source interface {
	// Rollouts lists the rollouts of namespace ns, or of every namespace when ns is empty.
	Rollouts(ctx context.Context, ns string) ([]fleetv1alpha1.Rollout, error)
	// Events lists the Events about the rollout.
	Events(ctx context.Context, ro *fleetv1alpha1.Rollout) ([]corev1.Event, error)
	// Agents asks the sidecars' read API for the rollout's agents in state ("" for all).
	Agents(ctx context.Context, ro *fleetv1alpha1.Rollout, state fleetv1alpha1.AgentState) (readapi.Result, error)
}

// KubeSource reads from the API server and the sidecars' read API.
type KubeSource struct {
	Client client.Reader
	// AgentsOf asks the read API; the kubectl plugin passes its own lookup, which honours
	// --operator-namespace and --read-api-url.
	AgentsOf func(ctx context.Context, ro *fleetv1alpha1.Rollout, state fleetv1alpha1.AgentState) (readapi.Result, error)
}

// Rollouts lists the rollouts in ns ("" for all namespaces).
func (k *KubeSource) Rollouts(ctx context.Context, ns string) ([]fleetv1alpha1.Rollout, error) {
	var list fleetv1alpha1.RolloutList
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := k.Client.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Events lists the core Events whose involved object is the rollout, by UID: kubectl describe
// shows the same, and the UID keeps out other kinds named Rollout and earlier rollouts of the
// same name.
func (k *KubeSource) Events(ctx context.Context, ro *fleetv1alpha1.Rollout) ([]corev1.Event, error) {
	var list corev1.EventList
	if err := k.Client.List(ctx, &list, client.InNamespace(ro.Namespace),
		client.MatchingFields{"involvedObject.uid": string(ro.UID)}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Agents asks the read API through AgentsOf.
func (k *KubeSource) Agents(ctx context.Context, ro *fleetv1alpha1.Rollout, state fleetv1alpha1.AgentState) (readapi.Result, error) {
	if k.AgentsOf == nil {
		return readapi.Result{Problems: []string{"no read-API client"}}, nil
	}
	return k.AgentsOf(ctx, ro, state)
}

// sortRollouts orders rollouts by namespace, then name.
func sortRollouts(rs []fleetv1alpha1.Rollout) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Namespace != rs[j].Namespace {
			return rs[i].Namespace < rs[j].Namespace
		}
		return rs[i].Name < rs[j].Name
	})
}
