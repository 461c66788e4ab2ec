package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-scenario", "connect, failover", "-agents", "300", "-idle", "10s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.scenarios, ",") != "connect,failover" || o.agents != 300 || o.idle != 10*time.Second || o.replicas != 2 {
		t.Errorf("options %+v", o)
	}
	if o, err := parseFlags([]string{"-scenario", "all"}, io.Discard); err != nil || len(o.scenarios) != 3 {
		t.Errorf("all: %v, %v", o, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "soak"}, "unknown scenario"},
		{[]string{"-scenario", "failover", "-replicas", "3"}, "2 replicas"},
		{[]string{"-agents", "40000", "-replicas", "2"}, "use -replicas 3"},
		{[]string{"-transport", "grpc"}, "want ws or http"},
		{[]string{"-agents-per-sim", "20000"}, "between 1 and 19000"},
		{[]string{"-apply-delay", "2s-1s"}, "LO-HI"},
		{[]string{"-agents", "0"}, "at least 1"},
	} {
		_, err := parseFlags(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseFlags(%q) = %v, want an error with %q", c.args, err, c.want)
		}
	}
	// Plain-HTTP agents keep a connection open each too.
	if _, err := parseFlags([]string{"-agents", "40000", "-transport", "http"}, io.Discard); err == nil {
		t.Error("40000 plain-HTTP agents on 2 replicas passed")
	}
	if _, err := parseFlags([]string{"-agents", "38000", "-replicas", "2"}, io.Discard); err != nil {
		t.Error(err)
	}
}

func TestLeaseTimesFor(t *testing.T) {
	if l := leaseTimesFor(30 * time.Second); l.renewDeadline != 20*time.Second || l.retryPeriod != 5*time.Second {
		t.Errorf("30s: %+v", l)
	}
	if l := leaseTimesFor(6 * time.Second); l.renewDeadline != 4*time.Second || l.retryPeriod != time.Second {
		t.Errorf("6s: %+v", l)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080/metrics", "ws://127.0.0.9:1/v1/opamp", "https://127.0.0.1:6443"} {
		if err := checkLoopbackURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://localhost:8080", "http://10.0.0.1/", "http://127.0.1.1/", "http://[::1]:80/", "http://example.com/"} {
		if err := checkLoopbackURL(u); err == nil {
			t.Errorf("%s passed", u)
		}
	}
	if _, err := loopbackDial(t.Context(), "tcp", "192.0.2.1:80"); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("loopbackDial to 192.0.2.1: %v", err)
	}
}

func TestManagerChange(t *testing.T) {
	base := rolloutWith(2, 10)
	if got := managerChange(base, rolloutWith(2, 10)); got != "" {
		t.Errorf("no change: %q", got)
	}
	if got := managerChange(base, rolloutWith(3, 10)); got != "currentBatch" {
		t.Errorf("batch: %q", got)
	}
	if got := managerChange(base, rolloutWith(3, 11)); got != "currentBatch+counts" {
		t.Errorf("both: %q", got)
	}
	other := rolloutWith(2, 10)
	other.Status.Replicas = append(other.Status.Replicas, other.Status.Replicas...)
	other.Status.Replicas[0].Counts.Applied = 99
	if got := managerChange(base, other); got != "" {
		t.Errorf("a replica's entry is not the manager's write: %q", got)
	}
}
