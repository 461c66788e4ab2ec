package fleet_test

import (
	"testing"
	"time"
	_ "time/tzdata" // the window tests need time zones whatever the host has installed

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/ampora-io/ampora/opampserver/fleet/fleettest"
)

func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestInAnyWindow(t *testing.T) {
	berlin := mustLocation(t, "Europe/Berlin")
	newYork := mustLocation(t, "America/New_York")
	kolkata := mustLocation(t, "Asia/Kolkata")
	// March 2026: the 2nd is a Monday, the 6th a Friday, the 7th a Saturday.
	utc := func(day, hh, mm int) time.Time { return time.Date(2026, 3, day, hh, mm, 0, 0, time.UTC) }
	in := func(loc *time.Location, month time.Month, day, hh, mm int) time.Time {
		return time.Date(2026, month, day, hh, mm, 0, 0, loc)
	}
	win := func(start, end string, days ...fleetv1alpha1.Weekday) fleetv1alpha1.TimeWindow {
		return fleetv1alpha1.TimeWindow{Start: start, End: end, Days: days}
	}
	inZone := func(w fleetv1alpha1.TimeWindow, zone string) fleetv1alpha1.TimeWindow {
		w.TimeZone = zone
		return w
	}
	workdays := []fleetv1alpha1.Weekday{"Mon", "Tue", "Wed", "Thu", "Fri"}
	office := win("09:00", "17:00", workdays...)
	night := win("22:00", "06:00")
	fridayNight := win("22:00", "02:00", "Fri")
	sundayNight := win("22:00", "02:00", "Sun")

	tests := []struct {
		name    string
		windows []fleetv1alpha1.TimeWindow
		now     time.Time
		want    bool
	}{
		{"no windows", nil, utc(2, 12, 0), false},
		{"day window: start is inside", []fleetv1alpha1.TimeWindow{win("09:00", "17:00")}, utc(2, 9, 0), true},
		{"day window: before the start", []fleetv1alpha1.TimeWindow{win("09:00", "17:00")}, utc(2, 8, 59), false},
		{"day window: last minute", []fleetv1alpha1.TimeWindow{win("09:00", "17:00")}, utc(2, 16, 59), true},
		{"day window: end is outside", []fleetv1alpha1.TimeWindow{win("09:00", "17:00")}, utc(2, 17, 0), false},
		{"seconds do not matter", []fleetv1alpha1.TimeWindow{win("09:00", "17:00")}, utc(2, 16, 59).Add(59 * time.Second), true},
		{"across midnight: before midnight", []fleetv1alpha1.TimeWindow{night}, utc(2, 23, 30), true},
		{"across midnight: at the start", []fleetv1alpha1.TimeWindow{night}, utc(2, 22, 0), true},
		{"across midnight: at midnight", []fleetv1alpha1.TimeWindow{night}, utc(3, 0, 0), true},
		{"across midnight: last minute", []fleetv1alpha1.TimeWindow{night}, utc(3, 5, 59), true},
		{"across midnight: at the end", []fleetv1alpha1.TimeWindow{night}, utc(3, 6, 0), false},
		{"across midnight: in the day", []fleetv1alpha1.TimeWindow{night}, utc(3, 21, 59), false},
		{"day list: a listed day", []fleetv1alpha1.TimeWindow{office}, utc(6, 10, 0), true},
		{"day list: an unlisted day", []fleetv1alpha1.TimeWindow{office}, utc(7, 10, 0), false},
		{"day list across midnight: on the day", []fleetv1alpha1.TimeWindow{fridayNight}, utc(6, 23, 0), true},
		{"day list across midnight: after midnight belongs to the day before", []fleetv1alpha1.TimeWindow{fridayNight}, utc(7, 1, 0), true},
		{"day list across midnight: early on the listed day belongs to the day before", []fleetv1alpha1.TimeWindow{fridayNight}, utc(6, 1, 0), false},
		{"day list across midnight: the next evening", []fleetv1alpha1.TimeWindow{fridayNight}, utc(7, 23, 0), false},
		{"day list across midnight: at the end", []fleetv1alpha1.TimeWindow{fridayNight}, utc(7, 2, 0), false},
		{"Sunday night runs into Monday", []fleetv1alpha1.TimeWindow{sundayNight}, utc(2, 1, 0), true},
		{"Saturday night is not Sunday night", []fleetv1alpha1.TimeWindow{sundayNight}, utc(8, 1, 0), false},
		{"time zone: inside in Berlin, outside in UTC", []fleetv1alpha1.TimeWindow{inZone(win("09:00", "17:00"), "Europe/Berlin")},
			time.Date(2026, 1, 15, 8, 30, 0, 0, time.UTC), true},
		{"time zone: outside in Berlin, inside in UTC", []fleetv1alpha1.TimeWindow{inZone(win("09:00", "17:00"), "Europe/Berlin")},
			time.Date(2026, 1, 15, 16, 30, 0, 0, time.UTC), false},
		{"time zone: the day is the zone's day", []fleetv1alpha1.TimeWindow{inZone(win("22:00", "02:00", "Mon"), "America/New_York")},
			in(newYork, time.March, 3, 1, 0), true}, // Tuesday 06:00 UTC
		{"time zone: Sunday evening in New York is Monday in UTC", []fleetv1alpha1.TimeWindow{inZone(win("22:00", "02:00", "Mon"), "America/New_York")},
			in(newYork, time.March, 1, 22, 0), false},
		{"time zone with a half-hour offset", []fleetv1alpha1.TimeWindow{inZone(win("09:00", "17:00"), "Asia/Kolkata")},
			in(kolkata, time.March, 2, 9, 0), true},
		{"the night clocks go forward belongs to the day before", []fleetv1alpha1.TimeWindow{inZone(sundayNight, "Europe/Berlin")},
			in(berlin, time.March, 30, 0, 30), true},
		{"the night clocks go back belongs to the day before", []fleetv1alpha1.TimeWindow{inZone(sundayNight, "Europe/Berlin")},
			in(berlin, time.October, 26, 0, 30), true},
		{"an unknown time zone is UTC", []fleetv1alpha1.TimeWindow{inZone(win("09:00", "17:00"), "Mars/Olympus_Mons")}, utc(2, 9, 30), true},
		{"a malformed window is skipped", []fleetv1alpha1.TimeWindow{win("9:00", "17:00")}, utc(2, 10, 0), false},
		{"a malformed end is skipped", []fleetv1alpha1.TimeWindow{win("09:00", "17h00")}, utc(2, 10, 0), false},
		{"any window will do", []fleetv1alpha1.TimeWindow{win("9:00", "17:00"), win("01:00", "02:00"), win("09:00", "11:00")}, utc(2, 10, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fleet.InAnyWindow(tt.windows, tt.now); got != tt.want {
				t.Errorf("inAnyWindow(%v, %s) = %v, want %v", tt.windows, tt.now.Format(time.RFC1123), got, tt.want)
			}
		})
	}
}

func TestDeniedBy(t *testing.T) {
	prod := map[string]string{"env": "prod", "service.name": "otelcol"}
	staging := map[string]string{"env": "staging", "service.name": "otelcol"}
	envIs := func(v string) fleetv1alpha1.AgentSelector {
		return fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": v}}
	}
	weekend := []fleetv1alpha1.TimeWindow{{Start: "00:00", End: "23:59", Days: []fleetv1alpha1.Weekday{"Sat", "Sun"}}}
	nightly := []fleetv1alpha1.TimeWindow{{Start: "02:00", End: "04:00"}}
	frozen := fleetv1alpha1.PushPolicy{Name: "frozen", Selector: envIs("prod"), Deny: fleetv1alpha1.DenyAlways}
	unset := fleetv1alpha1.PushPolicy{Name: "unset-mode", Selector: envIs("prod")}
	freeze := fleetv1alpha1.PushPolicy{Name: "weekend-freeze", Selector: envIs("prod"), Deny: fleetv1alpha1.DenyInsideWindows, Windows: weekend}
	maintenance := fleetv1alpha1.PushPolicy{Name: "maintenance", Selector: envIs("prod"), Deny: fleetv1alpha1.DenyOutsideWindows, Windows: nightly}
	empty := fleetv1alpha1.PushPolicy{Name: "empty-selector", Deny: fleetv1alpha1.DenyAlways}
	monday := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	mondayNight := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	saturday := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)

	tests := []struct {
		name     string
		policies []fleetv1alpha1.PushPolicy
		attrs    map[string]string
		now      time.Time
		want     string
	}{
		{"no policies", nil, prod, monday, ""},
		{"Always denies a selected agent", []fleetv1alpha1.PushPolicy{frozen}, prod, monday, "frozen"},
		{"Always leaves others alone", []fleetv1alpha1.PushPolicy{frozen}, staging, monday, ""},
		{"an unset mode denies always", []fleetv1alpha1.PushPolicy{unset}, prod, monday, "unset-mode"},
		{"InsideWindows denies inside", []fleetv1alpha1.PushPolicy{freeze}, prod, saturday, "weekend-freeze"},
		{"InsideWindows allows outside", []fleetv1alpha1.PushPolicy{freeze}, prod, monday, ""},
		{"OutsideWindows denies outside", []fleetv1alpha1.PushPolicy{maintenance}, prod, monday, "maintenance"},
		{"OutsideWindows allows inside", []fleetv1alpha1.PushPolicy{maintenance}, prod, mondayNight, ""},
		{"an empty selector selects nobody", []fleetv1alpha1.PushPolicy{empty}, prod, monday, ""},
		{"the first denying policy is named", []fleetv1alpha1.PushPolicy{freeze, maintenance, frozen}, prod, saturday, "weekend-freeze"},
		{"a later policy denies when earlier ones allow", []fleetv1alpha1.PushPolicy{freeze, maintenance, frozen}, prod, mondayNight, "frozen"},
		{"an agent without attributes", []fleetv1alpha1.PushPolicy{frozen}, nil, monday, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fleet.DeniedBy(tt.policies, tt.attrs, tt.now); got != tt.want {
				t.Errorf("deniedBy() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIncompatible(t *testing.T) {
	set := func(types ...string) map[string]struct{} {
		m := map[string]struct{}{}
		for _, typ := range types {
			m[typ] = struct{}{}
		}
		return m
	}
	have := map[string]map[string]struct{}{
		"receivers":  set("otlp", "hostmetrics"),
		"processors": set("batch"),
		"exporters":  set("otlp", "debug"),
	}
	tests := []struct {
		name     string
		required map[string][]string
		have     map[string]map[string]struct{}
		want     string
	}{
		{"nothing required", nil, have, ""},
		{"components not reported", map[string][]string{"receivers": {"otlp"}}, nil, ""},
		{"everything there", map[string][]string{"receivers": {"otlp"}, "processors": {"batch"}, "exporters": {"debug", "otlp"}}, have, ""},
		{"a missing type", map[string][]string{"exporters": {"otlp", "otlphttp"}}, have, "agent lacks component exporters/otlphttp"},
		{"a missing kind", map[string][]string{"extensions": {"health_check"}}, have, "agent lacks component extensions/health_check"},
		{"a missing connector", map[string][]string{"connectors": {"spanmetrics"}}, have, "agent lacks component connectors/spanmetrics"},
		{"kinds are checked in pipeline order", map[string][]string{"exporters": {"kafka"}, "receivers": {"kafka"}}, have, "agent lacks component receivers/kafka"},
		{"unknown kinds are not checked", map[string][]string{"widgets": {"x"}}, have, ""},
		{"reported but empty", map[string][]string{"receivers": {"otlp"}}, map[string]map[string]struct{}{}, "agent lacks component receivers/otlp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fleet.Incompatible(tt.required, tt.have); got != tt.want {
				t.Errorf("incompatible() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTarget(t *testing.T) {
	cfg := fleettest.Config(fleettest.CollectorBody)
	prev := fleettest.Config("receivers: {}\n")
	now := fleettest.Start
	agent := func(mutate ...func(*fleet.Agent)) *fleet.Agent {
		a := &fleet.Agent{UID: fleet.UIDString(fleettest.UID(7)), Capabilities: fleettest.CapsFull,
			Attributes: map[string]string{"service.name": "otelcol", "env": "prod"}}
		for _, m := range mutate {
			m(a)
		}
		return a
	}
	group := func(mutate ...func(*fleet.GroupView)) *fleet.GroupView {
		g := fleettest.RolloutGroup(cfg)
		for _, m := range mutate {
			m(g)
		}
		return g
	}
	// prodScope is a recorded scope that selects the agent by its attributes, less excluded.
	prodScope := func(excluded ...string) *fleetv1alpha1.AgentScope {
		return &fleetv1alpha1.AgentScope{AgentSelector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "prod"}},
			ExcludedInstanceUIDs: excluded}
	}
	tests := []struct {
		name       string
		view       *fleet.NSView
		agent      *fleet.Agent
		wantPush   *fleet.ConfigRef
		wantReason string
	}{
		{"no view", nil, agent(), nil, ""},
		{"no matching group", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Selector = fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "dev"}}
		})}}, agent(), nil, ""},
		{"two matching groups: a conflict", &fleet.NSView{Groups: []*fleet.GroupView{group(), group(func(g *fleet.GroupView) { g.Name = "other" })}}, agent(), nil, ""},
		{"excluded from the group", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) { g.Excluded[fleet.UIDString(fleettest.UID(7))] = struct{}{} })}}, agent(), nil, ""},
		{"admitted to a progressing rollout", &fleet.NSView{Groups: []*fleet.GroupView{group()}}, agent(), cfg, ""},
		{"admitted by rank, but outside the selector the rollout's approvals cover: nothing", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.Selector = &fleetv1alpha1.AgentScope{AgentSelector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "staging"}}}
		})}}, agent(), nil, ""},
		{"rolling back, outside the approved selector: nothing", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.Phase, g.Rollout.Previous = fleetv1alpha1.RolloutRollingBack, prev
			g.Rollout.Selector = &fleetv1alpha1.AgentScope{AgentSelector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "staging"}}}
		})}}, agent(), nil, ""},
		{"a new agent outside the selector the group's revision was rolled out under: nothing", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout, g.Current = nil, prev
			g.CurrentSelector = &fleetv1alpha1.AgentScope{AgentSelector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "staging"}}}
		})}}, agent(), nil, ""},
		{"a new agent the group excluded when its revision was rolled out, no longer excluded: nothing", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout, g.Current = nil, prev
			g.CurrentSelector = prodScope(fleet.UIDString(fleettest.UID(7)))
		})}}, agent(), nil, ""},
		{"a new agent within the scope the group's revision was rolled out under: the revision", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout, g.Current = nil, prev
			g.CurrentSelector = prodScope(fleet.UIDString(fleettest.UID(8)))
		})}}, agent(), prev, ""},
		{"admitted by rank, but excluded when the rollout's approvals covered the group: nothing", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.Selector = prodScope(fleet.UIDString(fleettest.UID(7)))
		})}}, agent(), nil, ""},
		{"rolling back, excluded when the previous revision was rolled out: withdrawn", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.Phase, g.Rollout.Previous = fleetv1alpha1.RolloutRollingBack, prev
			g.Rollout.PreviousSelector = prodScope(fleet.UIDString(fleettest.UID(7)))
		})}}, agent(), fleet.Withdrawal, ""},
		{"not admitted yet: nothing", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) { g.Rollout.ToRank = "" })}}, agent(), nil, ""},
		{"not admitted, new agent: the group's revision", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.ToRank, g.Current = "", prev
		})}}, agent(), prev, ""},
		{"not admitted, agent with a remote config: nothing", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.ToRank, g.Current = "", prev
		})}}, agent(func(a *fleet.Agent) { a.StatusHash = "ab" }), nil, ""},
		{"rolling back: the previous revision", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.Phase, g.Rollout.Previous = fleetv1alpha1.RolloutRollingBack, prev
		})}}, agent(), prev, ""},
		{"paused: not offered to a new agent", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.Phase = fleetv1alpha1.RolloutPaused
		})}}, agent(), nil, ""},
		{"paused: still offered to an agent it was offered to", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.Phase = fleetv1alpha1.RolloutPaused
		})}}, agent(func(a *fleet.Agent) { a.OfferedHash = cfg.Hash }), cfg, ""},
		{"denied by a push policy", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Policies = []fleetv1alpha1.PushPolicy{{Name: "frozen", Deny: fleetv1alpha1.DenyAlways,
				Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"env": "prod"}}}}
		})}}, agent(), nil, "denied: frozen"},
		{"incompatible", &fleet.NSView{Groups: []*fleet.GroupView{group(func(g *fleet.GroupView) {
			g.Rollout.Required = map[string][]string{"receivers": {"otlp"}}
		})}}, agent(func(a *fleet.Agent) { a.Components = map[string]map[string]struct{}{"receivers": {}} }), nil,
			"incompatible: agent lacks component receivers/otlp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.view.Target(tt.agent, now)
			if got.Push != tt.wantPush {
				t.Errorf("push = %v, want %v", got.Push, tt.wantPush)
			}
			reason := ""
			switch {
			case got.Denied != "":
				reason = "denied: " + got.Denied
			case got.Incompatible != "":
				reason = "incompatible: " + got.Incompatible
			}
			if reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", reason, tt.wantReason)
			}
		})
	}
}

func TestShouldSendWithdrawal(t *testing.T) {
	tests := []struct {
		name  string
		agent fleet.Agent
		want  bool
	}{
		{"an agent without a remote config has nothing to withdraw",
			fleet.Agent{Capabilities: fleettest.CapsFull}, false},
		{"an agent with a remote config is sent the withdrawal",
			fleet.Agent{Capabilities: fleettest.CapsFull, StatusHash: "ab", Status: fleettest.Applied}, true},
		{"not twice on one session",
			fleet.Agent{Capabilities: fleettest.CapsFull, StatusHash: "ab", Status: fleettest.Applied, OfferedHash: fleet.Withdrawal.Hash, OfferedAt: fleettest.Start, SentAt: fleettest.Start.UnixNano(), SentConn: 1, ConnSeq: 1}, false},
		{"again on a new session",
			fleet.Agent{Capabilities: fleettest.CapsFull, StatusHash: "ab", Status: fleettest.Applied, OfferedHash: fleet.Withdrawal.Hash, OfferedAt: fleettest.Start, SentAt: fleettest.Start.UnixNano(), SentConn: 1, ConnSeq: 2}, true},
		{"not to an agent that applied it",
			fleet.Agent{Capabilities: fleettest.CapsFull, StatusHash: fleet.Withdrawal.Hash, Status: fleettest.Applied}, false},
		{"never without AcceptsRemoteConfig",
			fleet.Agent{Capabilities: fleettest.CapsReadOnly, StatusHash: "ab", Status: fleettest.Applied}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.agent
			if got := fleet.ShouldSend(&a, fleet.Withdrawal, time.Time{}, fleettest.Start.Add(time.Second)); got != tt.want {
				t.Errorf("shouldSend(withdrawal) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestShouldSendWithoutRemoteConfigStatus(t *testing.T) {
	cfg := fleettest.Config(fleettest.CollectorBody)
	// An agent that does not report remote config status but already runs the config (by its
	// effective config) is not sent it.
	a := &fleet.Agent{Capabilities: fleet.CapAcceptsRemoteConfig | fleet.CapReportsEffective, EffectiveHash: cfg.Hash}
	if fleet.ShouldSend(a, cfg, time.Time{}, fleettest.Start) {
		t.Error("sent a config the agent runs already")
	}
	a.EffectiveHash = "other"
	if !fleet.ShouldSend(a, cfg, time.Time{}, fleettest.Start) {
		t.Error("did not send a config the agent does not run")
	}
	if a.OfferedHash != cfg.Hash || !a.OfferedAt.Equal(fleettest.Start) {
		t.Errorf("offer recorded as %q at %v", a.OfferedHash, a.OfferedAt)
	}
}
