package readapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// TestAgentListRoundTrip keeps the wire names of the read API's page, which the sidecar
// encodes and the plugin and the dashboard decode, able to carry every field.
func TestAgentListRoundTrip(t *testing.T) {
	cert := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	healthy := false
	in := AgentList{Replica: "ampora-a", Continue: "u2", Items: []Agent{{
		InstanceUID: "u1", State: fleetv1alpha1.AgentFailed, Message: "boom", Rank: "00ff", InBatch: true,
		ServiceName: "otelcol", ServiceVersion: "0.148.0", HostName: "h1", Attributes: map[string]string{"os.type": "linux"},
		Healthy: &healthy, HealthError: "bad", StatusHash: "abcd", Status: "FAILED", StatusError: "boom", Replica: "ampora-a",
		Transport: "ws", Connected: true, ConnectedSince: &cert, DisconnectedAt: &cert, RecentDrops: 4, Flapping: true,
		CertNotAfter: &cert, ReportsStatus: true, AcceptsConfig: true,
	}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var got AgentList
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := AgentList{Replica: "ampora-a", Continue: "u2", Items: []Agent{{
		InstanceUID: "u1", State: fleetv1alpha1.AgentFailed, Message: "boom", Rank: "00ff", InBatch: true,
		ServiceName: "otelcol", ServiceVersion: "0.148.0", HostName: "h1", Attributes: map[string]string{"os.type": "linux"},
		Healthy: &healthy, HealthError: "bad", StatusHash: "abcd", Status: "FAILED", StatusError: "boom", Replica: "ampora-a",
		Transport: "ws", Connected: true, ConnectedSince: &cert, DisconnectedAt: &cert, RecentDrops: 4, Flapping: true,
		CertNotAfter: &cert, ReportsStatus: true, AcceptsConfig: true,
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

// fakeReplica serves a read API over agents, in pages of pageSize, for the token "t0k".
func fakeReplica(t *testing.T, name string, agents []Agent, pageSize int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0k" {
			http.Error(w, "token review failed", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/v1/namespaces/demo/rollouts/gw/agents" {
			http.NotFound(w, r)
			return
		}
		if got := r.URL.Query().Get("limit"); got != "5000" {
			t.Errorf("limit = %q", got)
		}
		state := r.URL.Query().Get("state")
		after := r.URL.Query().Get("continue")
		page := AgentList{Replica: name}
		for _, a := range agents {
			if (state == "" || string(a.State) == state) && a.InstanceUID > after {
				page.Items = append(page.Items, a)
			}
		}
		if len(page.Items) > pageSize {
			page.Items = page.Items[:pageSize]
			page.Continue = page.Items[pageSize-1].InstanceUID
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRolloutAgents(t *testing.T) {
	a := fakeReplica(t, "ampora-a", []Agent{
		failedAgent("u01", "0.148.0", "boom"), appliedAgent("u03"), failedAgent("u05", "0.148.0", "boom"),
		{InstanceUID: "u07", State: fleetv1alpha1.AgentDisconnected, Replica: "ampora-a"},
	}, 2)
	u02 := failedAgent("u02", "0.149.0", "bang")
	u02.Replica = "ampora-b"
	b := fakeReplica(t, "ampora-b", []Agent{
		u02, {InstanceUID: "u07", State: fleetv1alpha1.AgentApplied, Replica: "ampora-b", Connected: true},
	}, 2)
	api := &Client{Token: "t0k", HTTP: &http.Client{Timeout: 5 * time.Second}}
	replicas := []Replica{{Name: "ampora-a", URL: a.URL}, {Name: "ampora-b", URL: b.URL + "/"}}

	res := api.RolloutAgents(context.Background(), replicas, "demo", "gw", "")
	var uids []string
	for _, ag := range res.Agents {
		uids = append(uids, ag.InstanceUID+"@"+ag.Replica)
	}
	if got := strings.Join(uids, " "); got != "u01@ampora-a u02@ampora-b u03@ampora-a u05@ampora-a u07@ampora-b" {
		t.Errorf("agents = %s", got)
	}
	if res.Answered != 2 || len(res.Problems) != 0 {
		t.Errorf("answered %d, problems %v", res.Answered, res.Problems)
	}

	res = api.RolloutAgents(context.Background(), replicas, "demo", "gw", fleetv1alpha1.AgentFailed)
	uids = nil
	for _, ag := range res.Agents {
		uids = append(uids, ag.InstanceUID)
	}
	if got := strings.Join(uids, " "); got != "u01 u02 u05" {
		t.Errorf("failed agents = %s", got)
	}
}

func TestRolloutAgentsProblems(t *testing.T) {
	good := fakeReplica(t, "ampora-a", []Agent{appliedAgent("u01")}, 10)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	tests := []struct {
		name     string
		api      *Client
		replicas []Replica
		answered int
		problems []string
	}{
		{"no token", &Client{NoToken: "the kubeconfig user has no bearer token"}, []Replica{{Name: "a", URL: good.URL}}, 0,
			[]string{"the kubeconfig user has no bearer token"}},
		{"no replica", &Client{Token: "t0k"}, nil, 0, []string{"no live OpAMP sidecar replica to ask"}},
		{"a wrong token", &Client{Token: "nope", HTTP: http.DefaultClient}, []Replica{{Name: "a", URL: good.URL}}, 0,
			[]string{"replica a (" + good.URL + "): answered 401 Unauthorized: token review failed"}},
		{"no URL, an unreachable replica and a good one", &Client{Token: "t0k", HTTP: http.DefaultClient},
			[]Replica{{Name: "x"}, {Name: "d", URL: deadURL}, {Name: "a", URL: good.URL}}, 1,
			[]string{"replica x publishes no read-API URL on its Lease", "replica d (" + deadURL + "): unreachable: dial tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.api.RolloutAgents(context.Background(), tt.replicas, "demo", "gw", "")
			if res.Answered != tt.answered || len(res.Problems) != len(tt.problems) {
				t.Fatalf("answered %d, problems %q; want %d, %q", res.Answered, res.Problems, tt.answered, tt.problems)
			}
			for i, p := range tt.problems {
				if !strings.HasPrefix(res.Problems[i], p) {
					t.Errorf("problem %q, want prefix %q", res.Problems[i], p)
				}
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		cfg            rest.Config
		token, noToken string
	}{
		{"token", rest.Config{BearerToken: "abc", BearerTokenFile: file}, "abc", ""},
		{"token file", rest.Config{BearerTokenFile: file}, "from-file", ""},
		{"empty token file", rest.Config{BearerTokenFile: empty}, "", "the kubeconfig user's token file " + empty + " is empty"},
		{"missing token file", rest.Config{BearerTokenFile: filepath.Join(dir, "missing")}, "", "cannot read the kubeconfig user's token file: "},
		{"client certificate", rest.Config{TLSClientConfig: rest.TLSClientConfig{CertData: []byte("x")}}, "",
			"the kubeconfig user has no bearer token (client certificates and exec plugins cannot be presented to the read API)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(&tt.cfg)
			if a.Token != tt.token || !strings.HasPrefix(a.NoToken, tt.noToken) || (tt.noToken == "") != (a.NoToken == "") {
				t.Errorf("token %q, noToken %q; want %q, %q", a.Token, a.NoToken, tt.token, tt.noToken)
			}
		})
	}
}

func failedAgent(uid, version, msg string) Agent {
	return Agent{InstanceUID: uid, State: fleetv1alpha1.AgentFailed, Message: msg, ServiceName: "otelcol",
		ServiceVersion: version, HostName: "host-" + uid[len(uid)-2:], Replica: "ampora-a", Connected: true, AcceptsConfig: true, ReportsStatus: true}
}

func appliedAgent(uid string) Agent {
	return Agent{InstanceUID: uid, State: fleetv1alpha1.AgentApplied, ServiceName: "otelcol", ServiceVersion: "0.149.0",
		HostName: "host-" + uid[len(uid)-2:], Replica: "ampora-a", Connected: true, AcceptsConfig: true, ReportsStatus: true}
}

// TestRolloutAgentsBounds: a replica's answer is read up to a bound, and a continue token that
// does not move forward ends it, whatever the replica sends.
func TestRolloutAgentsBounds(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		want    string // a problem's substring; "" for an answer
		agents  int
	}{
		{"a page larger than the bound", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"replica":"r","items":[{"instanceUID":"` + strings.Repeat("u", MaxAnswerBytes) + `"}]}`))
		}, "answer too large", 0},
		{"a continue token that stays", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"replica":"r","items":[{"instanceUID":"u1"}],"continue":"u1"}`))
		}, "", 1},
		{"a continue token that goes back", func(w http.ResponseWriter, r *http.Request) {
			cont := "u5"
			if r.URL.Query().Get("continue") == "u5" {
				cont = "u0"
			}
			_, _ = w.Write([]byte(`{"replica":"r","items":[{"instanceUID":"` + cont + `x"}],"continue":"` + cont + `"}`))
		}, "", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			api := &Client{Token: "t0k", HTTP: srv.Client()}
			res := api.RolloutAgents(context.Background(), []Replica{{Name: "r", URL: srv.URL}}, "demo", "gw", "")
			if tt.want != "" {
				if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], tt.want) {
					t.Fatalf("problems %q, want one with %q", res.Problems, tt.want)
				}
				return
			}
			if len(res.Problems) != 0 || len(res.Agents) != tt.agents {
				t.Fatalf("%d agents, problems %q; want %d agents", len(res.Agents), res.Problems, tt.agents)
			}
		})
	}
}
