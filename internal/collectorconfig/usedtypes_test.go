package collectorconfig

import (
	"reflect"
	"testing"
)

func TestUsedTypes(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want map[Kind][]string
	}{
		{
			name: "no service",
			yaml: components,
			want: map[Kind][]string{},
		},
		{
			name: "defined but unused components are left out",
			yaml: components + `
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
`,
			want: map[Kind][]string{Receivers: {"otlp"}, Exporters: {"debug"}},
		},
		{
			name: "types, not IDs, sorted and without repeats",
			yaml: components + `
  forward/2:
service:
  extensions: [pprof, health_check]
  pipelines:
    traces:
      receivers: [otlp, prometheus/self]
      processors: [memory_limiter, batch]
      exporters: [otlp/backend, debug, forward]
    metrics:
      receivers: [forward]
      processors: [batch]
      exporters: [otlp/backend, forward/2]
    logs:
      receivers: [forward/2]
      exporters: [debug]
`,
			want: map[Kind][]string{
				Receivers:  {"otlp", "prometheus"},
				Processors: {"batch", "memory_limiter"},
				Exporters:  {"debug", "otlp"},
				Connectors: {"forward"},
				Extensions: {"health_check", "pprof"},
			},
		},
		{
			name: "connectors on both sides",
			yaml: components + `
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [spanmetrics]}
    metrics: {receivers: [spanmetrics], exporters: [otlp/backend]}
`,
			want: map[Kind][]string{Receivers: {"otlp"}, Exporters: {"otlp"}, Connectors: {"spanmetrics"}},
		},
		{
			name: "undefined references count under their list",
			yaml: `
service:
  extensions: [zpages]
  pipelines:
    logs: {receivers: [filelog], processors: [transform/x], exporters: [loki]}
`,
			want: map[Kind][]string{
				Receivers:  {"filelog"},
				Processors: {"transform"},
				Exporters:  {"loki"},
				Extensions: {"zpages"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.UsedTypes(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("UsedTypes() = %v, want %v", got, tt.want)
			}
		})
	}
}
