package opampserver

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sidecar's Prometheus metrics. Labels stay bounded: no instance UIDs.
type metrics struct {
	connected      prometheus.GaugeFunc
	applyDuration  *prometheus.HistogramVec
	dispatchLocal  prometheus.Counter
	handoverAgents prometheus.Counter
	dispatchNoSess prometheus.Counter
	messages       *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	agentsRefused  *prometheus.CounterVec
	uidsReassigned *prometheus.CounterVec
	policyDenied   *prometheus.CounterVec
	agentsByState  *prometheus.GaugeVec
	statusWrites   *prometheus.CounterVec
	registryAgents prometheus.GaugeFunc
	openConns      prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
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
		handoverAgents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ampora_opamp_handover_agents_total",
			Help: "Instance UIDs named in the handover notices this replica received from its peers: agents whose session moved to a peer.",
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
		agentsByState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ampora_rollout_agents",
			Help: "Agents admitted to a rollout held by this replica, by rollout and verified state.",
		}, []string{"namespace", "rollout", "state"}),
		statusWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ampora_opamp_status_writes_total",
			Help: "Status writes (server-side apply) by this replica, by kind.",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.connected, m.registryAgents, m.openConns, m.applyDuration, m.dispatchLocal, m.handoverAgents,
		m.dispatchNoSess, m.messages, m.rejected, m.agentsRefused, m.uidsReassigned, m.policyDenied, m.agentsByState, m.statusWrites)
	for _, reason := range []string{reassignedDuplicate, reassignedNamespace} {
		m.uidsReassigned.WithLabelValues(reason) // at 0 from the start, so that a rate has a base
	}
	return m
}
