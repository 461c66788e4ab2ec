package fleet

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-telemetry/opamp-go/protobufs"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/gates"
	"github.com/ampora-io/ampora/internal/revision"
	"github.com/ampora-io/ampora/internal/selector"
)

// ConfigRef is a config revision ready to push.
type ConfigRef struct {
	Hash   string
	Body   []byte
	Remote *protobufs.AgentRemoteConfig
}

// NewConfigRef is the revision of body, whose hash is hash, as a remote config to offer.
func NewConfigRef(hash string, body []byte) *ConfigRef {
	raw, _ := HexDecode(hash)
	return &ConfigRef{Hash: hash, Body: body, Remote: &protobufs.AgentRemoteConfig{
		Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			"": {Body: body, ContentType: "text/yaml"},
		}},
		ConfigHash: raw,
	}}
}

// Withdrawal is the empty remote config that returns an agent to its local configuration.
// It carries a hash of its own (that of an empty body), so that the agent's APPLIED for it
// can be told from its APPLIED for anything else.
var Withdrawal = func() *ConfigRef {
	hash := collectorconfig.Hash(nil)
	raw, _ := HexDecode(hash)
	return &ConfigRef{Hash: hash, Remote: &protobufs.AgentRemoteConfig{
		Config:     &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{}},
		ConfigHash: raw,
	}}
}()

// RolloutView is what the sidecar needs of a Rollout that drives a group.
type RolloutView struct {
	Name     string
	Phase    fleetv1alpha1.RolloutPhase
	Config   *ConfigRef // the rollout's revision
	Previous *ConfigRef // what rollback returns to (withdrawal when the group had none)
	// PreviousSelector bounds who rollback returns to previous (nil: no bound recorded); the
	// others have the remote config withdrawn.
	PreviousSelector *fleetv1alpha1.AgentScope
	// Selector is the group's Selector and exclusions as the rollout's approvals cover them
	// (nil: none recorded).
	Selector     *fleetv1alpha1.AgentScope
	FromRank     string
	ToRank       string
	Batch        int32
	BatchStart   time.Time
	Started      time.Time
	ApplyTimeout time.Duration
	// DisconnectGrace is how long an agent that lost its session after the push stays
	// applying before it counts as disconnected (status.effectiveGates.disconnectGrace).
	DisconnectGrace time.Duration
	RetryAt         time.Time
	// Required lists the component types the config uses, per kind, for the compatibility
	// check against agents' AvailableComponents.
	Required map[string][]string
}

// pushing says whether the sidecar offers the rollout's config to admitted agents.
func (r *RolloutView) pushing() bool {
	return r.Phase == fleetv1alpha1.RolloutProgressing || r.Phase == fleetv1alpha1.RolloutPaused
}

// GroupView is one AgentGroup with its active rollout and push policies.
type GroupView struct {
	Name     string
	Selector fleetv1alpha1.AgentSelector
	Excluded map[string]struct{}
	Current  *ConfigRef
	// CurrentSelector is the selector and exclusions current was rolled out under; an agent
	// that joins gets current only when they select it too (nil: only the group's).
	CurrentSelector *fleetv1alpha1.AgentScope
	// CurrentRequired lists the component types the current revision uses.
	CurrentRequired map[string][]string
	Rollout         *RolloutView
	// Policies are the push Policies in force: the active rollout's GatePolicy's, else the
	// namespace default's.
	Policies []fleetv1alpha1.PushPolicy
}

func (g *GroupView) matches(a *Agent) bool {
	if _, ok := g.Excluded[a.UID]; ok {
		return false
	}
	return selector.Matches(g.Selector, a.Attributes)
}

// inScope says whether a recorded scope selects the agent; nil, no bound recorded, selects all.
func inScope(sc *fleetv1alpha1.AgentScope, a *Agent) bool {
	return sc == nil || (!sc.Excludes(a.UID) && selector.Matches(sc.AgentSelector, a.Attributes))
}

// NSView is the sidecar's picture of one namespace.
type NSView struct {
	Groups []*GroupView
}

// World is the sidecar's picture of the objects that decide what agents should run, rebuilt
// per namespace from the informer cache whenever one of them changes.
type World struct {
	reader client.Reader
	log    logr.Logger
	mu     sync.RWMutex
	views  map[string]*NSView
	// parseRequired extracts the component types a config uses; nil skips the check.
	parseRequired func(body []byte) map[string][]string
}

// NewWorld returns an empty world that reads objects from reader.
func NewWorld(reader client.Reader, log logr.Logger, parseRequired func([]byte) map[string][]string) *World {
	return &World{reader: reader, log: log, views: map[string]*NSView{}, parseRequired: parseRequired}
}

// SetView replaces ns's view, as a rebuild from the API server would: for tests, which run
// a Server without one.
func (w *World) SetView(ns string, v *NSView) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.views[ns] = v
}

// View returns the current view of a namespace (nil when it has no groups).
func (w *World) View(ns string) *NSView {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.views[ns]
}

// Namespaces lists the namespaces that have a view.
func (w *World) Namespaces() []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]string, 0, len(w.views))
	for ns := range w.views {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// Rebuild reads the groups, rollouts, policies and revisions of ns and replaces its view.
func (w *World) Rebuild(ctx context.Context, ns string) error {
	var groups fleetv1alpha1.AgentGroupList
	if err := w.reader.List(ctx, &groups, client.InNamespace(ns)); err != nil {
		return err
	}
	if len(groups.Items) == 0 {
		w.mu.Lock()
		delete(w.views, ns)
		w.mu.Unlock()
		return nil
	}
	var rollouts fleetv1alpha1.RolloutList
	if err := w.reader.List(ctx, &rollouts, client.InNamespace(ns)); err != nil {
		return err
	}
	var policies fleetv1alpha1.GatePolicyList
	if err := w.reader.List(ctx, &policies, client.InNamespace(ns)); err != nil {
		return err
	}
	policyByName := map[string]*fleetv1alpha1.GatePolicy{}
	for i := range policies.Items {
		policyByName[policies.Items[i].Name] = &policies.Items[i]
	}

	cache := map[string]*ConfigRef{}
	load := func(rev string) *ConfigRef {
		if rev == "" {
			return nil
		}
		if c, ok := cache[rev]; ok {
			return c
		}
		// Looked up by the full hash and checked against it: a stored revision that holds
		// another config is never pushed.
		var c *ConfigRef
		d, err := revision.Get(ctx, w.reader, ns, rev)
		switch {
		case err == nil:
			c = NewConfigRef(d.ConfigHash, []byte(d.Config))
		case errors.Is(err, revision.ErrMismatch):
			w.log.Error(err, "not pushing from a stored revision that fails its hash check", "namespace", ns, "revision", revision.Short(rev))
		}
		cache[rev] = c
		return c
	}

	view := &NSView{}
	for i := range groups.Items {
		g := &groups.Items[i]
		gv := &GroupView{Name: g.Name, Selector: g.Spec.Selector, Excluded: map[string]struct{}{}}
		for _, uid := range g.Spec.ExcludedInstanceUIDs {
			gv.Excluded[uid] = struct{}{}
		}
		gv.Current = load(g.Status.CurrentConfigHash)
		gv.CurrentSelector = g.Status.CurrentSelector
		if gv.Current != nil && w.parseRequired != nil {
			gv.CurrentRequired = w.parseRequired(gv.Current.Body)
		}
		pol := policyByName[fleetv1alpha1.DefaultGatePolicyName]
		if r := activeRollout(rollouts.Items, g); r != nil {
			gv.Rollout = w.rolloutView(r, gv.Current, load)
			if gv.Rollout != nil && r.Spec.GatePolicyRef != nil {
				pol = policyByName[r.Spec.GatePolicyRef.Name]
			}
		}
		if pol != nil {
			gv.Policies = pol.InForce().PushPolicies
		}
		view.Groups = append(view.Groups, gv)
	}
	sort.Slice(view.Groups, func(i, j int) bool { return view.Groups[i].Name < view.Groups[j].Name })

	w.mu.Lock()
	w.views[ns] = view
	w.mu.Unlock()
	return nil
}

// activeRollout is the Rollout that drives g: the one its status names, as long as that
// Rollout still targets g, is served (RolloutPhase.Serving) and has a batch.
func activeRollout(rollouts []fleetv1alpha1.Rollout, g *fleetv1alpha1.AgentGroup) *fleetv1alpha1.Rollout {
	for i := range rollouts {
		r := &rollouts[i]
		if r.Name != g.Status.ActiveRollout || r.Spec.AgentGroup != g.Name {
			continue
		}
		if !r.Status.Phase.Serving() || r.Status.CurrentBatch == nil || r.Status.ConfigHash == "" {
			return nil
		}
		return r
	}
	return nil
}

func (w *World) rolloutView(r *fleetv1alpha1.Rollout, current *ConfigRef, load func(string) *ConfigRef) *RolloutView {
	cfg := load(r.Status.ConfigHash)
	if cfg == nil {
		// Not stored yet (or not validated): nothing can be pushed from it.
		return nil
	}
	rv := &RolloutView{
		Name:     r.Name,
		Phase:    r.Status.Phase,
		Config:   cfg,
		Selector: r.Status.GroupSelector,
		FromRank: r.Status.CurrentBatch.FromRank,
		ToRank:   r.Status.CurrentBatch.ToRank,
		Batch:    r.Status.CurrentBatch.Number,
	}
	if r.Status.CurrentBatch.StartedAt != nil {
		rv.BatchStart = r.Status.CurrentBatch.StartedAt.Time
	}
	if r.Status.StartedAt != nil {
		rv.Started = r.Status.StartedAt.Time
	}
	if r.Spec.ApplyTimeout != nil {
		rv.ApplyTimeout = r.Spec.ApplyTimeout.Duration
	}
	rv.DisconnectGrace = gates.DefaultDisconnectGrace
	if g := r.Status.EffectiveGates; g != nil && g.DisconnectGrace != nil {
		rv.DisconnectGrace = g.DisconnectGrace.Duration
	}
	if a := r.Status.LastAction; a != nil && a.Action == fleetv1alpha1.ActionRetry {
		rv.RetryAt = a.HandledAt.Time
	}
	rv.Previous = Withdrawal
	rv.PreviousSelector = r.Status.PreviousSelector
	if r.Status.PreviousConfigHash != "" {
		// nil when neither can be read and checked: a rollback then pushes nothing.
		rv.Previous = load(r.Status.PreviousConfigHash)
		if rv.Previous == nil {
			rv.Previous = current
		}
	}
	if w.parseRequired != nil {
		rv.Required = w.parseRequired(cfg.Body)
	}
	return rv
}
