package gates

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// maxDecimals bounds the decimals formatPercent adds. Counts are int32, so a value above its
// threshold is above it by at least 100/MaxInt32 percent, which shows within 8 decimals.
const maxDecimals = 9

// formatPercent writes num/den (den > 0) as a percentage, "35 %" or "33.3 %", for a value
// above threshold: one decimal unless that would read as the threshold itself, then as many
// as it takes to show the difference. Rounding is exact, half away from zero, so 10.95 %
// reads 11.0 % and not the 10.9 % a float64 would give.
func formatPercent(num, den int64, threshold int32) string {
	if num*100%den == 0 {
		return strconv.FormatInt(num*100/den, 10) + " %"
	}
	v := big.NewRat(num*100, den)
	t := big.NewRat(int64(threshold), 1)
	s := v.FloatString(1)
	for d := 2; d <= maxDecimals && !readsAbove(s, t); d++ {
		s = v.FloatString(d)
	}
	return s + " %"
}

func readsAbove(s string, threshold *big.Rat) bool {
	r, ok := new(big.Rat).SetString(s)
	return ok && r.Cmp(threshold) > 0
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

// FormatDuration writes a duration without its zero units, the way users write them in
// specs: 1m30s, 2m, 1h, 1h0.5s, 500ms.
func FormatDuration(d time.Duration) string {
	if d < time.Second {
		return d.String() // "0s", "500ms", and negative values, which no gate allows
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
		b.WriteByte('s')
	}
	return b.String()
}
