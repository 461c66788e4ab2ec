package fleet_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/ampora-io/ampora/opampserver/fleet/fleettest"
)

func TestRegistry(t *testing.T) {
	r := fleet.NewRegistry()
	if r.Do("a", false, func(*fleet.Agent) { t.Error("fn called for an unknown agent") }) {
		t.Error("Do(create=false) reported an unknown agent")
	}
	if n := r.Len(); n != 0 {
		t.Fatalf("Len() = %d after a lookup, want 0", n)
	}

	uids := make([]string, 200)
	for i := range uids {
		uids[i] = fleet.UIDString(fleettest.UID(byte(i)))
		if !r.Do(uids[i], true, func(a *fleet.Agent) {
			if a.UID != uids[i] {
				t.Errorf("created agent has UID %q, want %q", a.UID, uids[i])
			}
			a.Connected = i%2 == 0
		}) {
			t.Errorf("Do(create=true) returned false for %s", uids[i])
		}
	}
	if n := r.Len(); n != len(uids) {
		t.Fatalf("Len() = %d, want %d", n, len(uids))
	}
	// Do finds the same agent again.
	if !r.Do(uids[3], false, func(a *fleet.Agent) {
		if a.Connected {
			t.Error("agent state lost between calls")
		}
	}) {
		t.Error("Do(create=false) did not find a registered agent")
	}

	var seen []string
	r.Each(func(a *fleet.Agent) { seen = append(seen, a.UID) })
	slices.Sort(seen)
	want := slices.Clone(uids)
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("Each visited %d agents, want each of the %d once", len(seen), len(want))
	}

	r.Delete(uids[0])
	r.Delete("not-registered")
	if n := r.Len(); n != len(uids)-1 {
		t.Errorf("Len() = %d after Delete, want %d", n, len(uids)-1)
	}
	if r.Do(uids[0], false, func(*fleet.Agent) {}) {
		t.Error("deleted agent still found")
	}

	removed := r.Remove(func(a *fleet.Agent) bool { return !a.Connected })
	if removed != len(uids)/2 {
		t.Errorf("Remove() = %d, want %d", removed, len(uids)/2)
	}
	r.Each(func(a *fleet.Agent) {
		if !a.Connected {
			t.Errorf("Remove kept %s", a.UID)
		}
	})
	if n := r.Len(); n != len(uids)/2-1 {
		t.Errorf("Len() = %d after Remove, want %d", n, len(uids)/2-1)
	}
	if removed := r.Remove(func(*fleet.Agent) bool { return false }); removed != 0 {
		t.Errorf("Remove(nothing) = %d", removed)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	const workers, agents, rounds = 8, 100, 50
	r := fleet.NewRegistry()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds * agents {
				uid := fmt.Sprintf("agent-%03d", i%agents)
				r.Do(uid, true, func(a *fleet.Agent) { a.LastSequenceNum++ })
				if i%agents == w {
					r.Each(func(a *fleet.Agent) { _ = a.LastSequenceNum })
					_ = r.Len()
				}
			}
		})
	}
	wg.Wait()
	var total uint64
	r.Each(func(a *fleet.Agent) { total += a.LastSequenceNum })
	if want := uint64(workers * rounds * agents); total != want {
		t.Errorf("%d updates counted, want %d", total, want)
	}
	if n := r.Len(); n != agents {
		t.Errorf("Len() = %d, want %d", n, agents)
	}
}

func TestUIDString(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte{0x01, 0x8f, 0x3a, 0x5e, 0x2b, 0x4c, 0x7d, 0x00, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78}, "018f3a5e-2b4c-7d00-9abc-def012345678"},
		{[]byte{0xab, 0xcd}, "abcd"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := fleet.UIDString(tt.in); got != tt.want {
			t.Errorf("UIDString(%x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAgentFlapping(t *testing.T) {
	a := &fleet.Agent{Disconnects: []time.Time{fleettest.Start, fleettest.Start.Add(time.Minute), fleettest.Start.Add(2 * time.Minute)}}
	tests := []struct {
		n      int
		window time.Duration
		now    time.Time
		want   bool
	}{
		{3, 5 * time.Minute, fleettest.Start.Add(3 * time.Minute), true},
		{4, 5 * time.Minute, fleettest.Start.Add(3 * time.Minute), false},
		{3, 2 * time.Minute, fleettest.Start.Add(3 * time.Minute), false},
		{2, 2 * time.Minute, fleettest.Start.Add(3 * time.Minute), true},
	}
	for _, tt := range tests {
		if got := a.Flapping(tt.n, tt.window, tt.now); got != tt.want {
			t.Errorf("Flapping(%d, %v) = %v, want %v", tt.n, tt.window, got, tt.want)
		}
	}
}
