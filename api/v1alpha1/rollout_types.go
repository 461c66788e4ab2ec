package v1alpha1

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RolloutConfig is the collector configuration a Rollout delivers: inline YAML or a key of a
// ConfigMap in the same namespace, exactly one of them.
// +kubebuilder:validation:XValidation:rule="has(self.inline) != has(self.configMapRef)",message="exactly one of inline or configMapRef must be set"
type RolloutConfig struct {
	// inline is the OpenTelemetry Collector configuration as YAML.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=262144
	Inline *string `json:"inline,omitempty"`

	// configMapRef names a ConfigMap key that holds the configuration. Editing the ConfigMap
	// starts a new revision, as editing inline does.
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`
}

// ConfigMapKeyReference names one key of a ConfigMap in the Rollout's namespace.
// +structType=atomic
type ConfigMapKeyReference struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// key in the ConfigMap's data whose value is the configuration.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// BatchSize is a number of agents: a count such as 10, or a percentage of the group such as
// "25%", rounded up.
// +kubebuilder:validation:XIntOrString
// +kubebuilder:validation:MaxLength=4
// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="must be a count of at least 1 or a percentage from 1% to 100%"
type BatchSize intstr.IntOrString

// FromInt returns a BatchSize that is a count.
func FromInt(n int) BatchSize { return BatchSize(intstr.FromInt(n)) }

// FromPercent returns a BatchSize that is a percentage, "25%" for 25.
func FromPercent(p int) BatchSize { return BatchSize(intstr.FromString(strconv.Itoa(p) + "%")) }

// IntOrString returns the value as the Kubernetes type it is shaped like.
func (b BatchSize) IntOrString() intstr.IntOrString { return intstr.IntOrString(b) }

// String returns "10" or "25%".
func (b BatchSize) String() string {
	v := b.IntOrString()
	return v.String()
}

// MarshalJSON writes a count as a number and a percentage as a string.
func (b BatchSize) MarshalJSON() ([]byte, error) { return b.IntOrString().MarshalJSON() }

// UnmarshalJSON reads a number or a string.
func (b *BatchSize) UnmarshalJSON(data []byte) error {
	return (*intstr.IntOrString)(b).UnmarshalJSON(data)
}

// RolloutStrategy says how many agents each batch holds. Exactly one of batchSize, steps and
// exponential is set. Percentages are of the agents the group matches when the revision
// starts, rounded up, and every batch holds at least one agent.
// +kubebuilder:validation:XValidation:rule="[has(self.batchSize), has(self.steps), has(self.exponential)].filter(x, x).size() == 1",message="exactly one of batchSize, steps or exponential must be set"
type RolloutStrategy struct {
	// batchSize is the size of every batch: a count such as 10 or a share of the group such
	// as "25%". The last batch takes what remains.
	// +optional
	BatchSize *BatchSize `json:"batchSize,omitempty"`

	// steps are cumulative targets, all counts or all percentages, strictly increasing, for
	// example ["1%", "10%", "50%"]. After the last step a final batch takes the rest of the
	// group.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:XValidation:rule="self.all(s, type(s) == int) || self.all(s, type(s) == string)",message="steps must be all counts or all percentages"
	// +kubebuilder:validation:XValidation:rule="!(self.all(s, type(s) == int) || self.all(s, type(s) == string)) || self.all(i, s, i == 0 || (type(s) == int ? s > self[i-1] : int(s.replace('%', '')) > int(self[i-1].replace('%', ''))))",message="steps must be strictly increasing"
	Steps []BatchSize `json:"steps,omitempty"`

	// exponential starts with a small batch and multiplies the batch size after each batch,
	// up to a maximum.
	// +optional
	Exponential *ExponentialStrategy `json:"exponential,omitempty"`
}

// ExponentialStrategy grows batches geometrically: initial, initial×multiplier,
// initial×multiplier², ... each capped at maxBatchSize (the first batch too).
type ExponentialStrategy struct {
	// initial is the size of the first batch: a count or a percentage of the group.
	// +required
	Initial BatchSize `json:"initial"`

	// multiplier is the factor between one batch size and the next.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=10
	Multiplier int32 `json:"multiplier,omitempty"`

	// maxBatchSize caps the size of any batch: a count or a percentage of the group.
	// +optional
	MaxBatchSize *BatchSize `json:"maxBatchSize,omitempty"`
}

// RolloutSpec is what the user asks for: one config, for one AgentGroup, in batches.
type RolloutSpec struct {
	// agentGroup is the name of the AgentGroup, in the same namespace, whose agents receive the
	// config. One Rollout at a time drives a group; another is Blocked until it finishes.
	// Immutable, as a Deployment's selector: a Rollout's batches, cutoffs and approvals belong
	// to its group.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.agentGroup is immutable: to deliver this config to another group, create a new Rollout for that group (and delete this one once it is finished)"
	AgentGroup string `json:"agentGroup"`

	// config is the collector configuration to roll out. Its hash is the revision: editing it
	// starts a new revision from batch 1.
	// +required
	Config RolloutConfig `json:"config"`

	// strategy sets the batch sizes.
	// +required
	Strategy RolloutStrategy `json:"strategy"`

	// applyTimeout is how long an agent may stay pending or applying after the push before it
	// counts as timed out.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) > duration('0s')",message="must be a positive duration such as 30s, 5m or 1h"
	ApplyTimeout *metav1.Duration `json:"applyTimeout,omitempty"`

	// gatePolicyRef names the GatePolicy, in the same namespace, whose gates and push policies
	// apply. Unset, the namespace's GatePolicy named "default" applies, else the operator's
	// defaults.
	// +optional
	GatePolicyRef *LocalObjectReference `json:"gatePolicyRef,omitempty"`

	// gates override single thresholds of the effective GatePolicy for this Rollout.
	// +optional
	Gates *GateThresholds `json:"gates,omitempty"`

	// paused is the user's own pause: no new batch starts and no further agent is offered the
	// config while it is true. Gate pauses are recorded in status, not here.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// RolloutPhase is the one-word summary of a Rollout.
// +kubebuilder:validation:Enum=Pending;Progressing;Paused;RollingBack;Completed;RolledBack;Aborted;Blocked;Failed
type RolloutPhase string

const (
	// RolloutPending: accepted, no batch started yet.
	RolloutPending RolloutPhase = "Pending"
	// RolloutProgressing: a batch is being pushed, awaited, evaluated or baked.
	RolloutProgressing RolloutPhase = "Progressing"
	// RolloutPaused: stopped by a gate or by spec.paused; status.pause says which.
	RolloutPaused RolloutPhase = "Paused"
	// RolloutRollingBack: the agents reached are being returned to the previous revision.
	RolloutRollingBack RolloutPhase = "RollingBack"
	// RolloutCompleted: every agent of the group was offered the config and the gates held.
	RolloutCompleted RolloutPhase = "Completed"
	// RolloutRolledBack: the reached agents are back on the previous revision.
	RolloutRolledBack RolloutPhase = "RolledBack"
	// RolloutAborted: stopped by the user; agents keep what they run.
	RolloutAborted RolloutPhase = "Aborted"
	// RolloutBlocked: another Rollout drives the same AgentGroup.
	RolloutBlocked RolloutPhase = "Blocked"
	// RolloutFailed: cannot proceed without a change to its spec (for example an invalid config).
	RolloutFailed RolloutPhase = "Failed"
)

// BatchPhase is where the current batch is in its lifecycle.
// +kubebuilder:validation:Enum=Pushing;Evaluating;Baking;Done
type BatchPhase string

const (
	// BatchPushing: agents of the batch are offered the config; waiting for them to finish.
	BatchPushing BatchPhase = "Pushing"
	// BatchEvaluating: every agent finished, or the progress deadline passed; gates decide.
	BatchEvaluating BatchPhase = "Evaluating"
	// BatchBaking: gates passed; waiting for the bake time while the gates keep watching.
	BatchBaking BatchPhase = "Baking"
	// BatchDone: the batch is finished and the next may start.
	BatchDone BatchPhase = "Done"
)

// BatchStatus is the state of the current batch, with what every replica needs to agree on
// its membership: agents are ordered by rank, a hash of (configHash, instance UID), and the
// batch holds the agents whose rank is above fromRank and at or below toRank.
type BatchStatus struct {
	// number of the batch, from 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	Number int32 `json:"number"`

	// size is the number of agents the batch holds.
	// +required
	// +kubebuilder:validation:Minimum=0
	Size int32 `json:"size"`

	// fromRank is the rank cutoff of the previous batch (exclusive); empty for the first batch.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{16}$`
	FromRank string `json:"fromRank,omitempty"`

	// toRank is the rank cutoff of this batch (inclusive): sidecars admit every agent of the
	// group whose rank is at or below it.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{16}$`
	ToRank string `json:"toRank,omitempty"`

	// phase of the batch.
	// +required
	Phase BatchPhase `json:"phase"`

	// startedAt is when the batch's agents were first offered the config.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// finishedAt is when every agent of the batch reached a final state, or the progress
	// deadline passed.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// bakeUntil is when baking ends and the next batch may start.
	// +optional
	BakeUntil *metav1.Time `json:"bakeUntil,omitempty"`
}

// ReplicaReport is what one OpAMP sidecar replica reports about the agents it holds. Each
// replica writes only its own entry, with server-side apply under its own field manager; an
// entry whose replica's Lease has expired stops counting.
type ReplicaReport struct {
	// replica is the name of the sidecar replica (its Pod name).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Replica string `json:"replica"`

	// configHash is the desired config hash the counts are for.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ConfigHash string `json:"configHash,omitempty"`

	// batch is the batch number the batch counts are for.
	// +optional
	Batch int32 `json:"batch,omitempty"`

	// batchStartedAt is the start of that batch as the replica saw it in status; a retry
	// restarts the batch, so the manager knows the entry reflects it.
	// +optional
	BatchStartedAt *metav1.Time `json:"batchStartedAt,omitempty"`

	// reportedAt is when the replica wrote this entry.
	// +required
	ReportedAt metav1.Time `json:"reportedAt"`

	// connected is the number of the group's agents with a live session on this replica.
	// +optional
	Connected int32 `json:"connected,omitempty"`

	// counts covers the agents this replica holds that are admitted to the rollout.
	// +optional
	Counts AgentCounts `json:"counts,omitempty"`

	// batchCounts covers the agents this replica holds that belong to the current batch.
	// +optional
	BatchCounts AgentCounts `json:"batchCounts,omitempty"`

	// applyDurationBuckets counts the current batch's applies by duration from push to
	// verified APPLIED, in the fixed buckets docs/opamp.md lists, so that replicas' reports
	// merge into one percentile.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	ApplyDurationBuckets []int32 `json:"applyDurationBuckets,omitempty"`

	// failedAgents is a sample of this replica's failed agents.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	FailedAgents []FailedAgent `json:"failedAgents,omitempty"`

	// deniedBy counts, in full, the agents each push policy denies (failedAgents only samples
	// them): the policies that deny most, at most 32.
	// +optional
	// +listType=map
	// +listMapKey=policy
	// +kubebuilder:validation:MaxItems=32
	DeniedBy []PolicyDenials `json:"deniedBy,omitempty"`
}

// PolicyDenials is how many agents one push policy denies.
type PolicyDenials struct {
	// policy is the push policy's name.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Policy string `json:"policy"`
	// count of the agents it denies.
	// +required
	Count int32 `json:"count"`
}

// MaxDeniedBy is how many push policies a replica's entry counts denials of.
const MaxDeniedBy = 32

// GateName names a health gate, as pause messages spell it.
// +kubebuilder:validation:Enum=failure-ratio;disconnect-ratio;unhealthy-ratio;apply-duration-p95;failures;min-sample;replica-reports
type GateName string

const (
	GateFailureRatio     GateName = "failure-ratio"
	GateDisconnectRatio  GateName = "disconnect-ratio"
	GateUnhealthyRatio   GateName = "unhealthy-ratio"
	GateApplyDurationP95 GateName = "apply-duration-p95"
	GateFailures         GateName = "failures"
	GateMinSample        GateName = "min-sample"
	// GateReplicaReports holds a batch while a live sidecar replica has not reported on it.
	GateReplicaReports GateName = "replica-reports"
)

// PauseReason says why a Rollout is paused.
// +kubebuilder:validation:Enum=GateBreach;GateInconclusive;Manual;AwaitingApproval
type PauseReason string

const (
	// PauseGateBreach: a gate's observed value exceeded its threshold.
	PauseGateBreach PauseReason = "GateBreach"
	// PauseGateInconclusive: a batch finished with fewer finished agents than the minimum sample.
	PauseGateInconclusive PauseReason = "GateInconclusive"
	// PauseManual: spec.paused is true.
	PauseManual PauseReason = "Manual"
	// PauseAwaitingApproval: the push decision changed mid-rollout (a policy, the group or the
	// spec) and lacks approvals; no further agent is offered the config until it has them.
	PauseAwaitingApproval PauseReason = "AwaitingApproval"
)

// PauseDetail records why and where a Rollout paused.
type PauseDetail struct {
	// reason for the pause.
	// +required
	Reason PauseReason `json:"reason"`

	// gate that tripped, for gate pauses.
	// +optional
	Gate GateName `json:"gate,omitempty"`

	// observed is the gate's observed value, for example "35 %".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Observed string `json:"observed,omitempty"`

	// threshold is the gate's threshold, for example "20 %".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Threshold string `json:"threshold,omitempty"`

	// batch is the batch number the gate was evaluated on.
	// +optional
	Batch int32 `json:"batch,omitempty"`

	// since is when the rollout paused.
	// +required
	Since metav1.Time `json:"since"`

	// message reads like "disconnect-ratio: 35 % > 20 %".
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// ConfigDiff is a semantic diff of the new config against the group's previous revision, by
// component ("receivers/otlp", "exporters/otlphttp/backend") and pipeline ("pipelines/traces").
type ConfigDiff struct {
	// fromRevision is the revision compared against; empty when the group had none.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	FromRevision string `json:"fromRevision,omitempty"`

	// summary in one line, for example "+1 receiver, ~1 pipeline".
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Summary string `json:"summary,omitempty"`

	// added components and pipelines.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=256
	Added []string `json:"added,omitempty"`

	// removed components and pipelines.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=256
	Removed []string `json:"removed,omitempty"`

	// changed components and pipelines.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=256
	Changed []string `json:"changed,omitempty"`

	// truncated is true when the lists above were cut to their maximum length.
	// +optional
	Truncated bool `json:"truncated,omitempty"`
}

// EffectiveGates are the gate values in force for a Rollout, after the fall-through from the
// Rollout's overrides, its GatePolicy, the namespace default and the operator defaults.
type EffectiveGates struct {
	GateThresholds `json:",inline"`

	// policy is the GatePolicy that supplied the values not overridden in the Rollout; empty
	// when only operator defaults apply.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy,omitempty"`
}

// RolloutAction is an action a user asks of a Rollout through the fleet.ampora.io/action
// annotation. Actions never touch spec, so GitOps tools see no drift.
// +kubebuilder:validation:Enum=resume;abort;rollback;retry
type RolloutAction string

const (
	// ActionResume continues a rollout paused by a gate, re-evaluating the gates as they now are.
	ActionResume RolloutAction = "resume"
	// ActionAbort stops the rollout; agents keep what they run.
	ActionAbort RolloutAction = "abort"
	// ActionRollback returns the agents the rollout reached to the group's previous revision.
	ActionRollback RolloutAction = "rollback"
	// ActionRetry offers the config once more to agents that reported FAILED for it.
	ActionRetry RolloutAction = "retry"
)

// Valid says whether a is one of the actions above.
func (a RolloutAction) Valid() bool {
	switch a {
	case ActionResume, ActionAbort, ActionRollback, ActionRetry:
		return true
	}
	return false
}

// Annotations that drive actions. The manager handles the action, records it in an Event and
// in status.lastAction, and removes the annotation.
const (
	// AnnotationAction holds the action to run: resume, abort, rollback or retry.
	AnnotationAction = "fleet.ampora.io/action"
	// AnnotationActionRequestedBy names who asked. The approvals webhook writes it from the
	// user the API server authenticated for the request that set the action; what a client
	// writes there is replaced.
	AnnotationActionRequestedBy = "fleet.ampora.io/action-requested-by"
)

// Annotations of the approvals webhook. A user asks for an approval with AnnotationApprove; the
// webhook checks it against the user Kubernetes authenticated, records it in AnnotationApprovals
// and removes the request. AnnotationAuthor and AnnotationApprovals are written only by the
// webhook: whatever a request puts there is replaced by what the webhook recorded before.
const (
	// AnnotationApprove asks to approve the config (on a Rollout) or the spec (on a GatePolicy)
	// whose hash, or its revision prefix, it holds.
	AnnotationApprove = "fleet.ampora.io/approve"
	// AnnotationAuthor records, as JSON, who last changed the config (spec) and its hash.
	AnnotationAuthor = "fleet.ampora.io/author"
	// AnnotationApprovals records, as JSON, the approvals of the current config (spec).
	AnnotationApprovals = "fleet.ampora.io/approvals"
	// AnnotationSeal seals AnnotationAuthor and AnnotationApprovals to the object and its
	// spec, with a key only the manager holds: a record without a valid seal does not count.
	AnnotationSeal = "fleet.ampora.io/seal"
)

// ApprovalStatus says what approvals a Rollout needs before it pushes, and has.
type ApprovalStatus struct {
	// policy is the GatePolicy that asks for approvals.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy"`

	// required is the number of approvals needed.
	// +required
	Required int32 `json:"required"`

	// decision, for a Rollout, is the digest of the push decision the approvals bind to: the
	// config's hash, the group's selector, the strategy and the gates in force. An approval may
	// name it (fleet.ampora.io/approve: <revision>@<decision>, as kubectl ampora approve sends
	// it); the webhook then refuses it if the decision changed since it was read.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	Decision string `json:"decision,omitempty"`

	// author is the user who wrote the config of this revision, as Kubernetes authenticated
	// them; empty when the config changed outside the Rollout (a ConfigMap edit).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Author string `json:"author,omitempty"`

	// approvedBy lists the users who approved this revision.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=512
	ApprovedBy []string `json:"approvedBy,omitempty"`
}

// ActionRecord is the last action the manager handled.
type ActionRecord struct {
	// action that was handled.
	// +required
	Action RolloutAction `json:"action"`
	// requestedBy is who asked, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	RequestedBy string `json:"requestedBy,omitempty"`
	// handledAt is when the manager carried it out.
	// +required
	HandledAt metav1.Time `json:"handledAt"`
}

// RolloutStatus is what the engine and the sidecars observe. The manager writes everything but
// replicas; each sidecar writes its own entry of replicas.
type RolloutStatus struct {
	// observedGeneration is the generation of the spec that status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling and Stalled (kstatus; Reconciling and Stalled appear only
	// when true) and Paused, each with a reason naming the cause.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase is the one-word summary.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`

	// message explains the phase in one line.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// revision is the short form of configHash, as kubectl shows it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision,omitempty"`

	// configHash is the SHA-256 of the config being rolled out, in hex; agents receive it as
	// the OpAMP config hash.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ConfigHash string `json:"configHash,omitempty"`

	// previousRevision is the group's revision when this revision started: what rollback
	// returns to. Empty when the group had none (rollback then withdraws the remote config).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PreviousRevision string `json:"previousRevision,omitempty"`

	// previousConfigHash is the full SHA-256 of the previous revision's config, in hex: the
	// stored revision rollback returns to is looked up by it and its content checked against it.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	PreviousConfigHash string `json:"previousConfigHash,omitempty"`

	// previousSelector is the group's selector the previous revision was rolled out (and
	// approved) under, with the agents excluded then, when this revision started: a rollback
	// returns only the agents it selects to that revision, and withdraws the remote config from the others, so that a
	// revision never reaches agents its own rollout did not cover. Unset: no bound recorded.
	// +optional
	PreviousSelector *AgentScope `json:"previousSelector,omitempty"`

	// groupSelector is the group's selector, with its excluded agents, as the rollout's
	// approvals last covered it (or as it is, when none are asked). The sidecars offer the
	// config, or a rollback, only to agents it selects as well as the group does: a selector
	// edit or a removed exclusion waits for approval.
	// +optional
	GroupSelector *AgentScope `json:"groupSelector,omitempty"`

	// groupSize is the number of agents the group matched when the revision started; the
	// batch plan is computed from it.
	// +optional
	GroupSize int32 `json:"groupSize,omitempty"`

	// plan lists the size of each batch.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	Plan []int32 `json:"plan,omitempty"`

	// batchProgress reads "X/Y": the current batch and the number of batches.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	BatchProgress string `json:"batchProgress,omitempty"`

	// currentBatch is the state of the batch in progress, or of the last one.
	// +optional
	CurrentBatch *BatchStatus `json:"currentBatch,omitempty"`

	// counts covers every agent admitted so far, summed over live replicas.
	// +optional
	Counts AgentCounts `json:"counts,omitempty"`

	// batchCounts covers the agents of the current batch.
	// +optional
	BatchCounts AgentCounts `json:"batchCounts,omitempty"`

	// appliesPerMinute is the recent rate of verified applies: the growth of counts.applied
	// over the last two minutes, so that it falls to 0 while the rollout is paused.
	// +optional
	AppliesPerMinute int32 `json:"appliesPerMinute,omitempty"`

	// estimatedCompletionTime extrapolates appliesPerMinute over the agents not applied yet;
	// set only while the rollout is Progressing.
	// +optional
	EstimatedCompletionTime *metav1.Time `json:"estimatedCompletionTime,omitempty"`

	// pause says why and where the rollout paused; unset while it is not paused.
	// +optional
	Pause *PauseDetail `json:"pause,omitempty"`

	// approvals says what approvals this revision needs and has; unset when no GatePolicy asks
	// for any.
	// +optional
	Approvals *ApprovalStatus `json:"approvals,omitempty"`

	// failedAgents is a sample of failed agents with the error each reported.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	FailedAgents []FailedAgent `json:"failedAgents,omitempty"`

	// diff of this revision's config against the group's previous revision.
	// +optional
	Diff *ConfigDiff `json:"diff,omitempty"`

	// effectiveGates are the gate values in force.
	// +optional
	EffectiveGates *EffectiveGates `json:"effectiveGates,omitempty"`

	// replicas holds one entry per OpAMP sidecar replica, written by that replica.
	// +optional
	// +listType=map
	// +listMapKey=replica
	// +kubebuilder:validation:MaxItems=64
	Replicas []ReplicaReport `json:"replicas,omitempty"`

	// lastAction is the last action the manager handled.
	// +optional
	LastAction *ActionRecord `json:"lastAction,omitempty"`

	// startedAt is when the current revision started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// completedAt is when the rollout reached a final phase.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// lastEvaluatedTime is when the engine last evaluated this Rollout; an old value means no
	// leader is ticking.
	// +optional
	LastEvaluatedTime *metav1.Time `json:"lastEvaluatedTime,omitempty"`
}

// Rollout delivers one OpenTelemetry Collector configuration to the agents of one AgentGroup
// over OpAMP, batch by batch, behind health gates.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=frl;fleetrollout,categories=ampora
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.agentGroup`,priority=10
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Batch",type=string,JSONPath=`.status.batchProgress`
// +kubebuilder:printcolumn:name="Applied",type=integer,JSONPath=`.status.counts.applied`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.counts.failed`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=10
// +kubebuilder:printcolumn:name="Pause",type=string,JSONPath=`.status.pause.message`,priority=10
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Rollout struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired rollout.
	// +required
	Spec RolloutSpec `json:"spec"`

	// status is the observed progress.
	// +optional
	Status RolloutStatus `json:"status,omitempty"`
}

// RolloutList is a list of Rollouts.
// +kubebuilder:object:root=true
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Rollout `json:"items"`
}
