package opampserver

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/internal/selector"
)

// resendAfter is how long an offer stays unanswered on one session before it is sent again.
const resendAfter = 30 * time.Second

func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }

// target is what one agent should run, and why.
type target struct {
	group     *groupView
	conflicts []string
	rollout   *rolloutView
	rank      string
	admitted  bool
	inBatch   bool
	// desired is the hash the agent is verified against while admitted.
	desired string
	// push is the config to offer now; nil offers nothing.
	push *configRef
	// denied names the push policy that denies the push; incompatible says what the agent lacks.
	denied       string
	incompatible string
}

// target works out what agent a should run. No agent ever flips between two configs: outside
// a rollout's admitted set an agent is only offered its group's revision when it has no remote
// config at all (it just joined), and inside it only the rollout's config (or, while rolling
// back, the previous one).
func (v *nsView) target(a *Agent, now time.Time) target {
	var t target
	if v == nil {
		return t
	}
	for _, g := range v.groups {
		if g.matches(a) {
			if t.group == nil {
				t.group = g
			}
			t.conflicts = append(t.conflicts, g.name)
		}
	}
	if len(t.conflicts) != 1 {
		// None, or a conflict: the agent keeps what it has.
		t.group = nil
		if len(t.conflicts) < 2 {
			t.conflicts = nil
		}
		return t
	}
	t.conflicts = nil
	g := t.group
	if r := g.rollout; r != nil && inScope(r.selector, a) {
		t.rank = membership.Rank(r.config.hash, a.UID)
		if membership.Admitted(t.rank, r.toRank) {
			t.rollout, t.admitted = r, true
			t.inBatch = membership.InBatch(t.rank, r.fromRank, r.toRank)
			if r.phase == fleetv1alpha1.RolloutRollingBack {
				switch {
				case !inScope(r.previousSelector, a):
					// The previous revision was never rolled out to this agent: it returns to
					// its local config instead.
					t.desired, t.push = withdrawal.hash, withdrawal
				case r.previous != nil:
					t.desired, t.push = r.previous.hash, r.previous
				}
				return t
			}
			t.desired = r.config.hash
			if p := deniedBy(g.policies, a.Attributes, now); p != "" {
				t.denied = p
				return t
			}
			if reason, known := compatible(r.required, a); !known {
				return t // the agent reports its components but has not sent them yet: wait
			} else if reason != "" {
				t.incompatible = reason
				return t
			}
			if r.phase == fleetv1alpha1.RolloutPaused && a.OfferedHash != r.config.hash {
				// Paused: no further agent is offered the config.
				return t
			}
			t.push = r.config
			return t
		}
	}
	if g.current != nil && a.StatusHash == "" && a.OfferedHash == "" && a.EffectiveHash != g.current.hash &&
		inScope(g.currentSelector, a) {
		// A new agent gets the group's revision, unless a push policy denies it, it could not
		// run it, or the group's selector widened (or an exclusion was removed) since the
		// revision was rolled out.
		if reason, known := compatible(g.currentRequired, a); known && reason == "" && deniedBy(g.policies, a.Attributes, now) == "" {
			t.push = g.current
		}
	}
	return t
}

// compatible says what required component the agent lacks ("" for none); known is false
// while an agent that reports its components has not sent them yet.
func compatible(required map[string][]string, a *Agent) (reason string, known bool) {
	if len(required) > 0 && a.Capabilities&capReportsComponents != 0 && a.Components == nil {
		return "", false
	}
	return incompatible(required, a.Components), true
}

// shouldSend decides whether to send push to a now, and records the offer when it does.
func shouldSend(a *Agent, push *configRef, retryAt, now time.Time) bool {
	if push == nil || a.Capabilities&capAcceptsRemoteConfig == 0 {
		return false
	}
	if push == withdrawal && a.StatusHash == "" {
		return false // it runs no remote config: nothing to withdraw
	}
	{
		if a.StatusHash == push.hash && a.Status != protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED {
			return false // has it, or is applying it
		}
		if a.Capabilities&capReportsRemoteConfig == 0 && a.EffectiveHash == push.hash {
			return false
		}
		if f, ok := a.failures[push.hash]; ok {
			if !retryAt.After(f.at) {
				return false // never re-offer a hash the agent failed, unless a retry came after
			}
			// The retry is a new offer: send it now, even on the session the failed offer went
			// out on, and time the apply from now.
			delete(a.failures, push.hash)
			a.OfferedAt = time.Time{}
		}
	}
	if a.OfferedHash == push.hash && !a.OfferedAt.IsZero() && a.sentConn == a.connSeq && now.UnixNano()-a.sentAt < int64(resendAfter) {
		return false
	}
	if a.OfferedHash != push.hash || a.OfferedAt.IsZero() {
		a.OfferedHash, a.OfferedAt = push.hash, now
	}
	a.sentAt, a.sentConn = now.UnixNano(), a.connSeq
	return true
}

// deniedBy returns the name of the first push policy that denies a push to an agent with
// these attributes now, or "".
func deniedBy(policies []fleetv1alpha1.PushPolicy, attrs map[string]string, now time.Time) string {
	for _, p := range policies {
		if !selector.Matches(p.Selector, attrs) {
			continue
		}
		switch p.Deny {
		case fleetv1alpha1.DenyInsideWindows:
			if inAnyWindow(p.Windows, now) {
				return p.Name
			}
		case fleetv1alpha1.DenyOutsideWindows:
			if !inAnyWindow(p.Windows, now) {
				return p.Name
			}
		default:
			return p.Name
		}
	}
	return ""
}

var zones sync.Map // time zone name -> *time.Location

func location(name string) *time.Location {
	if name == "" || name == "UTC" {
		return time.UTC
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		// The CRD's pattern admits names the time-zone database lacks: those are UTC, and only
		// a bounded number of them is remembered, so that an editor who keeps writing new ones
		// cannot grow the sidecar's memory. Valid names are as many as the database holds.
		if unknownZones.Add(1) > maxUnknownZones {
			unknownZones.Add(-1)
			return time.UTC
		}
		l = time.UTC
	}
	zones.Store(name, l)
	return l
}

// maxUnknownZones bounds the time-zone names location remembers as unknown.
const maxUnknownZones = 256

// unknownZones counts the unknown names in zones.
var unknownZones atomic.Int64

// inAnyWindow says whether now lies in one of the windows. A window whose end is before its
// start runs past midnight and belongs to the day it starts on.
func inAnyWindow(windows []fleetv1alpha1.TimeWindow, now time.Time) bool {
	for _, w := range windows {
		start, err1 := minutes(w.Start)
		end, err2 := minutes(w.End)
		if err1 != nil || err2 != nil {
			continue
		}
		t := now.In(location(w.TimeZone))
		m := t.Hour()*60 + t.Minute()
		switch {
		case start < end:
			if m >= start && m < end && onDay(w.Days, t.Weekday()) {
				return true
			}
		default:
			if m >= start && onDay(w.Days, t.Weekday()) {
				return true
			}
			// The day before by the calendar: 24 hours back is two days back after a
			// 23-hour day (clocks going forward).
			if m < end && onDay(w.Days, (t.Weekday()+6)%7) {
				return true
			}
		}
	}
	return false
}

func minutes(hhmm string) (int, error) {
	if len(hhmm) != 5 || hhmm[2] != ':' {
		return 0, fmt.Errorf("bad time %q", hhmm)
	}
	h, err := strconv.Atoi(hhmm[:2])
	if err != nil {
		return 0, err
	}
	m, err := strconv.Atoi(hhmm[3:])
	if err != nil {
		return 0, err
	}
	return h*60 + m, nil
}

func onDay(days []fleetv1alpha1.Weekday, d time.Weekday) bool {
	if len(days) == 0 {
		return true
	}
	name := fleetv1alpha1.Weekday(d.String()[:3])
	for _, x := range days {
		if x == name {
			return true
		}
	}
	return false
}

// incompatible says which required component an agent lacks, by its AvailableComponents; ""
// when it has them all or does not report its components.
func incompatible(required map[string][]string, have map[string]map[string]struct{}) string {
	if len(required) == 0 || have == nil {
		return ""
	}
	for _, kind := range []string{"receivers", "processors", "exporters", "connectors", "extensions"} {
		for _, typ := range required[kind] {
			if _, ok := have[kind][typ]; !ok {
				return fmt.Sprintf("agent lacks component %s/%s", kind, typ)
			}
		}
	}
	return ""
}
