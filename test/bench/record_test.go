package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestRecordJSON(t *testing.T) {
	r := newRecord("rollout", 300, 2, "ws", t0)
	r.Batches = 3
	r.RolloutResult = &RolloutResult{Plan: []int32{100, 100, 100}, Applied: 300, TotalSeconds: 2.9,
		AppliesPerMinute: 6206.9, StatusLagP50Ms: num(1073.3), StatusLagPerBatchMs: []*float64{num(1), nil}}
	b, err := r.marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "agents", "replicas", "transport", "cores", "memory_bytes", "go_version", "date",
		"total_seconds", "applies_per_minute", "status_lag_p50_ms", "status_lag_p99_ms", "apiserver_writes_per_second", "manager_rss_bytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	for _, k := range []string{"connect_seconds", "takeover_seconds", "counts_exact"} {
		if _, ok := m[k]; ok {
			t.Errorf("a rollout record has %q", k)
		}
	}
	if m["date"] != "2026-01-01T00:00:00Z" || m["status_lag_p99_ms"] != nil {
		t.Errorf("date %v, p99 %v", m["date"], m["status_lag_p99_ms"])
	}
	if strings.Contains(string(b), "\n") {
		t.Error("the record spans several lines")
	}

	f := newRecord("failover", 200, 2, "ws", t0)
	f.FailoverResult = &FailoverResult{CountsExact: false, FinalCounts: fleetv1alpha1.AgentCounts{Targeted: 200, Applied: 199}}
	b, _ = f.marshal()
	if !strings.Contains(string(b), `"counts_exact":false`) || !strings.Contains(string(b), `"final_counts":{"targeted":200,"applied":199}`) {
		t.Errorf("failover record: %s", b)
	}
}

func TestAppendAndReadRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.jsonl")
	if recs, err := readRecords(path); err != nil || recs != nil {
		t.Fatalf("missing file: %v, %v", recs, err)
	}
	c := newRecord("connect", 300, 2, "ws", t0)
	c.ConnectResult = &ConnectResult{AgentsConnected: 300, SidecarRSSBytes: []uint64{1, 2}}
	ro := newRecord("rollout", 300, 2, "http", t0)
	ro.RolloutResult = &RolloutResult{AppliesPerMinute: 42}
	for _, r := range []Record{c, ro} {
		if err := appendRecord(path, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ConnectResult == nil || got[0].RolloutResult != nil || got[1].AppliesPerMinute != 42 || got[1].Transport != "http" {
		t.Fatalf("read back %+v", got)
	}
	if err := os.WriteFile(path, []byte("{not json}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readRecords(path); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("a bad line: %v", err)
	}
}

// jsonKeys lists the JSON keys of a record's fields, embedded results included.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			keys = append(keys, jsonKeys(f.Type.Elem())...)
			continue
		}
		keys = append(keys, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	return keys
}

// Every key is defined once in fieldHelp and in README.md, and no definition is left over.
func TestEveryKeyIsDocumented(t *testing.T) {
	keys := jsonKeys(reflect.TypeFor[Record]())
	help := map[string]bool{}
	for _, f := range fieldHelp {
		if help[f.key] {
			t.Errorf("%s defined twice", f.key)
		}
		help[f.key] = true
	}
	seen := map[string]bool{}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("two fields share the key %s (encoding/json would drop both)", k)
		}
		seen[k] = true
		if !help[k] {
			t.Errorf("%s has no definition in fieldHelp", k)
		}
		if !strings.Contains(string(readme), "`"+k+"`") {
			t.Errorf("README.md does not define `%s`", k)
		}
	}
	for k := range help {
		if !seen[k] {
			t.Errorf("fieldHelp defines %s, which no field has", k)
		}
	}
}
