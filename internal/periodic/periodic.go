// Package periodic runs work on an injected clock, so that tests control when it runs.
package periodic

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Every calls fn each period of clk until ctx ends, the first time one period from now.
func Every(ctx context.Context, clk clock.WithTicker, period time.Duration, fn func()) {
	t := clk.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		fn()
	}
}
