package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// agentInfo is one agent as the sidecars' read API shows it (docs/opamp.md, "The read API").
type agentInfo struct {
	InstanceUID    string                   `json:"instanceUID"`
	State          fleetv1alpha1.AgentState `json:"state,omitempty"`
	Message        string                   `json:"message,omitempty"`
	Rank           string                   `json:"rank,omitempty"`
	InBatch        bool                     `json:"inBatch,omitempty"`
	ServiceName    string                   `json:"serviceName,omitempty"`
	ServiceVersion string                   `json:"serviceVersion,omitempty"`
	HostName       string                   `json:"hostName,omitempty"`
	Healthy        *bool                    `json:"healthy,omitempty"`
	HealthError    string                   `json:"healthError,omitempty"`
	Status         string                   `json:"remoteConfigStatus,omitempty"`
	StatusError    string                   `json:"remoteConfigError,omitempty"`
	Replica        string                   `json:"replica"`
	Transport      string                   `json:"transport,omitempty"`
	Connected      bool                     `json:"connected"`
	DisconnectedAt *time.Time               `json:"disconnectedAt,omitempty"`
	RecentDrops    int                      `json:"recentDisconnects,omitempty"`
	Flapping       bool                     `json:"flapping,omitempty"`
	CertNotAfter   *time.Time               `json:"certNotAfter,omitempty"`
	ReportsStatus  bool                     `json:"reportsRemoteConfig"`
	AcceptsConfig  bool                     `json:"acceptsRemoteConfig"`
}

// agentList is one page of the read API.
type agentList struct {
	Replica  string      `json:"replica"`
	Items    []agentInfo `json:"items"`
	Continue string      `json:"continue,omitempty"`
}

// readAPIPage is the page size asked for: the read API's maximum.
const readAPIPage = 5000

// readAPI asks the sidecars' read API with the kubeconfig user's bearer token.
type readAPI struct {
	token string
	// noToken says why there is no token to present.
	noToken string
	http    *http.Client
}

// newReadAPI takes the bearer token of the kubeconfig user: the token, else the token file.
func newReadAPI(cfg *rest.Config) *readAPI {
	a := &readAPI{http: &http.Client{Timeout: 15 * time.Second}}
	switch {
	case cfg.BearerToken != "":
		a.token = cfg.BearerToken
	case cfg.BearerTokenFile != "":
		b, err := os.ReadFile(cfg.BearerTokenFile)
		if err != nil {
			a.noToken = "cannot read the kubeconfig user's token file: " + err.Error()
		} else if a.token = strings.TrimSpace(string(b)); a.token == "" {
			a.noToken = "the kubeconfig user's token file " + cfg.BearerTokenFile + " is empty"
		}
	default:
		a.noToken = "the kubeconfig user has no bearer token (client certificates and exec plugins cannot be presented to the read API)"
	}
	return a
}

// agentsResult is what the replicas answered.
type agentsResult struct {
	Agents []agentInfo
	// Answered counts the replicas that answered in full.
	Answered int
	// Problems says, per replica that did not answer, why.
	Problems []string
}

// rolloutAgents asks every replica for the agents admitted to ns/name, in state when it is
// set, and merges their pages: one entry per agent, ordered by instance UID.
func (a *readAPI) rolloutAgents(ctx context.Context, replicas []replicaLease, ns, name string, state fleetv1alpha1.AgentState) agentsResult {
	var res agentsResult
	if a.token == "" {
		res.Problems = append(res.Problems, a.noToken)
		return res
	}
	if len(replicas) == 0 {
		res.Problems = append(res.Problems, "no live OpAMP sidecar replica to ask")
		return res
	}
	byUID := map[string]agentInfo{}
	for _, r := range replicas {
		if r.URL == "" {
			res.Problems = append(res.Problems, fmt.Sprintf("replica %s publishes no read-API URL on its Lease", r.Name))
			continue
		}
		items, err := a.pages(ctx, r.URL, ns, name, state)
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("replica %s (%s): %v", r.Name, r.URL, err))
			continue
		}
		res.Answered++
		for _, it := range items {
			if prev, ok := byUID[it.InstanceUID]; ok && prev.Connected && !it.Connected {
				continue // an agent that moved: the replica that holds its session knows best
			}
			byUID[it.InstanceUID] = it
		}
	}
	for _, it := range byUID {
		res.Agents = append(res.Agents, it)
	}
	sort.Slice(res.Agents, func(i, j int) bool { return res.Agents[i].InstanceUID < res.Agents[j].InstanceUID })
	return res
}

// pages reads every page of one replica's answer.
func (a *readAPI) pages(ctx context.Context, base, ns, name string, state fleetv1alpha1.AgentState) ([]agentInfo, error) {
	var out []agentInfo
	cont := ""
	for {
		q := url.Values{"limit": {fmt.Sprint(readAPIPage)}}
		if state != "" {
			q.Set("state", string(state))
		}
		if cont != "" {
			q.Set("continue", cont)
		}
		u := fmt.Sprintf("%s/v1/namespaces/%s/rollouts/%s/agents?%s", strings.TrimRight(base, "/"),
			url.PathEscape(ns), url.PathEscape(name), q.Encode())
		page, err := a.get(ctx, u)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Continue == "" || page.Continue == cont {
			return out, nil
		}
		cont = page.Continue
	}
}

func (a *readAPI) get(ctx context.Context, u string) (*agentList, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("unreachable: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			return nil, fmt.Errorf("answered %s", resp.Status)
		}
		return nil, fmt.Errorf("answered %s: %s", resp.Status, msg)
	}
	var page agentList
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, fmt.Errorf("unreadable answer: %w", err)
	}
	return &page, nil
}

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
	var live []replicaLease
	if len(o.readAPIURLs) > 0 {
		for _, u := range o.readAPIURLs {
			live = append(live, replicaLease{Name: u, URL: u})
		}
	} else {
		now := o.now()
		for _, l := range leases {
			if l.live(now) {
				live = append(live, l)
			}
		}
	}
	return newReadAPI(cfg).rolloutAgents(ctx, live, ro.Namespace, ro.Name, state), nil
}
