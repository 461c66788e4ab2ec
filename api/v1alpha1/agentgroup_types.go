package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentGroupSpec says which agents of the namespace belong to the group.
type AgentGroupSpec struct {
	// selector matches agents by the attributes they report over OpAMP.
	// +required
	Selector AgentSelector `json:"selector"`

	// excludedInstanceUIDs are agents left out of the group even when the selector matches
	// them, by OpAMP instance UID in canonical UUID form.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:Pattern=`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
	ExcludedInstanceUIDs []string `json:"excludedInstanceUIDs,omitempty"`
}

// VersionCount is how many agents report one service.version.
type VersionCount struct {
	// version is the agent's service.version; "unknown" when it reports none.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Version string `json:"version"`
	// count of agents with that version.
	// +required
	Count int32 `json:"count"`
}

// AgentConflict is an agent that more than one AgentGroup matches. It keeps the config it has
// and no rollout pushes to it until the overlap is resolved.
type AgentConflict struct {
	// instanceUID of the agent.
	// +required
	// +kubebuilder:validation:MaxLength=64
	InstanceUID string `json:"instanceUID"`
	// groups that match it.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=253
	Groups []string `json:"groups,omitempty"`
}

// GroupReplicaReport is what one OpAMP sidecar replica reports about the group's agents it
// holds. Each replica writes only its own entry, with server-side apply.
type GroupReplicaReport struct {
	// replica is the name of the sidecar replica (its Pod name).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Replica string `json:"replica"`
	// reportedAt is when the replica wrote this entry.
	// +required
	ReportedAt metav1.Time `json:"reportedAt"`
	// matching is the number of agents this replica has seen that the group matches.
	// +optional
	Matching int32 `json:"matching,omitempty"`
	// connected is how many of them have a live session.
	// +optional
	Connected int32 `json:"connected,omitempty"`
	// versions breaks the connected agents down by service.version.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Versions []VersionCount `json:"versions,omitempty"`
	// conflicting is the number of matching agents another group matches too.
	// +optional
	Conflicting int32 `json:"conflicting,omitempty"`
	// conflicts is a sample of them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Conflicts []AgentConflict `json:"conflicts,omitempty"`
}

// RevisionRecord is one config revision a group has run. Its config is kept in a
// ControllerRevision named after the full config hash.
type RevisionRecord struct {
	// revision is the short config hash.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision"`
	// configHash is the full SHA-256 of the config, in hex.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ConfigHash string `json:"configHash,omitempty"`
	// rollout that delivered it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Rollout string `json:"rollout,omitempty"`
	// completedAt is when it became the group's revision.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// AgentGroupStatus is what the sidecars observe of the group and what the engine records of
// its revisions.
type AgentGroupStatus struct {
	// observedGeneration is the generation of the spec that status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled (kstatus).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// matchingAgents is the number of agents the group matches, summed over live replicas.
	// +optional
	MatchingAgents int32 `json:"matchingAgents,omitempty"`

	// connectedAgents is how many of them have a live session.
	// +optional
	ConnectedAgents int32 `json:"connectedAgents,omitempty"`

	// versions breaks the connected agents down by service.version, to show whether the group
	// is version-homogeneous.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Versions []VersionCount `json:"versions,omitempty"`

	// conflictingAgents is the number of agents another group matches too.
	// +optional
	ConflictingAgents int32 `json:"conflictingAgents,omitempty"`

	// conflicts is a sample of them, with the groups that match each.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Conflicts []AgentConflict `json:"conflicts,omitempty"`

	// currentRevision is the revision the group's agents run when no rollout says otherwise.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CurrentRevision string `json:"currentRevision,omitempty"`

	// currentConfigHash is the full SHA-256 of that revision's config, in hex: the stored
	// revision is looked up by it and its content checked against it.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	CurrentConfigHash string `json:"currentConfigHash,omitempty"`

	// currentSelector is the selector the current revision was rolled out (and approved) under,
	// with the agents the group excluded then. Agents that join later get the current revision
	// only when it selects them as well as the group does: editing the selector or removing an
	// exclusion does not widen who receives a revision; a new rollout does.
	// +optional
	CurrentSelector *AgentScope `json:"currentSelector,omitempty"`

	// activeRollout is the Rollout now driving the group, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ActiveRollout string `json:"activeRollout,omitempty"`

	// revisionHistory lists the most recent revisions, newest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	RevisionHistory []RevisionRecord `json:"revisionHistory,omitempty"`

	// replicas holds one entry per OpAMP sidecar replica, written by that replica.
	// +optional
	// +listType=map
	// +listMapKey=replica
	// +kubebuilder:validation:MaxItems=64
	Replicas []GroupReplicaReport `json:"replicas,omitempty"`
}

// AgentGroup is a set of OpAMP agents of one namespace, chosen by their attributes.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ag;agentgrp,categories=ampora
// +kubebuilder:printcolumn:name="Matching",type=integer,JSONPath=`.status.matchingAgents`
// +kubebuilder:printcolumn:name="Connected",type=integer,JSONPath=`.status.connectedAgents`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.currentRevision`
// +kubebuilder:printcolumn:name="Rollout",type=string,JSONPath=`.status.activeRollout`
// +kubebuilder:printcolumn:name="Conflicts",type=integer,JSONPath=`.status.conflictingAgents`,priority=10
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AgentGroup struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec selects the agents.
	// +required
	Spec AgentGroupSpec `json:"spec"`

	// status is what the sidecars and the engine observe.
	// +optional
	Status AgentGroupStatus `json:"status,omitempty"`
}

// AgentGroupList is a list of AgentGroups.
// +kubebuilder:object:root=true
type AgentGroupList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentGroup `json:"items"`
}
