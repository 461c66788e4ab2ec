package main

import (
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",group="fleet.ampora.io",resource="rollouts",scope="resource",subresource="status",verb="APPLY",version="v1alpha1"} 6
apiserver_request_total{code="200",resource="rollouts",subresource="status",verb="PATCH"} 87
apiserver_request_total{code="409",resource="rollouts",subresource="status",verb="PATCH"} 2 1700000000000
apiserver_request_total{code="200",resource="rollouts",subresource="",verb="GET"} 40
weird{path="a \"quoted\" \\ value, with comma",x="}"} 1.5e3

ampora_opamp_connected_agents 150
`
	samples, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 6 {
		t.Fatalf("got %d samples, want 6", len(samples))
	}
	if got := samples[4].labels["path"]; got != `a "quoted" \ value, with comma` {
		t.Errorf("escaped label = %q", got)
	}
	if samples[4].labels["x"] != "}" || samples[4].value != 1500 {
		t.Errorf("sample 4 = %+v", samples[4])
	}
	writes, _ := sum(samples, "apiserver_request_total", func(l map[string]string) bool {
		return l["resource"] == "rollouts" && l["subresource"] == "status" && statusWriteVerbs[l["verb"]]
	})
	if writes != 95 {
		t.Errorf("status writes = %v, want 95", writes)
	}
	if n, ok := sum(samples, "ampora_opamp_connected_agents", nil); !ok || n != 150 {
		t.Errorf("connected = %v, %v", n, ok)
	}
	if _, ok := sum(samples, "missing", nil); ok {
		t.Error("a missing metric was found")
	}
	for _, bad := range []string{"name", `name{a="b" 1`, `name{a=b} 1`, "name one"} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMetrics(%q): want an error", bad)
		}
	}
}

func TestStatusWritesMinus(t *testing.T) {
	before := statusWrites{"APPLY 200": 4, "PATCH 200": 10}
	after := statusWrites{"APPLY 200": 10, "PATCH 200": 10, "PATCH 409": 1}
	d := after.minus(before)
	if len(d) != 2 || d["APPLY 200"] != 6 || d["PATCH 409"] != 1 || d.total() != 7 {
		t.Errorf("minus = %v", d)
	}
}
