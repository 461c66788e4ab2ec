package harness

import (
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
)

// MetricValue reads the counter or gauge name of reg whose labels include the given ones
// (name, value pairs); 0 when there is none.
func MetricValue(reg *prometheus.Registry, name string, labels ...string) float64 {
	families, err := reg.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}
