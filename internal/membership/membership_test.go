package membership

import (
	"fmt"
	"sort"
	"testing"
)

func TestRankIsStableAndFixedWidth(t *testing.T) {
	a := Rank("abc", "0192a4f0-7c3e-7b1a-9f00-3d6c1e2a4b5c")
	if a != Rank("abc", "0192a4f0-7c3e-7b1a-9f00-3d6c1e2a4b5c") {
		t.Fatal("rank is not deterministic")
	}
	if len(a) != RankLen {
		t.Fatalf("rank %q has length %d", a, len(a))
	}
	if a == Rank("abd", "0192a4f0-7c3e-7b1a-9f00-3d6c1e2a4b5c") {
		t.Fatal("a new config hash must reorder agents")
	}
}

func TestStringOrderIsNumericOrder(t *testing.T) {
	var ranks []string
	for i := range 1000 {
		ranks = append(ranks, Rank("h", fmt.Sprint(i)))
	}
	sort.Strings(ranks)
	for i := 1; i < len(ranks); i++ {
		a, _ := RankValue(ranks[i-1])
		b, _ := RankValue(ranks[i])
		if a > b {
			t.Fatalf("%s sorts before %s as a string but not as a number", ranks[i-1], ranks[i])
		}
	}
}

func TestBatchBounds(t *testing.T) {
	tests := []struct {
		rank, from, to string
		in, admitted   bool
	}{
		{"0000000000000005", "", "0000000000000005", true, true},
		{"0000000000000005", "0000000000000005", "0000000000000009", false, true},
		{"0000000000000006", "0000000000000005", "0000000000000009", true, true},
		{"000000000000000a", "0000000000000005", "0000000000000009", false, false},
		{"0000000000000001", "", "", false, false},
	}
	for _, tt := range tests {
		if got := InBatch(tt.rank, tt.from, tt.to); got != tt.in {
			t.Errorf("InBatch(%s, %s, %s) = %v", tt.rank, tt.from, tt.to, got)
		}
		if got := Admitted(tt.rank, tt.to); got != tt.admitted {
			t.Errorf("Admitted(%s, %s) = %v", tt.rank, tt.to, got)
		}
	}
}

func TestRankValueRejectsMalformed(t *testing.T) {
	for _, r := range []string{"", "123", "zzzzzzzzzzzzzzzz"} {
		if _, err := RankValue(r); err == nil {
			t.Errorf("RankValue(%q) accepted", r)
		}
	}
}
