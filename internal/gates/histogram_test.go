package gates

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestBucketIndex(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 0},
		{0, 0},
		{500 * time.Millisecond, 0},
		{time.Second, 0},
		{time.Second + 1, 1},
		{2 * time.Second, 1},
		{3 * time.Second, 2},
		{45 * time.Second, 6},
		{time.Minute, 6},
		{90 * time.Second, 7},
		{10 * time.Minute, 9},
		{30 * time.Minute, 10},
		{30*time.Minute + 1, 11},
		{24 * time.Hour, 11},
	}
	for _, tt := range tests {
		if got := BucketIndex(tt.d); got != tt.want {
			t.Errorf("BucketIndex(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
	if len(Buckets) != 11 || !slices.IsSorted(Buckets) {
		t.Errorf("Buckets = %v: want 11 increasing bounds", Buckets)
	}
}

func TestMergeBuckets(t *testing.T) {
	tests := []struct {
		name    string
		reports [][]int32
		want    []int32
	}{
		{"none", nil, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"one", [][]int32{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"added", [][]int32{
			{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			{2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3},
		}, []int32{3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4}},
		{"short report", [][]int32{{5, 5}, {1, 1, 1}}, []int32{6, 6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"long report spills into +Inf", [][]int32{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3}}, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6}},
		{"negative counters ignored", [][]int32{{-5, 2}, {1, -1}}, []int32{1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"saturates", [][]int32{{math.MaxInt32}, {math.MaxInt32}}, []int32{math.MaxInt32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		if got := MergeBuckets(tt.reports...); !slices.Equal(got, tt.want) {
			t.Errorf("%s: MergeBuckets = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name         string
		buckets      []int32
		q            float64
		want         time.Duration
		wantOverflow bool
	}{
		{"empty", nil, 0.95, 0, false},
		{"all zero", make([]int32, 12), 0.95, 0, false},
		{"one bucket", histogram(3*time.Second, 7), 0.95, 5 * time.Second, false},
		{"19 of 20 is the 95th", histogram(3*time.Second, 19, 4*time.Minute, 1), 0.95, 5 * time.Second, false},
		{"18 of 20 is not", histogram(3*time.Second, 18, 4*time.Minute, 2), 0.95, 5 * time.Minute, false},
		{"95 of 100", histogram(time.Second, 95, time.Hour, 5), 0.95, time.Second, false},
		{"94 of 100", histogram(time.Second, 94, time.Hour, 6), 0.95, 30 * time.Minute, true},
		{"median", histogram(time.Second, 1, 10*time.Second, 1, time.Minute, 1), 0.5, 10 * time.Second, false},
		{"q 0 is the first non-empty bucket", histogram(10*time.Second, 1, time.Minute, 1), 0, 10 * time.Second, false},
		{"q 1 is the last non-empty bucket", histogram(10*time.Second, 1, time.Minute, 1), 1, time.Minute, false},
		{"q above 1 is 1", histogram(10*time.Second, 1, time.Minute, 1), 7, time.Minute, false},
		{"q NaN is 0", histogram(10*time.Second, 1, time.Minute, 1), math.NaN(), 10 * time.Second, false},
		{"overflow", histogram(time.Hour, 3), 0.95, 30 * time.Minute, true},
		{"negative counters ignored", []int32{-10, 1}, 0.5, 2 * time.Second, false},
		{"counters past +Inf overflow", []int32{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}, 0.95, 30 * time.Minute, true},
		{"large counts", []int32{math.MaxInt32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, math.MaxInt32}, 0.5, time.Second, false},
	}
	for _, tt := range tests {
		d, overflow := Percentile(tt.buckets, tt.q)
		if d != tt.want || overflow != tt.wantOverflow {
			t.Errorf("%s: Percentile(%v, %v) = %v, %v; want %v, %v", tt.name, tt.buckets, tt.q, d, overflow, tt.want, tt.wantOverflow)
		}
	}
}
