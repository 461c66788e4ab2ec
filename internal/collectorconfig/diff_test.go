package collectorconfig

import (
	"reflect"
	"testing"
)

const base = `
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 0.0.0.0:4317}
      http: {endpoint: 0.0.0.0:4318}
processors:
  batch: {timeout: 5s, send_batch_size: 8192}
exporters:
  otlp/backend:
    endpoint: backend:4317
    headers: {x-tenant: acme}
  debug:
connectors:
  forward:
extensions:
  health_check:
service:
  extensions: [health_check]
  telemetry:
    logs: {level: info}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/backend, forward]
    traces/debug:
      receivers: [forward]
      exporters: [debug]
`

func TestCompare(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     Diff
	}{
		{
			name: "same text",
			old:  base, new: base,
			want: Diff{},
		},
		{
			name: "formatting, key order, comments, quoting and anchors only",
			old:  base,
			new: `# the gateway
service:
  pipelines:
    traces/debug: {exporters: ["debug"], receivers: ["forward"]}
    traces:
      exporters: [forward, otlp/backend]   # order of exporters does not matter
      processors: [batch]
      receivers: [otlp]
  telemetry: {logs: {level: "info"}}
  extensions: ["health_check"]
extensions: {health_check: null}
connectors: {forward: ~}
exporters:
  debug: {}
  "otlp/backend": {headers: {"x-tenant": 'acme'}, endpoint: "backend:4317"}
processors:
  batch: &b {send_batch_size: 0x2000, timeout: 5s}
receivers:
  otlp:
    protocols: {http: {endpoint: "0.0.0.0:4318"}, grpc: {endpoint: 0.0.0.0:4317}}
`,
			want: Diff{},
		},
		{
			name: "everything added from nothing",
			new:  base,
			want: Diff{Added: []string{
				"connectors/forward", "exporters/debug", "exporters/otlp/backend", "extensions/health_check",
				"pipelines/traces", "pipelines/traces/debug", "processors/batch", "receivers/otlp",
				"service/extensions", "service/telemetry",
			}},
		},
		{
			name: "added, removed and changed",
			old:  base,
			new: `
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 0.0.0.0:4317}
  prometheus/self: {}
processors:
  batch: {timeout: 10s, send_batch_size: 8192}
exporters:
  otlp/backend:
    endpoint: backend:4317
    headers: {x-tenant: acme}
connectors:
  forward:
extensions:
  health_check:
service:
  extensions: [health_check]
  telemetry:
    logs: {level: info}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/backend]
    metrics:
      receivers: [prometheus/self]
      exporters: [otlp/backend]
`,
			want: Diff{
				Added:   []string{"pipelines/metrics", "receivers/prometheus/self"},
				Removed: []string{"exporters/debug", "pipelines/traces/debug"},
				Changed: []string{"pipelines/traces", "processors/batch", "receivers/otlp"},
			},
		},
		{
			name: "processor order matters",
			old:  "processors: {a: , b: }\nservice: {pipelines: {logs: {receivers: [r], processors: [a, b], exporters: [e]}}}\n",
			new:  "processors: {a: , b: }\nservice: {pipelines: {logs: {receivers: [r], processors: [b, a], exporters: [e]}}}\n",
			want: Diff{Changed: []string{"pipelines/logs"}},
		},
		{
			name: "service settings",
			old:  "service: {extensions: [a, b], telemetry: {metrics: {level: basic}}}\n",
			new:  "service: {extensions: [b, a], telemetry: {metrics: {level: basic}}, custom: 1}\n",
			want: Diff{Added: []string{"service/custom"}, Changed: []string{"service/extensions"}},
		},
		{
			name: "NaN and timestamps equal themselves",
			old:  "receivers: {r: {f: .nan, t: 2024-01-02T03:04:05+01:00, n: [1, 2.5, true, null]}}\n",
			new:  "receivers: {r: {f: .NaN, t: 2024-01-02T03:04:05+01:00, n: [1, 2.5, true, ~]}}\n",
			want: Diff{},
		},
		{
			name: "a scalar's type counts",
			old:  "receivers: {r: {port: 4317}}\n",
			new:  "receivers: {r: {port: \"4317\"}}\n",
			want: Diff{Changed: []string{"receivers/r"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var old *Config
			if tt.old != "" {
				old = mustParse(t, tt.old)
			}
			got := Compare(old, mustParse(t, tt.new))
			if !reflect.DeepEqual(normalizeDiff(got), normalizeDiff(tt.want)) {
				t.Fatalf("Compare() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCompareNilNew(t *testing.T) {
	got := Compare(mustParse(t, "receivers: {otlp: }\n"), nil)
	if want := (Diff{Removed: []string{"receivers/otlp"}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("Compare(cfg, nil) = %+v, want %+v", got, want)
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		diff Diff
		want string
	}{
		{Diff{}, "no changes"},
		{Diff{Added: []string{}}, "no changes"},
		{
			Diff{
				Added:   []string{"receivers/otlp"},
				Removed: []string{"exporters/debug"},
				Changed: []string{"pipelines/logs", "pipelines/traces"},
			},
			"+1 receiver, -1 exporter, ~2 pipelines",
		},
		{
			Diff{Added: []string{
				"connectors/forward", "exporters/debug", "exporters/otlp/backend", "extensions/health_check",
				"pipelines/traces", "processors/batch", "receivers/otlp", "service/extensions", "service/telemetry",
			}},
			"+1 receiver, +1 processor, +2 exporters, +1 connector, +1 extension, +1 pipeline, +2 service settings",
		},
		{
			Diff{Changed: []string{"service/telemetry", "processors/batch", "processors/filter/drop"}},
			"~2 processors, ~1 service setting",
		},
		{
			Diff{Removed: []string{"extensions/a", "extensions/b", "connectors/c"}, Changed: []string{"widgets/x"}},
			"-1 connector, -2 extensions, ~1 widgets",
		},
	}
	for _, tt := range tests {
		if got := tt.diff.Summary(); got != tt.want {
			t.Errorf("%+v.Summary() = %q, want %q", tt.diff, got, tt.want)
		}
		if got, want := tt.diff.Empty(), tt.want == "no changes"; got != want {
			t.Errorf("%+v.Empty() = %v, want %v", tt.diff, got, want)
		}
	}
}

func TestHash(t *testing.T) {
	if got, want := Hash([]byte("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Fatalf("Hash(\"\") = %s, want %s", got, want)
	}
	if Hash([]byte(base)) == Hash([]byte(base+"\n")) {
		t.Fatal("Hash ignores a byte of difference")
	}
}

func mustParse(t testing.TB, data string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	return cfg
}

// normalizeDiff makes empty and nil lists compare equal.
func normalizeDiff(d Diff) Diff {
	for _, l := range []*[]string{&d.Added, &d.Removed, &d.Changed} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return d
}
