package v1alpha1

import "time"

// AppliesRateWindow is the span status.appliesPerMinute is measured over: the engine's rate and
// the dashboard's own measure of it take the same window.
const AppliesRateWindow = 2 * time.Minute
