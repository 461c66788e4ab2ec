package gates

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{500 * time.Millisecond, "500ms"},
		{time.Second, "1s"},
		{1500 * time.Millisecond, "1.5s"},
		{30 * time.Second, "30s"},
		{90 * time.Second, "1m30s"},
		{2 * time.Minute, "2m"},
		{30 * time.Minute, "30m"},
		{time.Hour, "1h"},
		{time.Hour + 30*time.Second, "1h30s"},
		{90 * time.Minute, "1h30m"},
		{25*time.Hour + time.Minute + time.Second, "25h1m1s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatPercent(t *testing.T) {
	tests := []struct {
		num, den  int64
		threshold int32
		want      string
	}{
		{7, 20, 20, "35 %"},
		{1, 1, 10, "100 %"},
		{1, 3, 10, "33.3 %"},
		{2, 3, 10, "66.7 %"},
		{1, 8, 10, "12.5 %"},
		{219, 2000, 10, "11.0 %"},    // 10.95 rounds to one decimal, still above 10
		{1001, 10000, 10, "10.01 %"}, // one decimal would read 10.0
		{10001, 100001, 10, "10.001 %"},
		{1, 1001, 0, "0.1 %"},
		{1, 1_000_000_001, 0, "0.0000001 %"},
		{1_000_000_001, 2_000_000_001, 49, "50.0 %"},
	}
	for _, tt := range tests {
		if got := formatPercent(tt.num, tt.den, tt.threshold); got != tt.want {
			t.Errorf("formatPercent(%d, %d, %d) = %q, want %q", tt.num, tt.den, tt.threshold, got, tt.want)
		}
	}
}
