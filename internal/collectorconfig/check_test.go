package collectorconfig

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// components defines one of everything the check cases wire together. It
// ends with the connectors, so that a case can append one.
const components = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
  prometheus/self:
    config:
      scrape_configs:
        - job_name: self
          static_configs:
            - targets: [localhost:8888]
processors:
  batch:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
exporters:
  otlp/backend:
    endpoint: backend:4317
  debug:
extensions:
  health_check:
  pprof:
connectors:
  forward:
  spanmetrics:
`

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the error message; empty for a valid config
	}{
		// Valid configs.
		{
			name: "minimal",
			yaml: `
receivers: {otlp: }
exporters: {debug: }
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
`,
		},
		{
			name: "every signal with processors, extensions and telemetry",
			yaml: components + `
service:
  extensions: [health_check, pprof]
  telemetry:
    logs: {level: info}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp/backend, debug]
    metrics:
      receivers: [otlp, prometheus/self]
      processors: [memory_limiter, batch]
      exporters: [otlp/backend]
    logs:
      receivers: [otlp]
      exporters: [debug]
    profiles:
      receivers: [otlp]
      exporters: [otlp/backend]
`,
		},
		{
			name: "forward connector joins two pipelines",
			yaml: components + `
service:
  pipelines:
    traces/in:
      receivers: [otlp]
      exporters: [forward]
    traces/out:
      receivers: [forward]
      processors: [batch]
      exporters: [otlp/backend]
`,
		},
		{
			name: "spanmetrics connector turns traces into metrics",
			yaml: components + `
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/backend, spanmetrics]
    metrics:
      receivers: [spanmetrics, prometheus/self]
      exporters: [otlp/backend]
`,
		},
		{
			name: "fan-in and fan-out through one connector",
			yaml: components + `
service:
  pipelines:
    traces/a: {receivers: [otlp], exporters: [forward]}
    traces/b: {receivers: [otlp], exporters: [forward]}
    traces/c: {receivers: [forward], exporters: [debug]}
    traces/d: {receivers: [forward], exporters: [otlp/backend]}
`,
		},
		{
			name: "anchors and merge keys",
			yaml: `
receivers:
  otlp: &otlp
    protocols: {grpc: {endpoint: 0.0.0.0:4317}}
  otlp/2:
    <<: *otlp
exporters:
  debug:
service:
  pipelines:
    traces: &pipe
      receivers: [otlp, otlp/2]
      exporters: [debug]
    logs:
      <<: *pipe
`,
		},
		{
			name: "sections without settings and spaces around IDs",
			yaml: `
receivers:
  "otlp / grpc":
processors:
exporters:
  debug:
service:
  pipelines:
    "traces / main":
      receivers: ["otlp/grpc"]
      processors:
      exporters: [" debug "]
`,
		},

		// Shape errors, reported by Parse.
		{
			name: "YAML syntax error",
			yaml: "receivers:\n  otlp:\n endpoint: 0.0.0.0:4317\n",
			want: "invalid YAML: line 2: did not find expected key",
		},
		{
			name: "duplicate YAML key",
			yaml: "receivers:\n  otlp:\n  otlp:\n",
			want: `invalid YAML: line 3: mapping key "otlp" already defined at line 2`,
		},
		{
			name: "misspelt top-level key",
			yaml: "recievers:\n  otlp:\n",
			want: `unknown top-level key "recievers" (did you mean "receivers"?)`,
		},
		{
			name: "unknown top-level key",
			yaml: "telemetry:\n  logs: {}\n",
			want: `unknown top-level key "telemetry"`,
		},
		{
			name: "section is a list",
			yaml: "receivers: [otlp]\n",
			want: "receivers: must be a map of component IDs to settings, not a list",
		},
		{
			name: "malformed component IDs",
			yaml: "exporters:\n  otlp/:\n  1otlp:\n",
			want: `exporters: invalid component ID "1otlp": the type must start with a letter and hold at most 63 letters, digits and underscores; ` +
				`exporters: invalid component ID "otlp/": the name after "/" is empty`,
		},
		{
			name: "two keys for one component",
			yaml: "receivers:\n  otlp/a:\n  otlp / a:\n",
			want: `receivers: "otlp / a" and "otlp/a" are the same component "otlp/a"`,
		},
		{
			name: "unknown pipeline signal",
			yaml: components + "service:\n  pipelines:\n    trace:\n      receivers: [otlp]\n      exporters: [debug]\n",
			want: `service: pipelines: invalid pipeline ID "trace": the type must be traces, metrics, logs or profiles`,
		},
		{
			name: "misspelt pipeline key",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receiver: [otlp]\n      exporters: [debug]\n",
			want: `service: pipeline "traces": unknown key "receiver" (did you mean "receivers"?)`,
		},
		{
			name: "pipeline list written as a string",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receivers: otlp\n      exporters: [debug]\n",
			want: `service: pipeline "traces": receivers: must be a list of component IDs, not a string`,
		},
		{
			name: "malformed ID in a pipeline",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [\"otlp/a|b\"]\n",
			want: `service: pipeline "traces": exporters: invalid component ID "otlp/a|b": the name contains the symbol '|', which the collector does not allow`,
		},
		{
			name: "service is a string",
			yaml: components + "service: pipelines\n",
			want: "service: must be a map, not a string",
		},
		{
			name: "document is a list",
			yaml: "- receivers\n",
			want: "config must be a map of sections, not a list",
		},
		{
			name: "two documents",
			yaml: "receivers: {otlp: }\n---\nexporters: {debug: }\n",
			want: "config holds more than one YAML document",
		},
		{
			name: "alias to its own anchor",
			yaml: "receivers: &r\n  otlp: *r\n",
			want: `invalid YAML: line 2: anchor "r" is used inside its own value`,
		},

		// Wiring errors, reported by Check.
		{
			name: "empty config",
			yaml: "",
			want: "service: section is missing",
		},
		{
			name: "no service",
			yaml: components,
			want: "service: section is missing",
		},
		{
			name: "service without pipelines",
			yaml: components + "service:\n  extensions: [health_check]\n",
			want: "service: has no pipelines",
		},
		{
			name: "pipeline without receivers",
			yaml: components + "service:\n  pipelines:\n    metrics:\n      exporters: [debug]\n",
			want: `pipeline "metrics": has no receivers`,
		},
		{
			name: "pipeline without exporters",
			yaml: components + "service:\n  pipelines:\n    logs/edge:\n      receivers: [otlp]\n      exporters: []\n",
			want: `pipeline "logs/edge": has no exporters`,
		},
		{
			name: "empty pipeline",
			yaml: components + "service:\n  pipelines:\n    traces:\n",
			want: `pipeline "traces": has no exporters; pipeline "traces": has no receivers`,
		},
		{
			name: "undefined exporter",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/backend2]\n",
			want: `pipeline "traces": exporter "otlp/backend2" is not defined`,
		},
		{
			name: "undefined receiver defined as an exporter",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receivers: [debug]\n      exporters: [otlp/backend]\n",
			want: `pipeline "traces": receiver "debug" is not defined (it is defined as an exporter)`,
		},
		{
			name: "undefined processor",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch, attributes/strip]\n      exporters: [debug]\n",
			want: `pipeline "traces": processor "attributes/strip" is not defined`,
		},
		{
			name: "processor listed twice",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch, memory_limiter, batch]\n      exporters: [debug]\n",
			want: `pipeline "traces": processor "batch" is listed twice`,
		},
		{
			name: "exporter listed three times",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug, debug, \"debug \"]\n",
			want: `pipeline "traces": exporter "debug" is listed 3 times`,
		},
		{
			name: "connector used only as an exporter",
			yaml: components + "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/backend, forward]\n",
			want: `connector "forward" is used as an exporter in pipeline "traces" but as a receiver in no pipeline`,
		},
		{
			name: "connector used only as a receiver",
			yaml: components + `
service:
  pipelines:
    metrics/a: {receivers: [spanmetrics], exporters: [debug]}
    metrics/b: {receivers: [spanmetrics, otlp], exporters: [debug]}
`,
			want: `connector "spanmetrics" is used as a receiver in pipelines "metrics/a" and "metrics/b" but as an exporter in no pipeline`,
		},
		{
			name: "connector sharing an exporter's ID",
			yaml: components + `
  debug:
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
`,
			want: `connector "debug" has the same ID as an exporter, so pipelines cannot tell them apart; rename one of them; ` +
				`connector "debug" is used as an exporter in pipeline "traces" but as a receiver in no pipeline`,
		},
		{
			name: "pipelines in a cycle",
			yaml: components + `
  forward/back:
service:
  pipelines:
    traces/a: {receivers: [otlp, forward/back], exporters: [forward]}
    traces/b: {receivers: [forward], exporters: [forward/back]}
`,
			want: `pipelines form a cycle: "traces/a" -> connector "forward" -> "traces/b" -> connector "forward/back" -> "traces/a"`,
		},
		{
			name: "pipeline feeding itself",
			yaml: components + "service:\n  pipelines:\n    logs:\n      receivers: [otlp, forward]\n      exporters: [forward, debug]\n",
			want: `pipelines form a cycle: "logs" -> connector "forward" -> "logs"`,
		},
		{
			name: "undefined service extension",
			yaml: components + "service:\n  extensions: [pprof, zpages]\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug]}\n",
			want: `service: extension "zpages" is not defined`,
		},
		{
			name: "several problems, in order",
			yaml: components + `
service:
  extensions: [health_check/v2, otlp]
  pipelines:
    traces:
      receivers: [otlp, jaeger]
      processors: [batch, batch]
      exporters: [spanmetrics]
    metrics:
      exporters: [debug]
`,
			want: `service: extension "health_check/v2" is not defined; ` +
				`service: extension "otlp" is not defined (it is defined as a receiver); ` +
				`pipeline "metrics": has no receivers; ` +
				`pipeline "traces": processor "batch" is listed twice; ` +
				`pipeline "traces": receiver "jaeger" is not defined; ` +
				`connector "spanmetrics" is used as an exporter in pipeline "traces" but as a receiver in no pipeline`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate([]byte(tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want no error", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want %q", tt.want)
			case err != nil && err.Error() != tt.want:
				t.Fatalf("Validate() error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	data := []byte("receivers:\n  otlp:\n    x: \"" + strings.Repeat("a", MaxBytes) + "\"\n")
	_, err := Parse(data)
	want := "config is 262173 bytes; the limit is 262144"
	if err == nil || err.Error() != want {
		t.Fatalf("Parse() = %v, want %q", err, want)
	}
}

func TestParseLimits(t *testing.T) {
	// Each alias level doubles the expansion: 2^30 values from a few lines.
	var bomb strings.Builder
	bomb.WriteString("a0: &a0 [x, x]\n")
	for i := 1; i <= 30; i++ {
		bomb.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [*a" + strconv.Itoa(i-1) + ", *a" + strconv.Itoa(i-1) + "]\n")
	}
	deep := strings.Repeat("[", 150) + strings.Repeat("]", 150)
	var wide strings.Builder
	wide.WriteString("receivers:\n  otlp:\n    m: {")
	for i := range maxMappingKeys + 1 {
		wide.WriteString("k" + strconv.Itoa(i) + ": 1, ")
	}
	wide.WriteString("}\n")
	// Each alias of a wide mapping repeats the YAML library's pairwise
	// duplicate-key check.
	var repeated strings.Builder
	repeated.WriteString("m: &m {")
	for i := range 2000 {
		repeated.WriteString("k" + strconv.Itoa(i) + ": 1, ")
	}
	repeated.WriteString("}\nl: [*m, *m, *m, *m, *m, *m, *m, *m, *m, *m]\n")

	tests := []struct {
		name, yaml, want string
	}{
		{"alias bomb", bomb.String(), "config expands to more than 262144 YAML values once aliases are resolved"},
		{"deep nesting", "receivers: " + deep + "\n", "config nests more than 100 levels deep"},
		{"deep through aliases", "x: &x " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\ny: " + strings.Repeat("[", 60) + "*x" + strings.Repeat("]", 60) + "\n", "config nests more than 100 levels deep"},
		{"wide mapping", wide.String(), "invalid YAML: line 3: a mapping has 4097 keys; the limit is 4096"},
		{"wide mapping repeated", repeated.String(), "config has too many keys in large mappings to check them for duplicates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Parse() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckProblems(t *testing.T) {
	cfg, err := Parse([]byte(components + `
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/backend2]
`))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Check()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Check() = %v, want a *ValidationError", err)
	}
	want := Problem{Pipeline: "traces", Component: "otlp/backend2", Message: `pipeline "traces": exporter "otlp/backend2" is not defined`}
	if len(verr.Problems) != 1 || verr.Problems[0] != want {
		t.Fatalf("Problems = %+v, want [%+v]", verr.Problems, want)
	}
}

func TestCheckHandBuilt(t *testing.T) {
	if err := (*Config)(nil).Check(); err == nil || err.Error() != "service: section is missing" {
		t.Fatalf("nil config: Check() = %v", err)
	}
	otlp, debug := ComponentID{Type: "otlp"}, ComponentID{Type: "debug"}
	cfg := &Config{
		Receivers: map[ComponentID]any{otlp: nil},
		Exporters: map[ComponentID]any{debug: nil},
		Service: Service{Pipelines: map[PipelineID]Pipeline{
			{Type: "logs"}: {Receivers: []ComponentID{otlp}, Exporters: []ComponentID{debug}},
		}},
	}
	if err := cfg.Check(); err != nil {
		t.Fatalf("Check() = %v, want nil", err)
	}
}

func TestManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("receivers:\n")
	for i := range 25 {
		b.WriteString("  " + strconv.Itoa(i) + "x:\n")
	}
	_, err := Parse([]byte(b.String()))
	if err == nil || !strings.HasSuffix(err.Error(), "; and 5 more problems") || strings.Count(err.Error(), "; ") != 20 {
		t.Fatalf("Parse() = %v, want 20 problems and a count of the rest", err)
	}

	b.Reset()
	b.WriteString("receivers: {otlp: }\nservice:\n  extensions: [")
	for i := range 22 {
		b.WriteString("e" + strconv.Itoa(i) + ", ")
	}
	b.WriteString("]\n  pipelines: {logs: {receivers: [otlp]}}\n")
	_, err = Validate([]byte(b.String()))
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 23 || !strings.HasSuffix(err.Error(), "; and 3 more problems") {
		t.Fatalf("Validate() = %v, want 23 problems, 20 of them spelt out", err)
	}
}
