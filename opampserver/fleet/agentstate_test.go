package fleet_test

import (
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

func TestVerify(t *testing.T) {
	const (
		desired = "new"
		old     = "old"
		full    = fleet.CapReportsStatus | fleet.CapAcceptsRemoteConfig | fleet.CapReportsRemoteConfig | fleet.CapReportsHealth | fleet.CapReportsEffective
		noRCS   = fleet.CapReportsStatus | fleet.CapAcceptsRemoteConfig | fleet.CapReportsEffective
		timeout = 5 * time.Minute
	)
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	applied := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
	applying := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING
	failed := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED

	tests := []struct {
		name    string
		obs     fleet.Observation
		now     time.Time
		want    fleetv1alpha1.AgentState
		wantMsg string
	}{
		{"admitted, not offered yet", fleet.Observation{Capabilities: full, Connected: true, AdmittedAt: t0}, t0.Add(time.Second),
			fleetv1alpha1.AgentPending, ""},
		{"offered, nothing reported", fleet.Observation{Capabilities: full, Connected: true, AdmittedAt: t0, OfferedAt: t0, StatusHash: old, Status: applied},
			t0.Add(time.Second), fleetv1alpha1.AgentApplying, ""},
		{"APPLYING for the desired hash", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, StatusHash: desired, Status: applying, StatusSince: t0},
			t0.Add(time.Second), fleetv1alpha1.AgentApplying, ""},
		{"APPLIED for the desired hash", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, StatusHash: desired, Status: applied, StatusSince: t0, HealthReported: true, Healthy: true},
			t0.Add(time.Second), fleetv1alpha1.AgentApplied, ""},
		{"already on the desired hash before any offer", fleet.Observation{Capabilities: full, Connected: true, AdmittedAt: t0, StatusHash: desired, Status: applied, StatusSince: t0.Add(-time.Hour)},
			t0, fleetv1alpha1.AgentApplied, ""},
		{"APPLIED for the old hash only", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, StatusHash: old, Status: applied, StatusSince: t0},
			t0.Add(time.Minute), fleetv1alpha1.AgentApplying, ""},
		{"APPLIED but unhealthy", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, StatusHash: desired, Status: applied, StatusSince: t0, HealthReported: true, Healthy: false, HealthError: "exporter otlp: connection refused"},
			t0.Add(time.Second), fleetv1alpha1.AgentUnhealthy, "exporter otlp: connection refused"},
		{"unhealthy report ignored without ReportsHealth", fleet.Observation{Capabilities: full &^ fleet.CapReportsHealth, Connected: true, StatusHash: desired, Status: applied, HealthReported: true, Healthy: false},
			t0, fleetv1alpha1.AgentApplied, ""},
		{"FAILED for the desired hash", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, StatusHash: desired, Status: failed, StatusError: "unknown exporter \"otlpx\"", StatusSince: t0},
			t0.Add(time.Second), fleetv1alpha1.AgentFailed, "unknown exporter \"otlpx\""},
		{"APPLIED for the old hash after FAILED for the new one", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, StatusHash: old, Status: applied, FailedForDesired: true, FailedError: "bad config"},
			t0.Add(time.Second), fleetv1alpha1.AgentFailed, "bad config"},
		{"no ReportsRemoteConfig, effective config matches", fleet.Observation{Capabilities: noRCS, Connected: true, OfferedAt: t0, EffectiveHash: desired},
			t0.Add(time.Second), fleetv1alpha1.AgentApplied, ""},
		{"no ReportsRemoteConfig, effective config differs", fleet.Observation{Capabilities: noRCS, Connected: true, OfferedAt: t0, EffectiveHash: old},
			t0.Add(time.Second), fleetv1alpha1.AgentUnverifiable, "agent does not report remote config status and its effective config differs"},
		{"no ReportsRemoteConfig and never offered", fleet.Observation{Capabilities: noRCS, Connected: true, AdmittedAt: t0, EffectiveHash: old},
			t0.Add(time.Second), fleetv1alpha1.AgentPending, ""},
		{"disconnected after the push", fleet.Observation{Capabilities: full, OfferedAt: t0, DisconnectedAt: t0.Add(time.Second)},
			t0.Add(2 * time.Second), fleetv1alpha1.AgentDisconnected, "session lost after the push"},
		{"disconnected while applying", fleet.Observation{Capabilities: full, OfferedAt: t0, StatusHash: desired, Status: applying, StatusSince: t0, DisconnectedAt: t0.Add(time.Second)},
			t0.Add(2 * time.Second), fleetv1alpha1.AgentDisconnected, "session lost while applying"},
		{"reconnected after the push carries on", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, DisconnectedAt: t0.Add(time.Second)},
			t0.Add(2 * time.Second), fleetv1alpha1.AgentApplying, ""},
		{"disconnected before the push is not a push failure", fleet.Observation{Capabilities: full, AdmittedAt: t0, DisconnectedAt: t0.Add(-time.Minute)},
			t0.Add(time.Second), fleetv1alpha1.AgentPending, ""},
		{"applying past the timeout", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, StatusHash: desired, Status: applying, StatusSince: t0},
			t0.Add(timeout + time.Second), fleetv1alpha1.AgentTimedOut, "applying for longer than the apply timeout"},
		{"offered, silent past the timeout", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0},
			t0.Add(timeout + time.Second), fleetv1alpha1.AgentTimedOut, "no APPLIED within the apply timeout"},
		{"pending with no session past the timeout", fleet.Observation{Capabilities: full, AdmittedAt: t0},
			t0.Add(timeout + time.Second), fleetv1alpha1.AgentTimedOut, "no live session within the apply timeout"},
		{"exactly at the timeout is not yet timed out", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0},
			t0.Add(timeout), fleetv1alpha1.AgentApplying, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fleet.Verify(tt.obs, desired, timeout, 0, tt.now)
			if got.State != tt.want || got.Message != tt.wantMsg {
				t.Errorf("Verify() = %s %q, want %s %q", got.State, got.Message, tt.want, tt.wantMsg)
			}
			if fleet.Final(got.State) == (got.State == fleetv1alpha1.AgentPending || got.State == fleetv1alpha1.AgentApplying) {
				t.Errorf("Final(%s) is wrong", got.State)
			}
		})
	}
}

// A collector restarts on a config reload: a session lost after the push counts only once the
// grace passed without the agent coming back.
func TestVerifyDisconnectGrace(t *testing.T) {
	const (
		desired = "new"
		full    = fleet.CapReportsStatus | fleet.CapAcceptsRemoteConfig | fleet.CapReportsRemoteConfig | fleet.CapReportsHealth | fleet.CapReportsEffective
		timeout = 5 * time.Minute
	)
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	applied := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
	applying := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING
	tests := []struct {
		name    string
		obs     fleet.Observation
		now     time.Time
		want    fleetv1alpha1.AgentState
		wantMsg string
		grace   time.Duration
	}{
		{"a session lost after the push, within the grace: still applying (a collector restarting)", fleet.Observation{Capabilities: full, OfferedAt: t0, DisconnectedAt: t0.Add(time.Second)},
			t0.Add(20 * time.Second), fleetv1alpha1.AgentApplying, "", 30 * time.Second},
		{"a session lost after the push, past the grace: disconnected", fleet.Observation{Capabilities: full, OfferedAt: t0, DisconnectedAt: t0.Add(time.Second)},
			t0.Add(31 * time.Second), fleetv1alpha1.AgentDisconnected, "session lost after the push", 30 * time.Second},
		{"a session lost while applying, within the grace: still applying", fleet.Observation{Capabilities: full, OfferedAt: t0, StatusHash: desired, Status: applying, StatusSince: t0, DisconnectedAt: t0.Add(time.Second)},
			t0.Add(10 * time.Second), fleetv1alpha1.AgentApplying, "", 30 * time.Second},
		{"back within the grace with APPLIED: applied", fleet.Observation{Capabilities: full, Connected: true, OfferedAt: t0, StatusHash: desired, Status: applied, StatusSince: t0.Add(5 * time.Second), DisconnectedAt: t0.Add(time.Second)},
			t0.Add(6 * time.Second), fleetv1alpha1.AgentApplied, "", 30 * time.Second},
		{"the grace does not outlast the apply timeout", fleet.Observation{Capabilities: full, OfferedAt: t0, DisconnectedAt: t0.Add(timeout - time.Second)},
			t0.Add(timeout + time.Second), fleetv1alpha1.AgentTimedOut, "no APPLIED within the apply timeout", 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fleet.Verify(tt.obs, desired, timeout, tt.grace, tt.now)
			if got.State != tt.want || got.Message != tt.wantMsg {
				t.Errorf("Verify() = %s %q, want %s %q", got.State, got.Message, tt.want, tt.wantMsg)
			}
		})
	}
}
