package fleet

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/open-telemetry/opamp-go/protobufs"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Capability bits this server reads (AgentCapabilities in the OpAMP spec).
const (
	CapReportsStatus       = uint64(protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus)
	CapAcceptsRemoteConfig = uint64(protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig)
	CapReportsEffective    = uint64(protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig)
	CapReportsHealth       = uint64(protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth)
	CapReportsRemoteConfig = uint64(protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig)
	CapReportsComponents   = uint64(protobufs.AgentCapabilities_AgentCapabilities_ReportsAvailableComponents)
)

// Observation is what one agent has told the server, as far as verifying one desired config
// hash goes. It is a plain value so that the verdict is a pure function of it.
type Observation struct {
	Capabilities uint64

	// Connected is true while the agent has a live session (WebSocket open, or an HTTP poll
	// recent enough). DisconnectedAt is when the last session ended.
	Connected      bool
	DisconnectedAt time.Time

	// RemoteConfigStatus as last reported, with when that status was entered.
	StatusHash  string
	Status      protobufs.RemoteConfigStatuses
	StatusError string
	StatusSince time.Time

	// FailedError holds the error_message of a FAILED report for the desired hash, kept even
	// after the agent goes back to reporting its old hash as APPLIED.
	FailedForDesired bool
	FailedError      string

	// HealthReported is true once the agent sent health; Healthy and HealthError are its last.
	HealthReported bool
	Healthy        bool
	HealthError    string

	// EffectiveHash is the hash of the effective config body the agent last reported.
	EffectiveHash string

	// OfferedAt is when the desired config was first offered to the agent; zero if never.
	OfferedAt time.Time
	// AdmittedAt is when the agent became due for the desired config (its batch started).
	AdmittedAt time.Time
}

// Verdict is the verified state of one agent for one desired hash.
type Verdict struct {
	State   fleetv1alpha1.AgentState
	Message string
	Since   time.Time
}

// Final says whether a state ends the agent's part in a batch.
func Final(s fleetv1alpha1.AgentState) bool {
	switch s {
	case fleetv1alpha1.AgentPending, fleetv1alpha1.AgentApplying:
		return false
	}
	return true
}

// Verify works out the verified state of an agent for the desired hash, never trusting one
// field alone: APPLIED counts only for the desired hash, a FAILED for it sticks, an agent
// that cannot report remote config status is judged by its effective config, a session lost
// after the push counts only once grace has passed without the agent coming back (collectors
// restart on a reload), and nothing stays pending or applying past the apply timeout.
func Verify(o Observation, desired string, applyTimeout, grace time.Duration, now time.Time) Verdict {
	lost := func(since time.Time) bool {
		return !o.Connected && o.DisconnectedAt.After(since) && now.Sub(o.DisconnectedAt) >= grace
	}
	if o.FailedForDesired || (o.StatusHash == desired && o.Status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED) {
		msg := o.FailedError
		if msg == "" && o.StatusHash == desired {
			msg = o.StatusError
		}
		return Verdict{State: fleetv1alpha1.AgentFailed, Message: msg, Since: o.StatusSince}
	}

	if o.Capabilities&CapReportsRemoteConfig == 0 {
		// A capability mismatch: the agent will never say APPLYING or APPLIED. Its effective
		// config is the only evidence.
		if o.EffectiveHash == desired {
			return healthVerdict(o, o.StatusSince)
		}
		if !o.OfferedAt.IsZero() {
			return Verdict{State: fleetv1alpha1.AgentUnverifiable,
				Message: "agent does not report remote config status and its effective config differs", Since: o.OfferedAt}
		}
	} else if o.StatusHash == desired {
		switch o.Status {
		case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED:
			return healthVerdict(o, o.StatusSince)
		case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING:
			if lost(o.StatusSince) {
				return Verdict{State: fleetv1alpha1.AgentDisconnected, Message: "session lost while applying", Since: o.DisconnectedAt}
			}
			if applyTimeout > 0 && now.Sub(o.StatusSince) > applyTimeout {
				return Verdict{State: fleetv1alpha1.AgentTimedOut, Message: "applying for longer than the apply timeout", Since: o.StatusSince.Add(applyTimeout)}
			}
			return Verdict{State: fleetv1alpha1.AgentApplying, Since: o.StatusSince}
		}
	}

	if !o.OfferedAt.IsZero() {
		if lost(o.OfferedAt) {
			return Verdict{State: fleetv1alpha1.AgentDisconnected, Message: "session lost after the push", Since: o.DisconnectedAt}
		}
		if applyTimeout > 0 && now.Sub(o.OfferedAt) > applyTimeout {
			return Verdict{State: fleetv1alpha1.AgentTimedOut, Message: "no APPLIED within the apply timeout", Since: o.OfferedAt.Add(applyTimeout)}
		}
		return Verdict{State: fleetv1alpha1.AgentApplying, Since: o.OfferedAt}
	}

	// Admitted but not offered yet: no live session, or a paused rollout.
	if !o.AdmittedAt.IsZero() && applyTimeout > 0 && now.Sub(o.AdmittedAt) > applyTimeout {
		msg := "not offered the config within the apply timeout"
		if !o.Connected {
			msg = "no live session within the apply timeout"
		}
		return Verdict{State: fleetv1alpha1.AgentTimedOut, Message: msg, Since: o.AdmittedAt.Add(applyTimeout)}
	}
	return Verdict{State: fleetv1alpha1.AgentPending, Since: o.AdmittedAt}
}

// healthVerdict is Applied, or Unhealthy where the agent reports health and says it is not.
func healthVerdict(o Observation, since time.Time) Verdict {
	if o.Capabilities&CapReportsHealth != 0 && o.HealthReported && !o.Healthy {
		return Verdict{State: fleetv1alpha1.AgentUnhealthy, Message: o.HealthError, Since: since}
	}
	return Verdict{State: fleetv1alpha1.AgentApplied, Since: since}
}

// FailedAgent is the agent as a status's failed sample names it, in its verified state v.
func (a *Agent) FailedAgent(v Verdict) fleetv1alpha1.FailedAgent {
	fa := fleetv1alpha1.FailedAgent{
		InstanceUID: a.UID, State: v.State, ServiceName: a.Attributes["service.name"],
		ServiceVersion: a.Attributes["service.version"], HostName: a.Attributes["host.name"],
		Message: v.Message, Since: StatusTime(v.Since),
	}
	return fa
}

// StatusTime is t as status holds times, to the second; nil for the zero time.
func StatusTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}
