package opampserver

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sidecar's Prometheus metrics. Labels stay bounded: no instance UIDs.
type metrics struct {
	connected      prometheus.GaugeFunc
	applyDuration  *prometheus.HistogramVec
	dispatchLocal  prometheus.Counter
	dispatchNoSess prometheus.Counter
	messages       *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	agentsRefused  *prometheus.CounterVec
	uidsReassigned *prometheus.CounterVec
	policyDenied   *prometheus.CounterVec
	registryAgents prometheus.GaugeFunc
	openConns      prometheus.GaugeFunc
	// agentTypes bounds the agent_type label.
	agentTypes boundedLabels
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		agentTypes: boundedLabels{max: 20},
		connected: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ampora_opamp_connected_agents",
			Help: "Agents with a live OpAMP session on this replica.",
		}, func() float64 { return float64(s.connectedCount()) }),
		registryAgents: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ampora_opamp_registry_agents",
			Help: "Agents in this replica's registry, connected or recently disconnected.",
		}, func() float64 { return float64(s.registry.Len()) }),
		openConns: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ampora_opamp_open_connections",
			Help: "TCP connections open on the agent listener: sessions, polls and connections not yet past their headers.",
		}, func() float64 { return float64(s.connLimit.Open()) }),
		applyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ampora_opamp_apply_duration_seconds",
			Help:    "Time from offering a config to the agent's verified APPLIED, by agent type (service.name, bounded).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"agent_type"}),
		dispatchLocal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ampora_dispatch_local_total",
			Help: "Configs offered by this replica to agents whose session it holds.",
		}),
		dispatchNoSess: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ampora_dispatch_no_session_total",
			Help: "Admitted agents this replica could not offer the config to because they have no live session; counted once per agent and revision.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ampora_opamp_messages_total",
			Help: "AgentToServer messages received, by the most significant part they carry.",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ampora_opamp_rejected_connections_total",
			Help: "Connections, sessions and messages refused or cut off, by reason (unauthenticated, invalid_token, token_revoked, overloaded, connection_limit, timeout, too_large).",
		}, []string{"reason"}),
		agentsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ampora_opamp_agents_refused_total",
			Help: "Agent messages refused for their instance UID, by reason (agent_limit, uid_changed, uid_bound); WebSocket sessions are closed.",
		}, []string{"reason"}),
		uidsReassigned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ampora_opamp_instance_uids_reassigned_total",
			Help: "Agents told to adopt a new instance UID because another principal holds theirs, by reason (duplicate: an open session of the same token holds it; namespace: it is enrolled in another namespace).",
		}, []string{"reason"}),
		policyDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ampora_policy_denied_total",
			Help: "Pushes denied by a push policy, by policy name; counted once per agent and revision.",
		}, []string{"policy"}),
	}
	reg.MustRegister(m.connected, m.registryAgents, m.openConns, m.applyDuration, m.dispatchLocal,
		m.dispatchNoSess, m.messages, m.rejected, m.agentsRefused, m.uidsReassigned, m.policyDenied)
	for _, reason := range []string{reassignedDuplicate, reassignedNamespace} {
		m.uidsReassigned.WithLabelValues(reason) // at 0 from the start, so that a rate has a base
	}
	return m
}
