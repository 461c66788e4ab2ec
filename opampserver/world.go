package opampserver

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
	"github.com/ampora-io/ampora/internal/revision"
	"github.com/ampora-io/ampora/internal/selector"
)

// configRef is a config revision ready to push.
type configRef struct {
	hash   string
	body   []byte
	remote *protobufs.AgentRemoteConfig
}

func newConfigRef(hash string, body []byte) *configRef {
	raw, _ := hexDecode(hash)
	return &configRef{hash: hash, body: body, remote: &protobufs.AgentRemoteConfig{
		Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			"": {Body: body, ContentType: "text/yaml"},
		}},
		ConfigHash: raw,
	}}
}

// withdrawal is the empty remote config that returns an agent to its local configuration.
// It carries a hash of its own (that of an empty body), so that the agent's APPLIED for it
// can be told from its APPLIED for anything else.
var withdrawal = func() *configRef {
	hash := collectorconfig.Hash(nil)
	raw, _ := hexDecode(hash)
	return &configRef{hash: hash, remote: &protobufs.AgentRemoteConfig{
		Config:     &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{}},
		ConfigHash: raw,
	}}
}()

// RolloutView is what the sidecar needs of a Rollout that drives a group.
type RolloutView struct {
	Name     string
	phase    fleetv1alpha1.RolloutPhase
	Config   *configRef // the rollout's revision
	previous *configRef // what rollback returns to (withdrawal when the group had none)
	// previousSelector bounds who rollback returns to previous (nil: no bound recorded); the
	// others have the remote config withdrawn.
	previousSelector *fleetv1alpha1.AgentScope
	// selector is the group's selector and exclusions as the rollout's approvals cover them
	// (nil: none recorded).
	selector     *fleetv1alpha1.AgentScope
	fromRank     string
	toRank       string
	Batch        int32
	BatchStart   time.Time
	started      time.Time
	applyTimeout time.Duration
	retryAt      time.Time
	// required lists the component types the config uses, per kind, for the compatibility
	// check against agents' AvailableComponents.
	required map[string][]string
}

// pushing says whether the sidecar offers the rollout's config to admitted agents.
func (r *RolloutView) pushing() bool {
	return r.phase == fleetv1alpha1.RolloutProgressing || r.phase == fleetv1alpha1.RolloutPaused
}

// groupView is one AgentGroup with its active rollout and push policies.
type groupView struct {
	name     string
	selector fleetv1alpha1.AgentSelector
	excluded map[string]struct{}
	current  *configRef
	// currentSelector is the selector and exclusions current was rolled out under; an agent
	// that joins gets current only when they select it too (nil: only the group's).
	currentSelector *fleetv1alpha1.AgentScope
	// currentRequired lists the component types the current revision uses.
	currentRequired map[string][]string
	rollout         *RolloutView
	// policies are the push policies in force: the active rollout's GatePolicy's, else the
	// namespace default's.
	policies []fleetv1alpha1.PushPolicy
}

func (g *groupView) matches(a *Agent) bool {
	if _, ok := g.excluded[a.UID]; ok {
		return false
	}
	return selector.Matches(g.selector, a.Attributes)
}

// inScope says whether a recorded scope selects the agent; nil, no bound recorded, selects all.
func inScope(sc *fleetv1alpha1.AgentScope, a *Agent) bool {
	return sc == nil || (!sc.Excludes(a.UID) && selector.Matches(sc.AgentSelector, a.Attributes))
}

// NSView is the sidecar's picture of one namespace.
type NSView struct {
	Groups []*groupView
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

	cache := map[string]*configRef{}
	load := func(rev string) *configRef {
		if rev == "" {
			return nil
		}
		if c, ok := cache[rev]; ok {
			return c
		}
		// Looked up by the full hash and checked against it: a stored revision that holds
		// another config is never pushed.
		var c *configRef
		d, err := revision.Get(ctx, w.reader, ns, rev)
		switch {
		case err == nil:
			c = newConfigRef(d.ConfigHash, []byte(d.Config))
		case errors.Is(err, revision.ErrMismatch):
			w.log.Error(err, "not pushing from a stored revision that fails its hash check", "namespace", ns, "revision", revision.Short(rev))
		}
		cache[rev] = c
		return c
	}

	view := &NSView{}
	for i := range groups.Items {
		g := &groups.Items[i]
		gv := &groupView{name: g.Name, selector: g.Spec.Selector, excluded: map[string]struct{}{}}
		for _, uid := range g.Spec.ExcludedInstanceUIDs {
			gv.excluded[uid] = struct{}{}
		}
		gv.current = load(g.Status.CurrentConfigHash)
		gv.currentSelector = g.Status.CurrentSelector
		if gv.current != nil && w.parseRequired != nil {
			gv.currentRequired = w.parseRequired(gv.current.body)
		}
		pol := policyByName[fleetv1alpha1.DefaultGatePolicyName]
		if r := activeRollout(rollouts.Items, g); r != nil {
			gv.rollout = w.rolloutView(r, gv.current, load)
			if gv.rollout != nil && r.Spec.GatePolicyRef != nil {
				pol = policyByName[r.Spec.GatePolicyRef.Name]
			}
		}
		if pol != nil {
			gv.policies = pol.InForce().PushPolicies
		}
		view.Groups = append(view.Groups, gv)
	}
	sort.Slice(view.Groups, func(i, j int) bool { return view.Groups[i].name < view.Groups[j].name })

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

func (w *World) rolloutView(r *fleetv1alpha1.Rollout, current *configRef, load func(string) *configRef) *RolloutView {
	cfg := load(r.Status.ConfigHash)
	if cfg == nil {
		// Not stored yet (or not validated): nothing can be pushed from it.
		return nil
	}
	rv := &RolloutView{
		Name:     r.Name,
		phase:    r.Status.Phase,
		Config:   cfg,
		selector: r.Status.GroupSelector,
		fromRank: r.Status.CurrentBatch.FromRank,
		toRank:   r.Status.CurrentBatch.ToRank,
		Batch:    r.Status.CurrentBatch.Number,
	}
	if r.Status.CurrentBatch.StartedAt != nil {
		rv.BatchStart = r.Status.CurrentBatch.StartedAt.Time
	}
	if r.Status.StartedAt != nil {
		rv.started = r.Status.StartedAt.Time
	}
	if r.Spec.ApplyTimeout != nil {
		rv.applyTimeout = r.Spec.ApplyTimeout.Duration
	}
	if a := r.Status.LastAction; a != nil && a.Action == fleetv1alpha1.ActionRetry {
		rv.retryAt = a.HandledAt.Time
	}
	rv.previous = withdrawal
	rv.previousSelector = r.Status.PreviousSelector
	if r.Status.PreviousConfigHash != "" {
		// nil when neither can be read and checked: a rollback then pushes nothing.
		rv.previous = load(r.Status.PreviousConfigHash)
		if rv.previous == nil {
			rv.previous = current
		}
	}
	if w.parseRequired != nil {
		rv.required = w.parseRequired(cfg.body)
	}
	return rv
}
