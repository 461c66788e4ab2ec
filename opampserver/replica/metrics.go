package replica

import "github.com/prometheus/client_golang/prometheus"

// metrics are the replica's share of the sidecar's metrics. Labels stay bounded: no instance
// UIDs.
type metrics struct {
	agentsByState  *prometheus.GaugeVec
	statusWrites   *prometheus.CounterVec
	handoverAgents prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		agentsByState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ampora_rollout_agents",
			Help: "Agents admitted to a rollout held by this replica, by rollout and verified state.",
		}, []string{"namespace", "rollout", "state"}),
		statusWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ampora_opamp_status_writes_total",
			Help: "Status writes (server-side apply) by this replica, by kind.",
		}, []string{"kind"}),
		handoverAgents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ampora_opamp_handover_agents_total",
			Help: "Instance UIDs named in the handover notices this replica received from its peers: agents whose session moved to a peer.",
		}),
	}
	reg.MustRegister(m.agentsByState, m.statusWrites, m.handoverAgents)
	return m
}
