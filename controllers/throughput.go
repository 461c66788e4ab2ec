package controllers

import (
	"cmp"
	"sync"
	"time"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"

	"k8s.io/apimachinery/pkg/types"
)

// appliesPerMinute is measured over the last window (DefaultRateWindow unless the engine's
// Options say otherwise), from samples of the applied count about a twelfth of it apart: a
// recent rate, which a pause brings down, not an average since the start. Samples that span
// less than rateMinSpan say nothing yet.
const (
	samplesPerWindow  = 12
	DefaultRateWindow = fleetv1alpha1.AppliesRateWindow
	rateMinSpan       = time.Second
)

// appliedSample is a rollout's applied count at one time.
type appliedSample struct {
	at      time.Time
	applied int32
}

// addSample records s: appended when the sample before the last is window/12 older or more,
// else in place of the last, so that the last sample is always the newest count and the others
// stay about a step apart. Samples older than the window go, but the newest of them, which
// stays as the rate's base. However often it is called, at most 2*samplesPerWindow+2 samples
// are kept: every other kept sample is a step apart.
func addSample(samples []appliedSample, s appliedSample, window time.Duration) []appliedSample {
	step := window / samplesPerWindow
	if n := len(samples); n > 0 && (s.applied < samples[n-1].applied || s.at.Before(samples[n-1].at)) {
		// Counts fell (a replica's entry stopped counting) or the clock went back: start over.
		return []appliedSample{s}
	}
	if n := len(samples); n >= 2 && s.at.Sub(samples[n-2].at) < step {
		samples[n-1] = s
	} else {
		samples = append(samples, s)
	}
	first := 0
	for first+1 < len(samples) && !samples[first+1].at.After(s.at.Add(-window)) {
		first++
	}
	return append(samples[:0], samples[first:]...)
}

// recentRate is the applies per minute from the oldest sample to now, and false while the
// samples span less than rateMinSpan.
func recentRate(samples []appliedSample, applied int32, now time.Time) (int32, bool) {
	if len(samples) == 0 {
		return 0, false
	}
	base := samples[0]
	span := now.Sub(base.at)
	if span < rateMinSpan {
		return 0, false
	}
	return int32(max(float64(applied-base.applied), 0) / span.Minutes()), true
}

// applyRates keeps the samples of each rollout's current revision. They live in memory only:
// a new leader keeps the rate the status shows until its own samples span rateMinSpan.
type applyRates struct {
	// window is the span of the rate; DefaultRateWindow when zero.
	window    time.Duration
	mu        sync.Mutex
	byRollout map[types.NamespacedName]rateSamples
}

type rateSamples struct {
	uid      types.UID
	revision string
	samples  []appliedSample
}

// observe records a rollout's applied count and returns its recent rate, or false while there
// is too little to go by.
func (a *applyRates) observe(key types.NamespacedName, uid types.UID, revision string, applied int32, now time.Time) (int32, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byRollout == nil {
		a.byRollout = map[types.NamespacedName]rateSamples{}
	}
	rs := a.byRollout[key]
	if rs.uid != uid || rs.revision != revision {
		rs = rateSamples{uid: uid, revision: revision}
	}
	rs.samples = addSample(rs.samples, appliedSample{at: now, applied: applied}, cmp.Or(a.window, DefaultRateWindow))
	a.byRollout[key] = rs
	return recentRate(rs.samples, applied, now)
}

// forget drops a rollout's samples: it settled or is gone.
func (a *applyRates) forget(key types.NamespacedName) {
	a.mu.Lock()
	delete(a.byRollout, key)
	a.mu.Unlock()
}
