package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		wantURLs     []string
		wantProfiles []string // names, in order, then the default's
		wantErr      string
	}{
		{
			name:         "defaults",
			args:         []string{"-url", "ws://127.0.0.1:4320/v1/opamp"},
			wantURLs:     []string{"ws://127.0.0.1:4320/v1/opamp"},
			wantProfiles: []string{"default"},
		},
		{
			name: "urls repeated and listed, profiles and a default",
			args: []string{"-url", "ws://a/v1/opamp,ws://b/v1/opamp", "-url", "ws://c/v1/opamp",
				"-profile", "name=failing,fraction=0.05,fail=unknown exporter otlp",
				"-profile", "fraction=10%,delay=200ms-2s",
				"-profile", "name=ok,delay=100ms"},
			wantURLs:     []string{"ws://a/v1/opamp", "ws://b/v1/opamp", "ws://c/v1/opamp"},
			wantProfiles: []string{"failing", "profile-2", "ok"},
		},
		{name: "no url", args: nil, wantErr: "-url is required"},
		{name: "two defaults", args: []string{"-url", "ws://a", "-profile", "name=a", "-profile", "name=b"}, wantErr: "only one profile"},
		{name: "same name", args: []string{"-url", "ws://a", "-profile", "name=a,fraction=0.1", "-profile", "name=a,fraction=0.1"}, wantErr: "another profile is named a"},
		{name: "too much", args: []string{"-url", "ws://a", "-profile", "fraction=0.6", "-profile", "fraction=0.5"}, wantErr: "add up to 1.1"},
		{name: "bad profile", args: []string{"-url", "ws://a", "-profile", "fraction=0.1,colour=red"}, wantErr: "colour: unknown key"},
		{name: "bad versions", args: []string{"-url", "ws://a", "-versions", "0.149.0"}, wantErr: "-versions"},
		{name: "source ips over http", args: []string{"-url", "http://a", "-http", "-source-ips", "2"}, wantErr: "WebSocket"},
		{name: "too many source ips", args: []string{"-url", "ws://a", "-source-ips", "255"}, wantErr: "between 0 and 254"},
		{name: "cert without key", args: []string{"-url", "wss://a", "-cert-file", "c.pem"}, wantErr: "go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(c.opts.URLs, " "); got != strings.Join(tt.wantURLs, " ") {
				t.Errorf("URLs %s, want %s", got, strings.Join(tt.wantURLs, " "))
			}
			var names []string
			for _, p := range c.opts.Profiles {
				names = append(names, p.Name)
			}
			names = append(names, c.opts.Default.Name)
			if got := strings.Join(names, " "); got != strings.Join(tt.wantProfiles, " ") {
				t.Errorf("profiles %s, want %s", got, strings.Join(tt.wantProfiles, " "))
			}
			if c.statusEvery != 5*time.Second || c.opts.Agents != 100 {
				t.Errorf("defaults changed: status every %v, %d agents", c.statusEvery, c.opts.Agents)
			}
		})
	}
}
