package revision

import (
	"errors"
	"strings"
	"testing"

	"github.com/ampora-io/ampora/internal/collectorconfig"
)

func TestReadChecksContent(t *testing.T) {
	good, other := []byte("receivers: {}\n"), []byte("exporters: {}\n")
	hGood, hOther := collectorconfig.Hash(good), collectorconfig.Hash(other)
	renamed := New("ns", hOther, other)
	renamed.Name = Name(hGood)
	lying := New("ns", hGood, other) // claims the good hash for another body

	tests := []struct {
		name     string
		cr       func() error
		mismatch bool
	}{
		{"stored as written", func() error { _, err := Read(New("ns", hGood, good)); return err }, false},
		{"another config under this name", func() error { _, err := Read(renamed); return err }, true},
		{"a body that is not the hash it claims", func() error { _, err := Read(lying); return err }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cr()
			if got := errors.Is(err, ErrMismatch); got != tt.mismatch {
				t.Fatalf("Read error %v: mismatch %v, want %v", err, got, tt.mismatch)
			}
		})
	}
}

func TestNameTakesOnlyFullHashes(t *testing.T) {
	h := collectorconfig.Hash([]byte("x"))
	if got := Name(h); got != "ampora-config-"+h {
		t.Errorf("Name(full) = %q", got)
	}
	for _, bad := range []string{"", h[:10], strings.ToUpper(h), h + "0", "../" + h[3:]} {
		if got := Name(bad); got != "" {
			t.Errorf("Name(%q) = %q, want empty", bad, got)
		}
	}
}
