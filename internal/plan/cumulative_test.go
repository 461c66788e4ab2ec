package plan

import (
	"slices"
	"testing"
)

func TestCumulative(t *testing.T) {
	tests := []struct {
		plan, want []int32
	}{
		{nil, []int32{}},
		{[]int32{7}, []int32{7}},
		{[]int32{1, 4, 5}, []int32{1, 5, 10}},
		{[]int32{2, 4, 8, 16, 32, 64, 100}, []int32{2, 6, 14, 30, 62, 126, 226}},
	}
	for _, tt := range tests {
		if got := Cumulative(tt.plan); !slices.Equal(got, tt.want) {
			t.Errorf("Cumulative(%v) = %v, want %v", tt.plan, got, tt.want)
		}
	}
}

func TestTarget(t *testing.T) {
	plan := []int32{1, 4, 5}
	tests := []struct {
		batch, want int32
	}{
		{-1, 0},
		{0, 0},
		{1, 1},
		{2, 5},
		{3, 10},
		{4, 10},
	}
	for _, tt := range tests {
		if got := Target(plan, tt.batch); got != tt.want {
			t.Errorf("Target(%v, %d) = %d, want %d", plan, tt.batch, got, tt.want)
		}
	}
	if got := Target(nil, 1); got != 0 {
		t.Errorf("Target(nil, 1) = %d, want 0", got)
	}
}
