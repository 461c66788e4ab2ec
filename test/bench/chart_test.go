package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteChartSize(t *testing.T) {
	rollout := func(agents int, apm float64) Record {
		r := newRecord("rollout", agents, 2, "ws", t0)
		r.Batches = 4
		r.RolloutResult = &RolloutResult{AppliesPerMinute: apm}
		return r
	}
	connect := newRecord("connect", 300, 2, "ws", t0)
	connect.ConnectResult = &ConnectResult{}
	many := []Record{connect}
	for i := range 60 {
		many = append(many, rollout(1000*(i+1), float64(100*i)))
	}
	for name, recs := range map[string][]Record{
		"none":     nil,
		"connect":  {connect},
		"one":      {rollout(300, 6287.7)},
		"mixed":    {connect, rollout(300, 6000), rollout(100_000, 250_000)},
		"zero":     {rollout(300, 0)},
		"many":     many,
		"fraction": {rollout(1500, 0.4)},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chart.png")
			if err := writeChart(path, recs); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != chartWidth || b.Dy() != chartHeight {
				t.Fatalf("chart is %dx%d, want %dx%d", b.Dx(), b.Dy(), chartWidth, chartHeight)
			}
		})
	}
	if n := len(chartBars(many)); n != chartMaxBars {
		t.Errorf("%d bars, want the latest %d", n, chartMaxBars)
	}
}

func TestChartHelpers(t *testing.T) {
	for n, want := range map[int]string{300: "300", 1500: "1.5K", 100_000: "100K", 2_000_000: "2M"} {
		if got := shortCount(n); got != want {
			t.Errorf("shortCount(%d) = %s, want %s", n, got, want)
		}
	}
	for v, want := range map[float64]float64{0: 1, 7: 10, 11: 20, 6900: 10000, 250: 500} {
		if got := niceMax(v); got != want {
			t.Errorf("niceMax(%v) = %v, want %v", v, got, want)
		}
	}
	// Every rune a label can hold has a glyph.
	for _, r := range "#0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ.,-+=/:()%_?" {
		if _, ok := glyphs[r]; !ok {
			t.Errorf("no glyph for %q", r)
		}
	}
	for r, g := range glyphs {
		for _, row := range g {
			if len(row) != glyphW {
				t.Errorf("glyph %q has a row of %d pixels", r, len(row))
			}
		}
	}
	if w := textWidth("AB", 2); w != (2*6-1)*2 {
		t.Errorf("textWidth = %d", w)
	}
}
