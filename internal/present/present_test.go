package present

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func TestPresent(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ got, want string }{
		{Ago(now, now.Add(-3*time.Minute)), "3m ago"},
		{Ago(now, now.Add(90*time.Second)), "in 90s"},
		{Ago(now, time.Time{}), "-"},
		{Phase(""), "not evaluated yet"},
		{Phase(fleetv1alpha1.RolloutPaused), "Paused"},
		{Batch(&fleetv1alpha1.RolloutStatus{}), "-"},
		{Batch(&fleetv1alpha1.RolloutStatus{CurrentBatch: &fleetv1alpha1.BatchStatus{Number: 2}, Plan: make([]int32, 5)}), "2 of 5"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
