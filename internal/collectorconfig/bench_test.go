package collectorconfig

import (
	"bytes"
	"os"
	"testing"
)

// gatewayRevision is testdata/gateway.yaml with the edits of a typical
// rollout: a batch timeout lowered and the debug exporter made verbose.
func gatewayRevision(tb testing.TB) (before, after []byte) {
	tb.Helper()
	before, err := os.ReadFile("testdata/gateway.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	after = bytes.Replace(before, []byte("    timeout: 5s"), []byte("    timeout: 2s"), 1)
	after = bytes.Replace(after, []byte("verbosity: basic"), []byte("verbosity: detailed"), 1)
	return before, after
}

func TestGatewayConfig(t *testing.T) {
	before, after := gatewayRevision(t)
	old, err := Validate(before)
	if err != nil {
		t.Fatalf("Validate(gateway.yaml) = %v", err)
	}
	cfg, err := Validate(after)
	if err != nil {
		t.Fatalf("Validate(revision) = %v", err)
	}
	d := Compare(old, cfg)
	if got, want := d.Summary(), "~1 processor, ~1 exporter"; got != want {
		t.Fatalf("Summary() = %q, want %q (%+v)", got, want, d)
	}
	used := cfg.UsedTypes()
	if got, want := len(used[Connectors]), 4; got != want {
		t.Fatalf("UsedTypes()[connectors] = %v, want %d types", used[Connectors], want)
	}
}

func BenchmarkParseCheckCompare(b *testing.B) {
	before, after := gatewayRevision(b)
	old := mustParse(b, string(before))
	b.SetBytes(int64(len(after)))
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := Parse(after)
		if err != nil {
			b.Fatal(err)
		}
		if err := cfg.Check(); err != nil {
			b.Fatal(err)
		}
		if Compare(old, cfg).Empty() {
			b.Fatal("the revision compares equal")
		}
	}
}
