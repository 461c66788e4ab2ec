package collectorconfig

import (
	"strings"
	"testing"
)

func TestParseComponentID(t *testing.T) {
	long := strings.Repeat("n", maxNameBytes)
	tests := []struct {
		in      string
		want    ComponentID
		wantErr string
	}{
		{in: "otlp", want: ComponentID{Type: "otlp"}},
		{in: "otlp/backend", want: ComponentID{Type: "otlp", Name: "backend"}},
		{in: "k8s_cluster/prod-eu.1", want: ComponentID{Type: "k8s_cluster", Name: "prod-eu.1"}},
		{in: " otlp / backend ", want: ComponentID{Type: "otlp", Name: "backend"}},
		{in: "otlp/a/b", want: ComponentID{Type: "otlp", Name: "a/b"}},
		{in: "otlp/région", want: ComponentID{Type: "otlp", Name: "région"}},
		{in: "X" + strings.Repeat("y", 62), want: ComponentID{Type: "X" + strings.Repeat("y", 62)}},
		{in: "otlp/" + long, want: ComponentID{Type: "otlp", Name: long}},
		{in: "", wantErr: `invalid component ID "": it is empty`},
		{in: "  ", wantErr: `invalid component ID "  ": it is empty`},
		{in: "/backend", wantErr: `invalid component ID "/backend": the type before "/" is empty`},
		{in: "otlp/", wantErr: `invalid component ID "otlp/": the name after "/" is empty`},
		{in: "otlp/ ", wantErr: `invalid component ID "otlp/ ": the name after "/" is empty`},
		{in: "1otlp", wantErr: `invalid component ID "1otlp": the type must start with a letter and hold at most 63 letters, digits and underscores`},
		{in: "otlp-http", wantErr: `invalid component ID "otlp-http": the type must start with a letter and hold at most 63 letters, digits and underscores`},
		{in: "_otlp", wantErr: `invalid component ID "_otlp": the type must start with a letter and hold at most 63 letters, digits and underscores`},
		{in: "X" + strings.Repeat("y", 63), wantErr: `invalid component ID "Xyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy": the type must start with a letter and hold at most 63 letters, digits and underscores`},
		{in: "otlp/a b", wantErr: `invalid component ID "otlp/a b": the name contains whitespace`},
		{in: "otlp/a\tb", wantErr: `invalid component ID "otlp/a\tb": the name contains whitespace`},
		{in: "otlp/a+b", wantErr: `invalid component ID "otlp/a+b": the name contains the symbol '+', which the collector does not allow`},
		{in: "otlp/\xff", wantErr: `invalid component ID "otlp/\xff": the name contains the symbol '�', which the collector does not allow`},
		{in: "otlp/a\u200bb", wantErr: `invalid component ID "otlp/a\u200bb": the name contains the control character U+200B`},
		{in: "otlp/" + long + "n", wantErr: `invalid component ID "otlp/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"...: the name is 1025 bytes long; the limit is 1024`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseComponentID(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseComponentID(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseComponentID(%q) = %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseComponentID(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if again, err := ParseComponentID(got.String()); err != nil || again != got {
				t.Fatalf("ParseComponentID(%q) = %+v, %v: String does not round-trip", got.String(), again, err)
			}
		})
	}
}

func TestParsePipelineID(t *testing.T) {
	tests := []struct {
		in      string
		want    PipelineID
		wantErr string
	}{
		{in: "traces", want: PipelineID{Type: "traces"}},
		{in: "metrics/edge", want: PipelineID{Type: "metrics", Name: "edge"}},
		{in: "logs", want: PipelineID{Type: "logs"}},
		{in: "profiles/cpu", want: PipelineID{Type: "profiles", Name: "cpu"}},
		{in: "trace", wantErr: `invalid pipeline ID "trace": the type must be traces, metrics, logs or profiles`},
		{in: "Traces", wantErr: `invalid pipeline ID "Traces": the type must be traces, metrics, logs or profiles`},
		{in: "traces/", wantErr: `invalid pipeline ID "traces/": the name after "/" is empty`},
		{in: "", wantErr: `invalid pipeline ID "": it is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePipelineID(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParsePipelineID(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePipelineID(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}
