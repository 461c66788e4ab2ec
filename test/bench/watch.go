package main

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// observed is one state of the Rollout, stamped with the moment the harness received it.
type observed struct {
	at time.Time
	ro *fleetv1alpha1.Rollout
}

// rolloutWatch records every state of one Rollout that a Kubernetes watch delivers.
type rolloutWatch struct {
	mu      sync.Mutex
	events  []observed
	changed chan struct{} // closed and replaced at every event
	err     error         // the last watch error, for timeouts' messages
}

// watchRollout watches ns/name until ctx ends, re-watching from the last resource version
// when the server closes the watch, and listing again when that version is gone.
func watchRollout(ctx context.Context, c client.WithWatch, ns, name string) *rolloutWatch {
	w := &rolloutWatch{changed: make(chan struct{})}
	go w.loop(ctx, c, ns, name)
	return w
}

func (w *rolloutWatch) loop(ctx context.Context, c client.WithWatch, ns, name string) {
	sel := fields.OneTermEqualSelector("metadata.name", name)
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			var list fleetv1alpha1.RolloutList
			if err := c.List(ctx, &list, &client.ListOptions{Namespace: ns, FieldSelector: sel}); err != nil {
				w.fail(err)
				sleep(ctx, time.Second)
				continue
			}
			for i := range list.Items {
				w.record(&list.Items[i])
			}
			rv = list.ResourceVersion
		}
		wi, err := c.Watch(ctx, &fleetv1alpha1.RolloutList{}, &client.ListOptions{Namespace: ns, FieldSelector: sel,
			Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
			}
			w.fail(err)
			sleep(ctx, time.Second)
			continue
		}
		rv = w.drain(ctx, wi, rv)
		wi.Stop()
	}
}

// drain records the events of one watch until it ends, and returns the resource version to
// go on from ("" to list again).
func (w *rolloutWatch) drain(ctx context.Context, wi watch.Interface, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				ro, ok := ev.Object.(*fleetv1alpha1.Rollout)
				if !ok {
					continue
				}
				w.record(ro)
				rv = ro.ResourceVersion
			case watch.Bookmark:
				if o, ok := ev.Object.(metav1.Object); ok {
					rv = o.GetResourceVersion()
				}
			case watch.Error:
				w.fail(apierrors.FromObject(ev.Object))
				return ""
			}
		}
	}
}

func (w *rolloutWatch) record(ro *fleetv1alpha1.Rollout) {
	at := time.Now()
	w.mu.Lock()
	w.events = append(w.events, observed{at, ro.DeepCopy()})
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

func (w *rolloutWatch) fail(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
}

// next waits for the first state at index from or later that satisfies pred, and returns
// its index and the state.
func (w *rolloutWatch) next(ctx context.Context, from int, pred func(*fleetv1alpha1.Rollout) bool) (int, observed, error) {
	for {
		w.mu.Lock()
		for i := from; i < len(w.events); i++ {
			if pred(w.events[i].ro) {
				ev := w.events[i]
				w.mu.Unlock()
				return i, ev, nil
			}
		}
		from = len(w.events)
		ch, werr := w.changed, w.err
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			if werr != nil {
				return from, observed{}, fmt.Errorf("%w (last watch error: %v)", ctx.Err(), werr)
			}
			return from, observed{}, ctx.Err()
		case <-ch:
		}
	}
}

// latest is the last state seen, nil before the first.
func (w *rolloutWatch) latest() *fleetv1alpha1.Rollout {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) == 0 {
		return nil
	}
	return w.events[len(w.events)-1].ro
}

// all is every state seen, in order.
func (w *rolloutWatch) all() []observed {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]observed(nil), w.events...)
}

// len is the number of states seen.
func (w *rolloutWatch) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events)
}

// replicaApplied sums status.replicas[].counts.applied over the entries for the Rollout's
// current configHash.
func replicaApplied(ro *fleetv1alpha1.Rollout) int {
	n := 0
	for _, e := range ro.Status.Replicas {
		if e.ConfigHash != "" && e.ConfigHash == ro.Status.ConfigHash {
			n += int(e.Counts.Applied)
		}
	}
	return n
}

// curves are the top-level applied count and the replicas' summed applied count over time.
func curves(evs []observed) (top, replicas []point) {
	for _, e := range evs {
		top = append(top, point{e.at, int(e.ro.Status.Counts.Applied)})
		replicas = append(replicas, point{e.at, replicaApplied(e.ro)})
	}
	return top, replicas
}

// stopped says whether the Rollout stopped short of Completed, and why.
func stopped(ro *fleetv1alpha1.Rollout) (bool, string) {
	st := ro.Status
	switch {
	case st.Phase.EndedShort() || st.Phase == fleetv1alpha1.RolloutRollingBack || st.Phase == fleetv1alpha1.RolloutBlocked:
		return true, fmt.Sprintf("phase %s: %s", st.Phase, st.Message)
	case st.Phase == fleetv1alpha1.RolloutPaused:
		msg := st.Message
		if st.Pause != nil {
			msg = st.Pause.Message
		}
		return true, "paused: " + msg
	}
	return false, ""
}

// describe is one line about the Rollout's progress, for progress and timeout messages.
func describe(ro *fleetv1alpha1.Rollout) string {
	if ro == nil {
		return "no Rollout state seen yet"
	}
	st := ro.Status
	b := "-"
	if st.CurrentBatch != nil {
		b = fmt.Sprintf("%d (%s)", st.CurrentBatch.Number, st.CurrentBatch.Phase)
	}
	return fmt.Sprintf("phase %s, batch %s of %d, applied %d of %d targeted (replicas report %d), %s",
		cmp.Or(string(st.Phase), "-"), b, len(st.Plan), st.Counts.Applied, st.Counts.Targeted, replicaApplied(ro), cmp.Or(st.Message, "-"))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
