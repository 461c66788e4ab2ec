package controllers

import (
	"cmp"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/approval"
	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/internal/revision"
)

// CacheOptions limit what the manager caches: the sidecars' Leases of the operator namespace
// and the stored config revisions, not every Lease and ControllerRevision of the cluster.
func CacheOptions(operatorNamespace string) cache.Options {
	replicaLeases, _ := labels.NewRequirement(readapi.LabelReplicaLease, selection.Exists, nil)
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&coordinationv1.Lease{}: {
			Namespaces: map[string]cache.Config{operatorNamespace: {}},
			Label:      labels.NewSelector().Add(*replicaLeases),
		},
		// The sidecars' Pods, whose IPs the read-API URLs on their Leases must be.
		&corev1.Pod{}:                {Namespaces: map[string]cache.Config{operatorNamespace: {}}},
		&appsv1.ControllerRevision{}: {Label: labels.SelectorFromSet(labels.Set{revision.LabelConfig: "true"})},
	}}
}

// Options configure the engine's reconcilers.
type Options struct {
	// OperatorNamespace holds the sidecars' Leases and the operator's default GatePolicy.
	OperatorNamespace string
	// ApprovalKey checks the seals of approval records: a record the webhook did not seal
	// counts no author and no approval.
	ApprovalKey approval.Key
	// SidecarToken returns the bearer token for the sidecars' read API.
	SidecarToken func() (string, error)
	// ReplicaAddressCheck (readapi.AddressCheckPod when empty, or AddressCheckNone) and
	// ReplicaServiceAccounts say which read-API URLs on the sidecars' Leases get the token.
	ReplicaAddressCheck    string
	ReplicaServiceAccounts []string
	Clock                  clock.Clock
	// RateWindow is the span of a Rollout's appliesPerMinute (DefaultRateWindow when zero).
	RateWindow time.Duration
	// ReplicaReportTimeout is how long a live sidecar replica may go without writing its
	// status entries before they stop counting, and a dead one's before they are removed
	// (DefaultReplicaReportTimeout when zero).
	ReplicaReportTimeout time.Duration
}

// Setup registers the Rollout, AgentGroup and GatePolicy reconcilers with mgr.
func Setup(mgr ctrl.Manager, o Options) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	o.ReplicaReportTimeout = cmp.Or(o.ReplicaReportTimeout, DefaultReplicaReportTimeout)
	replicas := &readapi.Peers{Client: mgr.GetClient(), Namespace: o.OperatorNamespace, Token: o.SidecarToken,
		Check: readapi.AddressCheck{Mode: o.ReplicaAddressCheck, ServiceAccounts: o.ReplicaServiceAccounts}}
	events := &Events{Recorder: mgr.GetEventRecorder("ampora-manager")}
	if err := (&RolloutReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Replicas: replicas, Events: events, Clock: o.Clock,
		rates: applyRates{window: o.RateWindow}, ReplicaReportTimeout: o.ReplicaReportTimeout,
		OperatorNamespace: o.OperatorNamespace, ApprovalKey: o.ApprovalKey}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&AgentGroupReconciler{Client: mgr.GetClient(), Replicas: replicas, Clock: o.Clock, ReplicaReportTimeout: o.ReplicaReportTimeout}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&GatePolicyReconciler{Client: mgr.GetClient(), Events: events, ApprovalKey: o.ApprovalKey}).SetupWithManager(mgr)
}
