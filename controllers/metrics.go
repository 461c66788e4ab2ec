package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	gateEvaluations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ampora_gate_evaluations_total",
		Help: "Gate evaluations of batches, by the gate that decided (\"all\" for a pass) and the result.",
	}, []string{"gate", "result"})
)

func init() {
	metrics.Registry.MustRegister(gateEvaluations)
}
