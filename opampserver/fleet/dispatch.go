package fleet

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

// ResendAfter is how long an offer stays unanswered on one session before it is sent again.
const ResendAfter = 30 * time.Second

// HexDecode decodes a config hash to the bytes OpAMP carries.
func HexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }

// Target is what one agent should run, and why.
type Target struct {
	Group     *GroupView
	Conflicts []string
	Rollout   *RolloutView
	Rank      string
	Admitted  bool
	InBatch   bool
	// Desired is the hash the agent is verified against while admitted.
	Desired string
	// Push is the config to offer now; nil offers nothing.
	Push *ConfigRef
	// Denied names the push policy that denies the push; incompatible says what the agent lacks.
	Denied       string
	Incompatible string
}

// Target works out what agent a should run. No agent ever flips between two configs: outside
// a rollout's admitted set an agent is only offered its group's revision when it has no remote
// config at all (it just joined), and inside it only the rollout's config (or, while rolling
// back, the previous one).
func (v *NSView) Target(a *Agent, now time.Time) Target {
	var t Target
	if v == nil {
		return t
	}
	for _, g := range v.Groups {
		if g.matches(a) {
			if t.Group == nil {
				t.Group = g
			}
			t.Conflicts = append(t.Conflicts, g.Name)
		}
	}
	if len(t.Conflicts) != 1 {
		// None, or a conflict: the agent keeps what it has.
		t.Group = nil
		if len(t.Conflicts) < 2 {
			t.Conflicts = nil
		}
		return t
	}
	t.Conflicts = nil
	g := t.Group
	if r := g.Rollout; r != nil && inScope(r.Selector, a) {
		t.Rank = membership.Rank(r.Config.Hash, a.UID)
		if membership.Admitted(t.Rank, r.ToRank) {
			t.Rollout, t.Admitted = r, true
			t.InBatch = membership.InBatch(t.Rank, r.FromRank, r.ToRank)
			if r.Phase == fleetv1alpha1.RolloutRollingBack {
				switch {
				case !inScope(r.PreviousSelector, a):
					// The previous revision was never rolled out to this agent: it returns to
					// its local config instead.
					t.Desired, t.Push = Withdrawal.Hash, Withdrawal
				case r.Previous != nil:
					t.Desired, t.Push = r.Previous.Hash, r.Previous
				}
				return t
			}
			t.Desired = r.Config.Hash
			if p := DeniedBy(g.Policies, a.Attributes, now); p != "" {
				t.Denied = p
				return t
			}
			if reason, known := compatible(r.Required, a); !known {
				return t // the agent reports its components but has not sent them yet: wait
			} else if reason != "" {
				t.Incompatible = reason
				return t
			}
			if r.Phase == fleetv1alpha1.RolloutPaused && a.OfferedHash != r.Config.Hash {
				// Paused: no further agent is offered the config.
				return t
			}
			t.Push = r.Config
			return t
		}
	}
	if g.Current != nil && a.StatusHash == "" && a.OfferedHash == "" && a.EffectiveHash != g.Current.Hash &&
		inScope(g.CurrentSelector, a) {
		// A new agent gets the group's revision, unless a push policy denies it, it could not
		// run it, or the group's selector widened (or an exclusion was removed) since the
		// revision was rolled out.
		if reason, known := compatible(g.CurrentRequired, a); known && reason == "" && DeniedBy(g.Policies, a.Attributes, now) == "" {
			t.Push = g.Current
		}
	}
	return t
}

// compatible says what required component the agent lacks ("" for none); known is false
// while an agent that reports its components has not sent them yet.
func compatible(required map[string][]string, a *Agent) (reason string, known bool) {
	if len(required) > 0 && a.Capabilities&CapReportsComponents != 0 && a.Components == nil {
		return "", false
	}
	return Incompatible(required, a.Components), true
}

// ShouldSend decides whether to send push to a now, and records the offer when it does.
func ShouldSend(a *Agent, push *ConfigRef, retryAt, now time.Time) bool {
	if push == nil || a.Capabilities&CapAcceptsRemoteConfig == 0 {
		return false
	}
	if push == Withdrawal && a.StatusHash == "" {
		return false // it runs no remote config: nothing to withdraw
	}
	{
		if a.StatusHash == push.Hash && a.Status != protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED {
			return false // has it, or is applying it
		}
		if a.Capabilities&CapReportsRemoteConfig == 0 && a.EffectiveHash == push.Hash {
			return false
		}
		if f, ok := a.Failures[push.Hash]; ok {
			if !retryAt.After(f.At) {
				return false // never re-offer a hash the agent failed, unless a retry came after
			}
			// The retry is a new offer: send it now, even on the session the failed offer went
			// out on, and time the apply from now.
			delete(a.Failures, push.Hash)
			a.OfferedAt = time.Time{}
		}
	}
	if a.OfferedHash == push.Hash && !a.OfferedAt.IsZero() && a.SentConn == a.ConnSeq && now.UnixNano()-a.SentAt < int64(ResendAfter) {
		return false
	}
	if a.OfferedHash != push.Hash || a.OfferedAt.IsZero() {
		a.OfferedHash, a.OfferedAt = push.Hash, now
	}
	a.SentAt, a.SentConn = now.UnixNano(), a.ConnSeq
	return true
}

// DeniedBy returns the name of the first push policy that denies a push to an agent with
// these attributes now, or "".
func DeniedBy(policies []fleetv1alpha1.PushPolicy, attrs map[string]string, now time.Time) string {
	for _, p := range policies {
		if !selector.Matches(p.Selector, attrs) {
			continue
		}
		switch p.Deny {
		case fleetv1alpha1.DenyInsideWindows:
			if InAnyWindow(p.Windows, now) {
				return p.Name
			}
		case fleetv1alpha1.DenyOutsideWindows:
			if !InAnyWindow(p.Windows, now) {
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

// InAnyWindow says whether now lies in one of the windows. A window whose end is before its
// start runs past midnight and belongs to the day it starts on.
func InAnyWindow(windows []fleetv1alpha1.TimeWindow, now time.Time) bool {
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

// Incompatible says which required component an agent lacks, by its AvailableComponents; ""
// when it has them all or does not report its components.
func Incompatible(required map[string][]string, have map[string]map[string]struct{}) string {
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

// Verdict is the verified state of an agent this target admits to a rollout.
func (t Target) Verdict(a *Agent, now time.Time) Verdict {
	r := t.Rollout
	switch {
	case t.Denied != "":
		return Verdict{State: fleetv1alpha1.AgentDenied, Message: "denied by push policy " + t.Denied}
	case t.Incompatible != "":
		return Verdict{State: fleetv1alpha1.AgentIncompatible, Message: t.Incompatible}
	}
	admittedAt := r.Started
	if t.InBatch {
		admittedAt = r.BatchStart
	}
	if a.Connected && a.ConnectedSince.After(admittedAt) {
		admittedAt = a.ConnectedSince
	}
	return Verify(a.Observation(t.Desired, admittedAt), t.Desired, r.ApplyTimeout, r.DisconnectGrace, now)
}
