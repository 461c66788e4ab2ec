package v1alpha1

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Well-known agent attribute keys, as OpenTelemetry semantic conventions name them. Any other
// identifying or non-identifying attribute an agent reports can be selected on too.
const (
	AttributeServiceName    = "service.name"
	AttributeServiceVersion = "service.version"
	AttributeHostName       = "host.name"
	AttributeOSType         = "os.type"
)

// LocalObjectReference names an object in the same namespace.
// +structType=atomic
type LocalObjectReference struct {
	// name of the referent.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// AttributeSelectorOperator is how an AttributeRequirement compares an agent attribute.
// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
type AttributeSelectorOperator string

const (
	// AttributeOpIn matches when the attribute is set to one of the values.
	AttributeOpIn AttributeSelectorOperator = "In"
	// AttributeOpNotIn matches when the attribute is unset or set to none of the values.
	AttributeOpNotIn AttributeSelectorOperator = "NotIn"
	// AttributeOpExists matches when the attribute is set, to any value.
	AttributeOpExists AttributeSelectorOperator = "Exists"
	// AttributeOpDoesNotExist matches when the attribute is unset.
	AttributeOpDoesNotExist AttributeSelectorOperator = "DoesNotExist"
)

// AttributeRequirement is one condition on an agent attribute, shaped like a label selector
// requirement.
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",message="values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"
type AttributeRequirement struct {
	// key is the attribute name, for example service.name or deployment.environment.
	// Identifying and non-identifying attributes are matched alike.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Key string `json:"key"`

	// operator is how the key relates to the values: In, NotIn, Exists or DoesNotExist.
	// +required
	Operator AttributeSelectorOperator `json:"operator"`

	// values the attribute is compared with. Required for In and NotIn, empty otherwise.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Values []string `json:"values,omitempty"`
}

// AgentSelector selects agents by the attributes they report over OpAMP. All conditions must
// hold (a logical AND), as in a Kubernetes label selector.
// +kubebuilder:validation:XValidation:rule="(has(self.matchAttributes) && size(self.matchAttributes) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector must set matchAttributes or matchExpressions; to select every agent use matchExpressions with operator Exists on service.name"
type AgentSelector struct {
	// matchAttributes selects agents whose attribute equals the given value, for each entry.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	MatchAttributes map[string]string `json:"matchAttributes,omitempty"`

	// matchExpressions are attribute requirements that must all hold.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MatchExpressions []AttributeRequirement `json:"matchExpressions,omitempty"`
}

// AgentScope is who a revision was rolled out (and approved) to: a group's selector and the
// agents it left out then. Recorded in status, it bounds who gets the revision later, so that
// neither a wider selector nor a removed exclusion reaches an agent without a rollout.
type AgentScope struct {
	AgentSelector `json:",inline"`

	// excludedInstanceUIDs are the agents the group left out (its spec.excludedInstanceUIDs).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	ExcludedInstanceUIDs []string `json:"excludedInstanceUIDs,omitempty"`
}

// Excludes says whether the scope leaves the agent out by its instance UID.
func (s *AgentScope) Excludes(uid string) bool {
	return slices.Contains(s.ExcludedInstanceUIDs, uid)
}

// Scope is who the group selects now, to be recorded with a revision.
func (s *AgentGroupSpec) Scope() *AgentScope {
	return &AgentScope{AgentSelector: *s.Selector.DeepCopy(), ExcludedInstanceUIDs: slices.Clone(s.ExcludedInstanceUIDs)}
}

// GateFailureAction is what a breached gate does to the rollout.
// +kubebuilder:validation:Enum=Pause;Rollback
type GateFailureAction string

const (
	// GateFailurePause pauses the rollout until someone resumes, aborts or rolls it back.
	GateFailurePause GateFailureAction = "Pause"
	// GateFailureRollback returns the agents the rollout reached to the previous revision.
	GateFailureRollback GateFailureAction = "Rollback"
)

// GateThresholds are the health gates evaluated after each batch. Every field is optional: an
// unset field falls through, field by field, from the Rollout's own gates to the GatePolicy it
// names, then to the namespace's GatePolicy named "default", then to the operator's defaults.
// Status shows the values in effect.
type GateThresholds struct {
	// maxFailurePercent is the highest share of a batch's finished agents, in percent, that may
	// report FAILED for the new config (gate "failure-ratio").
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxFailurePercent *int32 `json:"maxFailurePercent,omitempty"`

	// maxDisconnectPercent is the highest share of a batch, in percent, that may lose its OpAMP
	// session after the push without coming back (gate "disconnect-ratio").
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxDisconnectPercent *int32 `json:"maxDisconnectPercent,omitempty"`

	// maxUnhealthyPercent is the highest share of a batch's applied agents, in percent, that may
	// report themselves unhealthy after applying (gate "unhealthy-ratio").
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxUnhealthyPercent *int32 `json:"maxUnhealthyPercent,omitempty"`

	// maxApplyDurationP95 is the highest 95th percentile of the time from push to verified
	// APPLIED within a batch (gate "apply-duration-p95"), for example "2m".
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) > duration('0s')",message="must be a positive duration such as 30s, 5m or 1h"
	MaxApplyDurationP95 *metav1.Duration `json:"maxApplyDurationP95,omitempty"`

	// maxFailures is the highest absolute number of failed agents over the whole rollout
	// (gate "failures").
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxFailures *int32 `json:"maxFailures,omitempty"`

	// minSampleSize is the number of finished agents a ratio gate needs before it can pass;
	// below it the gate is inconclusive and the rollout waits or pauses, never passes silently.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MinSampleSize *int32 `json:"minSampleSize,omitempty"`

	// bakeTime is how long the rollout waits after a batch passed its gates before the next
	// batch starts, while the gates keep watching, for example "5m". "0s" disables baking.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	BakeTime *metav1.Duration `json:"bakeTime,omitempty"`

	// progressDeadline is how long a batch may take, from its start until every agent in it is
	// finished, before the gates are evaluated with what has been seen, for example "10m".
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) > duration('0s')",message="must be a positive duration such as 30s, 5m or 1h"
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`

	// disconnectGrace is how long an agent that lost its session after the push may take to
	// come back before it counts as disconnected (gate "disconnect-ratio"): collectors restart
	// on a config reload. One that comes back with APPLIED within it counts as applied. "0s"
	// counts every loss at once; the default is 30s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) <= duration('1h')",message="must be at most 1h"
	DisconnectGrace *metav1.Duration `json:"disconnectGrace,omitempty"`

	// onFailure is what a breached gate does: Pause (the default) or Rollback.
	// +optional
	OnFailure GateFailureAction `json:"onFailure,omitempty"`
}

// AgentCounts counts agents by their verified state for one revision. Every agent is counted
// in exactly one of the state fields; targeted is their sum.
type AgentCounts struct {
	// targeted is the number of agents admitted to the rollout so far. It is written even
	// when 0, so that a replica's entry whose agents all left is an object of zeros: applied
	// with no field, server-side apply would make it null, which the schema refuses, and the
	// entry would keep its last counts.
	// +optional
	Targeted int32 `json:"targeted"`
	// pending agents are admitted but have not been offered the config yet.
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// applying agents were offered the config and have not reported a final result.
	// +optional
	Applying int32 `json:"applying,omitempty"`
	// applied agents reported APPLIED for the desired config hash (and healthy, where they
	// report health).
	// +optional
	Applied int32 `json:"applied,omitempty"`
	// unhealthy agents applied the config but then reported themselves unhealthy.
	// +optional
	Unhealthy int32 `json:"unhealthy,omitempty"`
	// failed agents reported FAILED for the desired config hash.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// disconnected agents lost their OpAMP session after the push and have not come back.
	// +optional
	Disconnected int32 `json:"disconnected,omitempty"`
	// timedOut agents stayed pending or applying past the apply timeout.
	// +optional
	TimedOut int32 `json:"timedOut,omitempty"`
	// incompatible agents lack a component the config needs, by their AvailableComponents.
	// +optional
	Incompatible int32 `json:"incompatible,omitempty"`
	// denied agents match a push policy that denies the push.
	// +optional
	Denied int32 `json:"denied,omitempty"`
	// unverifiable agents accept remote config but do not report its status, and their
	// effective config does not show the desired config.
	// +optional
	Unverifiable int32 `json:"unverifiable,omitempty"`
}

// FailedAgent is one agent in a bounded sample of failures, with what it reported.
type FailedAgent struct {
	// instanceUID of the agent.
	// +required
	// +kubebuilder:validation:MaxLength=64
	InstanceUID string `json:"instanceUID"`
	// state is the verified state that makes this agent a failure.
	// +required
	State AgentState `json:"state"`
	// serviceName is the agent's service.name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ServiceName string `json:"serviceName,omitempty"`
	// serviceVersion is the agent's service.version.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ServiceVersion string `json:"serviceVersion,omitempty"`
	// hostName is the agent's host.name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	HostName string `json:"hostName,omitempty"`
	// message is the error_message the agent returned, or why the state was reached.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// since is when the agent entered this state.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
}

// AgentState is the verified state of one agent for one desired config hash.
// +kubebuilder:validation:Enum=Pending;Applying;Applied;Unhealthy;Failed;Disconnected;TimedOut;Incompatible;Denied;Unverifiable
type AgentState string

const (
	AgentPending      AgentState = "Pending"
	AgentApplying     AgentState = "Applying"
	AgentApplied      AgentState = "Applied"
	AgentUnhealthy    AgentState = "Unhealthy"
	AgentFailed       AgentState = "Failed"
	AgentDisconnected AgentState = "Disconnected"
	AgentTimedOut     AgentState = "TimedOut"
	AgentIncompatible AgentState = "Incompatible"
	AgentDenied       AgentState = "Denied"
	AgentUnverifiable AgentState = "Unverifiable"
)
