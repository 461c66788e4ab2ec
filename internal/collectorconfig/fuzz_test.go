package collectorconfig

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// FuzzValidateCompare feeds arbitrary bytes to Parse, Check and Compare. None
// may panic, every error must say something, and comparing is consistent: a
// config equals itself and its reparse, and Compare(a, b) mirrors
// Compare(b, a).
func FuzzValidateCompare(f *testing.F) {
	gateway, err := os.ReadFile("testdata/gateway.yaml")
	if err != nil {
		f.Fatal(err)
	}
	fixed, err := Validate(gateway)
	if err != nil {
		f.Fatal(err)
	}
	// The gateway config is only compared against: as a seed its size makes
	// every minimization slow.
	for _, seed := range []string{
		base,
		components + "service:\n  pipelines:\n    traces: {receivers: [otlp, forward], exporters: [forward, debug]}\n",
		"receivers: {otlp: &o {a: [1, 2.5, .nan, 2024-01-02]}, otlp/2: {<<: *o}}\n",
		"receivers:\n  otlp:\n endpoint: x\n",
		"a0: &a [x, x]\na1: &b [*a, *a]\na2: [*b, *b]\n",
		"receivers: {1: , true: , ~: }\nservice: {pipelines: {traces/a: null}}\n",
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if cfg != nil || err.Error() == "" {
				t.Fatalf("Parse() = %v, %q", cfg, err)
			}
			return
		}
		if err := cfg.Check(); err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Problems) == 0 {
				t.Fatalf("Check() = %#v, want a *ValidationError with problems", err)
			}
			for _, p := range verr.Problems {
				if p.Message == "" {
					t.Fatalf("Check() gave a problem without a message: %+v", p)
				}
			}
		}
		_ = cfg.UsedTypes()

		if d := Compare(cfg, cfg); !d.Empty() {
			t.Fatalf("Compare(cfg, cfg) = %+v, want no changes", d)
		}
		again, err := Parse(data)
		if err != nil {
			t.Fatalf("second Parse() = %v", err)
		}
		if d := Compare(cfg, again); !d.Empty() {
			t.Fatalf("Compare(cfg, reparsed) = %+v, want no changes", d)
		}
		forward, backward := Compare(fixed, cfg), Compare(cfg, fixed)
		if !slices.Equal(forward.Added, backward.Removed) ||
			!slices.Equal(forward.Removed, backward.Added) ||
			!slices.Equal(forward.Changed, backward.Changed) {
			t.Fatalf("Compare is not symmetric: %+v and %+v", forward, backward)
		}
		if forward.Summary() == "" || Compare(nil, cfg).Summary() == "" {
			t.Fatal("empty summary")
		}
	})
}
