package fleet

import (
	"fmt"
	"testing"
	"time"
)

func TestLocationRemembersFewUnknownZones(t *testing.T) {
	for i := range 2 * maxUnknownZones {
		if l := location(fmt.Sprintf("Nowhere/Zone%d", i)); l != time.UTC {
			t.Fatalf("an unknown zone is %v, want UTC", l)
		}
	}
	n := 0
	zones.Range(func(_, v any) bool {
		if v.(*time.Location) == time.UTC {
			n++
		}
		return true
	})
	if n > maxUnknownZones {
		t.Errorf("%d unknown zones remembered, want at most %d", n, maxUnknownZones)
	}
	if l := location("Europe/Paris"); l.String() != "Europe/Paris" {
		t.Errorf("a known zone after many unknown ones: %v", l)
	}
}
