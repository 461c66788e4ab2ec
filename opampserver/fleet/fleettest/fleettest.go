// Package fleettest holds the fixtures the fleet's tests and the sidecar's share: instance
// UIDs, capability sets, a config revision and a group whose rollout admits every agent.
package fleettest

import (
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/opampserver/fleet"
)

// Start is the fake clocks' initial time.
var Start = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// Capability sets of the test agents.
const (
	CapsFull     = fleet.CapReportsStatus | fleet.CapAcceptsRemoteConfig | fleet.CapReportsRemoteConfig | fleet.CapReportsEffective | fleet.CapReportsHealth | fleet.CapReportsComponents
	CapsReadOnly = fleet.CapReportsStatus | fleet.CapReportsRemoteConfig | fleet.CapReportsEffective | fleet.CapReportsHealth
)

// MaxRank is the highest rank: a batch that ends there admits every agent.
const MaxRank = "ffffffffffffffff"

// CollectorBody is a valid collector config.
const CollectorBody = `receivers:
  otlp:
    protocols:
      grpc: {}
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`

// UID is a 16-byte instance UID whose bytes are all b.
func UID(b byte) []byte {
	uid := make([]byte, 16)
	for i := range uid {
		uid[i] = b
	}
	return uid
}

// Config is a config revision with the given body.
func Config(body string) *fleet.ConfigRef {
	return fleet.NewConfigRef(collectorconfig.Hash([]byte(body)), []byte(body))
}

// RolloutGroup is a group of every agent that reports a service.name, with a progressing
// rollout of cfg whose current batch admits every agent.
func RolloutGroup(cfg *fleet.ConfigRef) *fleet.GroupView {
	return &fleet.GroupView{
		Name: "all",
		Selector: fleetv1alpha1.AgentSelector{MatchExpressions: []fleetv1alpha1.AttributeRequirement{
			{Key: fleetv1alpha1.AttributeServiceName, Operator: fleetv1alpha1.AttributeOpExists}}},
		Excluded: map[string]struct{}{},
		Rollout: &fleet.RolloutView{
			Name:     "roll",
			Phase:    fleetv1alpha1.RolloutProgressing,
			Config:   cfg,
			Previous: fleet.Withdrawal,
			ToRank:   MaxRank,
			Batch:    1,
			Started:  Start,
		},
	}
}

// Applied is the APPLIED remote config status.
const Applied = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
