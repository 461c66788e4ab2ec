package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strings"
)

// The chart: one bar per recorded run that has applies_per_minute (the rollout scenario),
// in the order recorded, with its value on top and the run's shape below.
const (
	chartWidth  = 960
	chartHeight = 540
	// chartMaxBars keeps the labels legible: only the latest runs are drawn.
	chartMaxBars = 40
)

var (
	colBackground = color.RGBA{255, 255, 255, 255}
	colAxis       = color.RGBA{60, 60, 60, 255}
	colGrid       = color.RGBA{225, 225, 225, 255}
	colBar        = color.RGBA{46, 109, 180, 255}
	colText       = color.RGBA{30, 30, 30, 255}
)

// bar is one run in the chart.
type bar struct {
	value          float64
	label1, label2 string
}

// chartBars picks the records that measured applies per minute, the latest chartMaxBars.
func chartBars(recs []Record) []bar {
	var out []bar
	for i, r := range recs {
		if r.RolloutResult == nil {
			continue
		}
		out = append(out, bar{
			value:  r.AppliesPerMinute,
			label1: fmt.Sprintf("#%d %s", i+1, shortCount(r.Agents)),
			label2: fmt.Sprintf("%dB %dR %s", r.Batches, r.Replicas, r.Transport),
		})
	}
	if len(out) > chartMaxBars {
		out = out[len(out)-chartMaxBars:]
	}
	return out
}

// shortCount writes 1500 as 1.5K and 100000 as 100K.
func shortCount(n int) string {
	switch {
	case n >= 1_000_000:
		return trimZero(float64(n)/1e6) + "M"
	case n >= 1000:
		return trimZero(float64(n)/1e3) + "K"
	}
	return fmt.Sprint(n)
}

func trimZero(x float64) string {
	s := fmt.Sprintf("%.1f", x)
	return strings.TrimSuffix(s, ".0")
}

// niceMax rounds the axis maximum up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// drawChart draws the bars into a chartWidth x chartHeight image.
func drawChart(bars []bar) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, chartWidth, chartHeight))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBackground}, image.Point{}, draw.Src)
	title := "APPLIES PER MINUTE, ROLLOUT RUNS"
	drawText(img, (chartWidth-textWidth(title, 2))/2, 14, title, 2, colText)

	left, right, top, bottom := 80, chartWidth-20, 50, chartHeight-60
	if len(bars) == 0 {
		msg := "NO ROLLOUT RUNS RECORDED"
		drawText(img, (chartWidth-textWidth(msg, 2))/2, chartHeight/2, msg, 2, colText)
		return img
	}
	slot := float64(right-left) / float64(len(bars))
	// Labels run upwards when a slot is too narrow for them.
	upright := false
	for _, b := range bars {
		for _, l := range []string{b.label1, b.label2, valueLabel(b.value)} {
			upright = upright || textWidth(l, 1) > int(slot)-2
		}
	}
	if upright {
		longest := 0
		for _, b := range bars {
			longest = max(longest, textWidth(b.label1+" "+b.label2, 1))
		}
		bottom = chartHeight - 30 - longest
	}
	top0 := 0.0
	for _, b := range bars {
		top0 = math.Max(top0, b.value)
	}
	ymax := niceMax(top0 * 1.15)
	y := func(v float64) int { return bottom - int(math.Round(v/ymax*float64(bottom-top))) }

	// Grid and axis labels: five steps.
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		yy := y(v)
		fill(img, image.Rect(left, yy, right, yy+1), colGrid)
		label := shortCount(int(math.Round(v)))
		drawText(img, left-8-textWidth(label, 1), yy-3, label, 1, colText)
	}
	fill(img, image.Rect(left, top, left+1, bottom+1), colAxis)
	fill(img, image.Rect(left, bottom, right, bottom+1), colAxis)
	legend := "#RUN AGENTS, BATCHES B, REPLICAS R, TRANSPORT"
	drawText(img, right-textWidth(legend, 1), chartHeight-14, legend, 1, colAxis)

	barW := min(120, max(2, int(slot*0.6)))
	for i, b := range bars {
		cx := left + int(slot*(float64(i)+0.5))
		yy := y(b.value)
		fill(img, image.Rect(cx-barW/2, yy, cx-barW/2+barW, bottom), colBar)
		v := valueLabel(b.value)
		if upright {
			drawTextUp(img, cx-glyphH/2, yy-4, v, 1, colText)
			drawTextUp(img, cx-glyphH/2, bottom+6+textWidth(b.label1+" "+b.label2, 1), b.label1+" "+b.label2, 1, colText)
			continue
		}
		drawText(img, cx-textWidth(v, 1)/2, yy-10, v, 1, colText)
		for j, l := range []string{b.label1, b.label2} {
			drawText(img, cx-textWidth(l, 1)/2, bottom+8+j*11, l, 1, colText)
		}
	}
	return img
}

// valueLabel writes a bar's value: whole numbers up to 99,999, then 123K.
func valueLabel(v float64) string {
	if v < 100_000 {
		return fmt.Sprintf("%.0f", v)
	}
	return shortCount(int(math.Round(v)))
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}

// writeChart draws the records' chart into path as PNG.
func writeChart(path string, recs []Record) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, drawChart(chartBars(recs))); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
