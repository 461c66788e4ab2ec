// Package v1alpha1 holds the fleet.ampora.io/v1alpha1 API: Rollout, AgentGroup and GatePolicy.
//
// The package stays light on purpose: types, markers and constants only, no controller code,
// so that clients (the kubectl plugin, the dashboard, tests) can import it cheaply.
//
// +kubebuilder:object:generate=true
// +groupName=fleet.ampora.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of the Ampora kinds.
	GroupVersion = schema.GroupVersion{Group: "fleet.ampora.io", Version: "v1alpha1"}

	// SchemeBuilder registers the Ampora kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the Ampora kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Rollout{}, &RolloutList{},
		&AgentGroup{}, &AgentGroupList{},
		&GatePolicy{}, &GatePolicyList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
