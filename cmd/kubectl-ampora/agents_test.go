package main

import (
	"bytes"
	"testing"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestParseState(t *testing.T) {
	tests := []struct {
		in      string
		want    fleetv1alpha1.AgentState
		wantErr bool
	}{
		{"", "", false},
		{"failed", fleetv1alpha1.AgentFailed, false},
		{"FAILED", fleetv1alpha1.AgentFailed, false},
		{"Failed", fleetv1alpha1.AgentFailed, false},
		{"timedout", fleetv1alpha1.AgentTimedOut, false},
		{"TimedOut", fleetv1alpha1.AgentTimedOut, false},
		{"timed-out", fleetv1alpha1.AgentTimedOut, false},
		{"timed_out", fleetv1alpha1.AgentTimedOut, false},
		{"unverifiable", fleetv1alpha1.AgentUnverifiable, false},
		{"pending", fleetv1alpha1.AgentPending, false},
		{"broken", "", true},
		{"fail", "", true},
	}
	for _, tt := range tests {
		got, err := parseState(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseState(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := parseState("broken"); err == nil || err.Error() != `unknown state "broken": use one of Pending, Applying, Applied, Unhealthy, Failed, Disconnected, TimedOut, Incompatible, Denied, Unverifiable` {
		t.Errorf("parseState error = %v", err)
	}
}

func TestRenderAgents(t *testing.T) {
	tests := []struct {
		name   string
		agents []agentInfo
		want   string
	}{
		{
			name: "failed agents with their messages",
			agents: []agentInfo{
				failedAgent("0190f3c2-0000-7000-8000-000000000001", "0.148.0", `exporter "otlp": connection refused`),
				failedAgent("0190f3c2-0000-7000-8000-000000000012", "0.149.0", "line one\nline   two"),
			},
			want: `INSTANCE UID                          STATE   SERVICE  VERSION  HOST     REPLICA   CONNECTED  MESSAGE
0190f3c2-0000-7000-8000-000000000001  Failed  otelcol  0.148.0  host-01  ampora-a  yes        exporter "otlp": connection refused
0190f3c2-0000-7000-8000-000000000012  Failed  otelcol  0.149.0  host-12  ampora-a  yes        line one line two
`,
		},
		{
			name:   "an agent with little to show",
			agents: []agentInfo{{InstanceUID: "0190f3c2-0000-7000-8000-000000000003"}},
			want: `INSTANCE UID                          STATE  SERVICE  VERSION  HOST  REPLICA  CONNECTED  MESSAGE
0190f3c2-0000-7000-8000-000000000003  -      -        -        -     -        no         -
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			renderAgents(&b, tt.agents)
			if got := b.String(); got != tt.want {
				t.Errorf("renderAgents:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
