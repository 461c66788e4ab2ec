package dashboard

import (
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// sample is one reading of a rollout's progress.
type sample struct {
	At      time.Time
	Applied int32
	// Avg is status.appliesPerMinute: applies since the revision started, per minute.
	Avg int32
}

// series is what the dashboard has read of one rollout's revision since it started; the
// status keeps no history, so the chart shows only what this process saw.
type series struct {
	uid     types.UID
	hash    string
	samples []sample
}

// maxSamples bounds a series whatever the refresh interval.
const maxSamples = 2000

// rateWindow is the span the measured rate is taken over: the engine's, so that the two lines
// measure the same thing from two sets of samples.
const rateWindow = fleetv1alpha1.AppliesRateWindow

// add records a reading at now and forgets those older than keep. A new revision or a new
// rollout of the same name starts the series again.
func (s *series) add(now time.Time, ro *fleetv1alpha1.Rollout, keep time.Duration) {
	if s.uid != ro.UID || s.hash != ro.Status.ConfigHash {
		s.uid, s.hash, s.samples = ro.UID, ro.Status.ConfigHash, nil
	}
	s.samples = append(s.samples, sample{At: now, Applied: ro.Status.Counts.Applied, Avg: ro.Status.AppliesPerMinute})
	cut := 0
	for cut < len(s.samples) && (now.Sub(s.samples[cut].At) > keep || len(s.samples)-cut > maxSamples) {
		cut++
	}
	s.samples = s.samples[cut:]
}

// rate is the applies per minute measured at sample i: the applied count's growth over the
// samples of the last rateWindow. A count that drops (a rollback) reads as 0.
func (s *series) rate(i int) (float64, bool) {
	if i == 0 {
		return 0, false
	}
	cur := s.samples[i]
	j := i - 1
	for j > 0 && cur.At.Sub(s.samples[j-1].At) <= rateWindow {
		j--
	}
	dt := cur.At.Sub(s.samples[j].At)
	if dt <= 0 {
		return 0, false
	}
	return max(0, float64(cur.Applied-s.samples[j].Applied)/dt.Minutes()), true
}

// chartView is the geometry of the throughput chart, drawn as inline SVG.
type chartView struct {
	W, H, PadL, PlotR, Bottom, Mid int
	// Rate and Avg are polyline points: the measured rate and the status average.
	Rate, Avg string
	Grid      []gridLine
	Span      string
	Empty     bool
	// Last is the latest measured rate, for the text beside the chart.
	Last string
}

type gridLine struct {
	Y      string
	Label  string
	LabelY string
}

// Chart size in SVG units; the CSS scales it to the card.
const (
	chartW, chartH       = 640, 170
	chartPadL, chartPadR = 44, 10
	chartPadT, chartPadB = 10, 22
)

// minSpan is the least time the chart spans, so that a new series fills it quickly.
const minSpan = 10 * time.Second

// chart draws the series over the span from its first sample to now.
func (s *series) chart(now time.Time) chartView {
	v := chartView{W: chartW, H: chartH, PadL: chartPadL, PlotR: chartW - chartPadR, Bottom: chartH - 4, Mid: chartH / 2}
	plotW := float64(chartW - chartPadL - chartPadR)
	plotH := float64(chartH - chartPadT - chartPadB)
	span := minSpan
	var rates []float64
	var oks []bool
	top := 1.0
	if s != nil && len(s.samples) > 0 {
		span = max(span, now.Sub(s.samples[0].At))
		for i, sm := range s.samples {
			r, ok := s.rate(i)
			rates, oks = append(rates, r), append(oks, ok)
			if ok {
				top = max(top, r)
			}
			top = max(top, float64(sm.Avg))
		}
	}
	top = niceCeil(top)
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(chartPadT) + plotH*(1-f)
		v.Grid = append(v.Grid, gridLine{Y: num(y), LabelY: num(y + 4), Label: trimFloat(top * f)})
	}
	v.Span = shortSpan(span)
	if s == nil || len(s.samples) < 2 {
		v.Empty = true
		return v
	}
	x := func(t time.Time) float64 {
		return float64(chartPadL) + plotW*(1-float64(now.Sub(t))/float64(span))
	}
	y := func(val float64) float64 { return float64(chartPadT) + plotH*(1-val/top) }
	var rate, avg strings.Builder
	for i, sm := range s.samples {
		fmt.Fprintf(&avg, "%s,%s ", num(x(sm.At)), num(y(float64(sm.Avg))))
		if oks[i] {
			fmt.Fprintf(&rate, "%s,%s ", num(x(sm.At)), num(y(rates[i])))
			v.Last = trimFloat(math.Round(rates[i]))
		}
	}
	v.Rate, v.Avg = strings.TrimSpace(rate.String()), strings.TrimSpace(avg.String())
	return v
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func num(f float64) string { return fmt.Sprintf("%.1f", f) }

func trimFloat(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

// shortSpan writes a span as "45s", "3m" or "1h20m".
func shortSpan(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
