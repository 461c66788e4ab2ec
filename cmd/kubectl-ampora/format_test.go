package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/ampora-io/ampora/internal/gates"
)

func TestTree(t *testing.T) {
	root := &tree{text: "root"}
	a := root.add("a %d", 1)
	a.add("a.1")
	a.add("a.2").add("a.2.1")
	root.add("b").add("b.1")
	var b bytes.Buffer
	root.write(&b)
	want := `root
├─ a 1
│  ├─ a.1
│  └─ a.2
│     └─ a.2.1
└─ b
   └─ b.1
`
	if b.String() != want {
		t.Errorf("tree:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestTimes(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{clock(now, now.Add(-time.Minute)), "11:59:00"},
		{clock(now, now.Add(-24*time.Hour)), "2026-11-24 12:00:00"},
		{clock(now, time.Date(2026, 11, 25, 13, 0, 0, 0, time.FixedZone("CET", 3600))), "12:00:00"},
		{gates.FormatDuration(10 * time.Minute), "10m"},
		{gates.FormatDuration(time.Hour), "1h"},
		{gates.FormatDuration(90 * time.Minute), "1h30m"},
		{gates.FormatDuration(45 * time.Second), "45s"},
		{gates.FormatDuration(0), "0s"},
		{gates.FormatDuration(1500 * time.Millisecond), "1.5s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestByCount(t *testing.T) {
	got := joinCounted(byCount([]string{"0.149.0", "0.148.0", "0.149.0", "unknown", "0.148.0", "0.149.0"}))
	if want := "0.149.0 ×3, 0.148.0 ×2, unknown ×1"; got != want {
		t.Errorf("joinCounted = %q, want %q", got, want)
	}
	if got := joinCounted(byCount(nil)); got != "" {
		t.Errorf("joinCounted(nil) = %q", got)
	}
}
