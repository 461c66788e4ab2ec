package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus, so Argo CD and Flux compute
// health without help; Reconciling and Stalled are present only while true.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	ConditionPaused      = "Paused"
	// ConditionApproved is present when a GatePolicy asks for approvals: True once the current
	// revision (policy change) has them, False with reason AwaitingApproval until then.
	ConditionApproved = "Approved"
	// ConditionReplicaSilent is present, True, while a live sidecar replica has not reported for
	// the manager's --replica-report-timeout: its entry does not count.
	ConditionReplicaSilent = "ReplicaSilent"
)

// Condition reasons. Each names a cause a user can act on.
const (
	ReasonProgressing       = "Progressing"
	ReasonCompleted         = "Completed"
	ReasonGateBreach        = "GateBreach"
	ReasonGateInconclusive  = "GateInconclusive"
	ReasonManualPause       = "ManualPause"
	ReasonNoLiveSession     = "NoLiveSession"
	ReasonApplyTimeout      = "ApplyTimeout"
	ReasonCapabilityMissing = "CapabilityMismatch"
	ReasonPolicyDenied      = "PolicyDenied"
	ReasonInvalidConfig     = "InvalidConfig"
	ReasonInvalidSpec       = "InvalidSpec"
	ReasonBlocked           = "Blocked"
	ReasonNoSidecar         = "NoSidecarReporting"
	ReasonNotReporting      = "NotReporting"
	ReasonGroupNotFound     = "AgentGroupNotFound"
	ReasonConfigNotFound    = "ConfigNotFound"
	ReasonAborted           = "Aborted"
	ReasonRolledBack        = "RolledBack"
	ReasonRollingBack       = "RollingBack"
	ReasonAwaitingApproval  = "AwaitingApproval"
	ReasonApproved          = "Approved"
	ReasonReconciled        = "Reconciled"
	// ReasonRevisionMismatch: a stored config revision does not hold the config its name and
	// status promise; nothing is pushed from it.
	ReasonRevisionMismatch = "RevisionMismatch"
)
