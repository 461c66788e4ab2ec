package main

import (
	"slices"
	"testing"
)

func TestParseStatusLine(t *testing.T) {
	s, ok := parseStatusLine("22:40:33 +12s agents=200 connected=199 applying=3 applied=150 failed=1")
	if !ok || s.agents != 200 || s.connected != 199 || s.applying != 3 || s.applied != 150 || s.failed != 1 {
		t.Fatalf("parseStatusLine = %+v, %v", s, ok)
	}
	for _, other := range []string{
		"fleetsim: 200 agents started against ws://127.0.0.1:1/v1/opamp (default=200)",
		"fleetsim: stopping",
		"22:40:33 +12s agents=200 connected=x applying=3 applied=150 failed=1",
	} {
		if _, ok := parseStatusLine(other); ok {
			t.Errorf("parseStatusLine(%q) took it for a status line", other)
		}
	}
}

func TestSplitFleet(t *testing.T) {
	for _, c := range []struct {
		n, per int
		want   []int
	}{
		{300, 18000, []int{300}},
		{18000, 18000, []int{18000}},
		{18001, 18000, []int{9001, 9000}},
		{100000, 18000, []int{16667, 16667, 16667, 16667, 16666, 16666}},
	} {
		got := splitFleet(c.n, c.per)
		if !slices.Equal(got, c.want) || sumInts(got) != c.n {
			t.Errorf("splitFleet(%d, %d) = %v, want %v", c.n, c.per, got, c.want)
		}
	}
}

func TestSourceIPsFor(t *testing.T) {
	for n, want := range map[int]int{1: 8, 100_000: 8, 200_000: 10, 10_000_000: 254} {
		if got := sourceIPsFor(n); got != want {
			t.Errorf("sourceIPsFor(%d) = %d, want %d", n, got, want)
		}
	}
}
