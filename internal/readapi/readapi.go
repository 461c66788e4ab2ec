// Package readapi asks the OpAMP sidecars' read API (docs/opamp.md, "The read API") about a
// rollout's agents, and finds the replicas from the Leases they publish its URL on. The kubectl
// plugin and its dashboard share it; it keeps its own copy of the wire types so that neither
// links the sidecar.
package readapi

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

// Agent is one agent as the read API shows it.
type Agent struct {
	InstanceUID    string                   `json:"instanceUID"`
	State          fleetv1alpha1.AgentState `json:"state,omitempty"`
	Message        string                   `json:"message,omitempty"`
	Rank           string                   `json:"rank,omitempty"`
	InBatch        bool                     `json:"inBatch,omitempty"`
	ServiceName    string                   `json:"serviceName,omitempty"`
	ServiceVersion string                   `json:"serviceVersion,omitempty"`
	HostName       string                   `json:"hostName,omitempty"`
	Attributes     map[string]string        `json:"attributes,omitempty"`
	Healthy        *bool                    `json:"healthy,omitempty"`
	HealthError    string                   `json:"healthError,omitempty"`
	StatusHash     string                   `json:"remoteConfigHash,omitempty"`
	Status         string                   `json:"remoteConfigStatus,omitempty"`
	StatusError    string                   `json:"remoteConfigError,omitempty"`
	Replica        string                   `json:"replica"`
	Transport      string                   `json:"transport,omitempty"`
	Connected      bool                     `json:"connected"`
	ConnectedSince *time.Time               `json:"connectedSince,omitempty"`
	DisconnectedAt *time.Time               `json:"disconnectedAt,omitempty"`
	RecentDrops    int                      `json:"recentDisconnects,omitempty"`
	Flapping       bool                     `json:"flapping,omitempty"`
	CertNotAfter   *time.Time               `json:"certNotAfter,omitempty"`
	ReportsStatus  bool                     `json:"reportsRemoteConfig"`
	AcceptsConfig  bool                     `json:"acceptsRemoteConfig"`
}

// AgentList is one page of the read API.
type AgentList struct {
	Replica  string  `json:"replica"`
	Items    []Agent `json:"items"`
	Continue string  `json:"continue,omitempty"`
}

// DefaultAudience is the audience of the tokens the operator's processes present to the
// sidecars' read API: the manager requests its own for it (--sidecar-token-audience), the
// sidecars mount a projected one for their peers (--peer-token-file). The API server refuses a
// token bound to it, so a sidecar cannot replay one there.
const DefaultAudience = "ampora-read-api"

// PageSize is the page size asked for: the read API's maximum.
const PageSize = 5000

// Bounds on the read API's answers. An agent may carry 128 attributes of 256 characters each,
// so a page of PageSize agents could take a gigabyte; the sidecar cuts a page at MaxPageBytes
// of encoded agents instead (at least one agent per page) and says where to continue.
const (
	// MaxPageBytes bounds the agents of one page, encoded.
	MaxPageBytes = 4 << 20
	// MaxAnswerBytes bounds the body a client reads for one page: MaxPageBytes and the page's
	// envelope, with room to spare.
	MaxAnswerBytes = MaxPageBytes + 64<<10
	// MaxReplicaBytes bounds what a client reads from one replica over all its pages.
	MaxReplicaBytes = 256 << 20
)

// ErrTooLarge is wrapped by the errors about an answer larger than the bounds above.
var ErrTooLarge = errors.New("answer too large")

// ReadBounded reads r up to limit bytes, and fails with ErrTooLarge when it holds more.
func ReadBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// Client asks the read API with the kubeconfig user's bearer token.
type Client struct {
	Token string
	// NoToken says why there is no token to present.
	NoToken string
	HTTP    *http.Client
	// Allowed says why a replica's URL must not be sent the token, or nil when it may; nil
	// allows every URL (the ones the user named).
	Allowed func(url string) error
}

// New takes the bearer token of the kubeconfig user: the token, else the token file.
func New(cfg *rest.Config) *Client {
	c := &Client{HTTP: HTTPClient(15 * time.Second)}
	switch {
	case cfg.BearerToken != "":
		c.Token = cfg.BearerToken
	case cfg.BearerTokenFile != "":
		b, err := os.ReadFile(cfg.BearerTokenFile)
		if err != nil {
			c.NoToken = "cannot read the kubeconfig user's token file: " + err.Error()
		} else if c.Token = strings.TrimSpace(string(b)); c.Token == "" {
			c.NoToken = "the kubeconfig user's token file " + cfg.BearerTokenFile + " is empty"
		}
	default:
		c.NoToken = "the kubeconfig user has no bearer token (client certificates and exec plugins cannot be presented to the read API)"
	}
	return c
}

// Result is what the replicas answered.
type Result struct {
	Agents []Agent
	// Answered counts the replicas that answered in full.
	Answered int
	// Problems says, per replica that did not answer, why.
	Problems []string
}

// RolloutAgents asks every replica for the agents admitted to ns/name, in state when it is
// set, and merges their pages: one entry per agent, ordered by instance UID.
func (c *Client) RolloutAgents(ctx context.Context, replicas []Replica, ns, name string, state fleetv1alpha1.AgentState) Result {
	var res Result
	if c.Token == "" {
		res.Problems = append(res.Problems, c.NoToken)
		return res
	}
	if len(replicas) == 0 {
		res.Problems = append(res.Problems, "no live OpAMP sidecar replica to ask")
		return res
	}
	byUID := map[string]Agent{}
	for _, r := range replicas {
		if r.URL == "" {
			res.Problems = append(res.Problems, fmt.Sprintf("replica %s publishes no read-API URL on its Lease", r.Name))
			continue
		}
		if c.Allowed != nil {
			if err := c.Allowed(r.URL); err != nil {
				res.Problems = append(res.Problems, fmt.Sprintf("replica %s: %v", r.Name, err))
				continue
			}
		}
		items, err := c.pages(ctx, r.URL, ns, name, state)
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

// pages reads every page of one replica's answer, at most MaxReplicaBytes of them. Instance
// UIDs order the pages, so a continue token that does not move forward ends the answer.
func (c *Client) pages(ctx context.Context, base, ns, name string, state fleetv1alpha1.AgentState) ([]Agent, error) {
	var out []Agent
	cont := ""
	read := 0
	for {
		q := url.Values{"limit": {fmt.Sprint(PageSize)}}
		if state != "" {
			q.Set("state", string(state))
		}
		if cont != "" {
			q.Set("continue", cont)
		}
		u := fmt.Sprintf("%s/v1/namespaces/%s/rollouts/%s/agents?%s", strings.TrimRight(base, "/"),
			url.PathEscape(ns), url.PathEscape(name), q.Encode())
		page, n, err := c.get(ctx, u)
		if err != nil {
			return nil, err
		}
		if read += n; read > MaxReplicaBytes {
			return nil, fmt.Errorf("%w: more than %d bytes over all pages; ask for agents in one state", ErrTooLarge, MaxReplicaBytes)
		}
		out = append(out, page.Items...)
		if page.Continue <= cont {
			return out, nil
		}
		cont = page.Continue
	}
}

// get reads one page, of at most MaxAnswerBytes, and says how many bytes it took.
func (c *Client) get(ctx context.Context, u string) (*AgentList, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("unreachable: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			return nil, 0, fmt.Errorf("answered %s", resp.Status)
		}
		return nil, 0, fmt.Errorf("answered %s: %s", resp.Status, msg)
	}
	body, err := ReadBounded(resp.Body, MaxAnswerBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("unreadable answer: %w", err)
	}
	var page AgentList
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, 0, fmt.Errorf("unreadable answer: %w", err)
	}
	return &page, len(body), nil
}
