package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultGatePolicyName is the GatePolicy a Rollout uses when it names none: the one of that
// name in the Rollout's namespace, if any.
const DefaultGatePolicyName = "default"

// Weekday is a day of the week, in three letters.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// TimeWindow is a recurring span of time, on given days, in a time zone. A window whose end is
// before its start runs past midnight.
// +kubebuilder:validation:XValidation:rule="self.start != self.end",message="start and end must differ"
type TimeWindow struct {
	// days the window recurs on; empty means every day.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=7
	Days []Weekday `json:"days,omitempty"`

	// start of the window, as HH:MM on a 24-hour clock.
	// +required
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`

	// end of the window, as HH:MM on a 24-hour clock.
	// +required
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	End string `json:"end"`

	// timeZone is an IANA time zone name such as Europe/Berlin.
	// +optional
	// +kubebuilder:default="UTC"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+/-]*$`
	TimeZone string `json:"timeZone,omitempty"`
}

// PushDenyMode says when a push policy denies pushes.
// +kubebuilder:validation:Enum=Always;InsideWindows;OutsideWindows
type PushDenyMode string

const (
	// DenyAlways denies every push to matching agents.
	DenyAlways PushDenyMode = "Always"
	// DenyInsideWindows denies pushes while a window is open (a freeze).
	DenyInsideWindows PushDenyMode = "InsideWindows"
	// DenyOutsideWindows denies pushes unless a window is open (a maintenance window).
	DenyOutsideWindows PushDenyMode = "OutsideWindows"
)

// PushPolicy denies pushes to the agents it selects, always or by time window. A denied agent
// keeps its config and is counted as denied.
// +kubebuilder:validation:XValidation:rule="self.deny == 'Always' ? !has(self.windows) || size(self.windows) == 0 : has(self.windows) && size(self.windows) > 0",message="windows are required for InsideWindows and OutsideWindows, and not allowed for Always"
type PushPolicy struct {
	// name of the policy, as Events and metrics name it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// selector matches the agents the policy covers.
	// +required
	Selector AgentSelector `json:"selector"`

	// deny says when pushes are denied: Always, InsideWindows or OutsideWindows.
	// +optional
	// +kubebuilder:default=Always
	Deny PushDenyMode `json:"deny,omitempty"`

	// windows for InsideWindows and OutsideWindows.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Windows []TimeWindow `json:"windows,omitempty"`
}

// ApprovalRequirement asks for approvals by other users before a Rollout pushes.
type ApprovalRequirement struct {
	// count of approvals needed, from users other than the author of the Rollout's config.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Count int32 `json:"count"`

	// selector limits the requirement to rollouts that reach matching agents (for example
	// production agents); unset, every rollout under this policy needs approval.
	// +optional
	Selector *AgentSelector `json:"selector,omitempty"`

	// approverGroups, when set, limits who may approve to members of these groups, as the API
	// server authenticates them (a ServiceAccount is in system:serviceaccounts and
	// system:serviceaccounts:NAMESPACE). Unset, any user but the author may approve.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	ApproverGroups []string `json:"approverGroups,omitempty"`

	// allowServiceAccounts lets ServiceAccounts approve. Off by default: whoever may
	// impersonate a ServiceAccount of the namespace (Kubernetes' edit role may) could otherwise
	// approve their own change under its name. With approverGroups set, membership decides
	// instead.
	// +optional
	AllowServiceAccounts bool `json:"allowServiceAccounts,omitempty"`
}

// GatePolicySpec holds the gates, push policies and approval rules that Rollouts use.
type GatePolicySpec struct {
	// gates are the health thresholds evaluated after each batch. Unset fields fall through to
	// the namespace's "default" GatePolicy, then to the operator's defaults.
	// +optional
	Gates GateThresholds `json:"gates,omitempty"`

	// pushPolicies deny pushes to selected agents.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	PushPolicies []PushPolicy `json:"pushPolicies,omitempty"`

	// requiredApprovals asks for approvals before a Rollout pushes.
	// +optional
	RequiredApprovals *ApprovalRequirement `json:"requiredApprovals,omitempty"`
}

// GatePolicyStatus is what the engine observes of the policy.
type GatePolicyStatus struct {
	// observedGeneration is the generation of the spec that status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled (kstatus).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// rollouts is the number of Rollouts that use this policy now.
	// +optional
	Rollouts int32 `json:"rollouts,omitempty"`

	// approvedSpec is the spec in force. It follows spec at once, except when a change loosens a
	// policy that requires approvals: then it keeps the earlier spec until the change is
	// approved by a user other than its author.
	// +optional
	ApprovedSpec *GatePolicySpec `json:"approvedSpec,omitempty"`

	// pendingChange describes a change of spec that waits for approval; unset when none does.
	// +optional
	PendingChange *PolicyChange `json:"pendingChange,omitempty"`
}

// PolicyChange is a change of a GatePolicy's spec that loosens it and waits for approval.
type PolicyChange struct {
	// generation of the spec that waits.
	// +required
	Generation int64 `json:"generation"`

	// loosens lists how the change loosens the policy in force.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	Loosens []string `json:"loosens,omitempty"`

	// approvals says what approvals the change needs and has.
	// +required
	Approvals ApprovalStatus `json:"approvals"`
}

// InForce is the spec that gates and push policies use: the approved one, or spec while none
// has been recorded yet.
func (p *GatePolicy) InForce() *GatePolicySpec {
	if p.Status.ApprovedSpec != nil {
		return p.Status.ApprovedSpec
	}
	return &p.Spec
}

// GatePolicy holds health gates, push policies and approval rules for Rollouts.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gp;gatepol,categories=ampora
// +kubebuilder:printcolumn:name="Max-Failure-%",type=integer,JSONPath=`.spec.gates.maxFailurePercent`
// +kubebuilder:printcolumn:name="On-Failure",type=string,JSONPath=`.spec.gates.onFailure`
// +kubebuilder:printcolumn:name="Rollouts",type=integer,JSONPath=`.status.rollouts`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GatePolicy struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the gates and policies.
	// +required
	Spec GatePolicySpec `json:"spec"`

	// status is what the engine observes.
	// +optional
	Status GatePolicyStatus `json:"status,omitempty"`
}

// GatePolicyList is a list of GatePolicies.
// +kubebuilder:object:root=true
type GatePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GatePolicy `json:"items"`
}
