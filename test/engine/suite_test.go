// Package engine_test runs the rollout engine with OpAMP sidecars and simulated agents
// against a real kube-apiserver, and checks rollouts end to end: batches, gates, actions,
// revisions, policies and leader failover.
package engine_test

import (
	"context"
	"sort"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/collectorconfig"
	"github.com/ampora-io/ampora/internal/membership"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var (
	env *testenv.Env
	h   *harness.H
)

func TestEngine(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Rollout engine suite")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	h = &harness.H{Env: env}
	h.Setup()
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// config returns a valid collector config; the marker makes each one distinct.
func config(marker string) string { return harness.CollectorConfig(marker) }

func hashOf(body string) string { return collectorconfig.Hash([]byte(body)) }

func group(ns, name string, match map[string]string) *fleetv1alpha1.AgentGroup {
	GinkgoHelper()
	if match == nil {
		match = map[string]string{"service.name": "otelcol"}
	}
	g := &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: match}}}
	Expect(env.Client.Create(context.Background(), g)).To(Succeed())
	return g
}

func rollout(ns, name, groupName, body string, mutate ...func(*fleetv1alpha1.Rollout)) *fleetv1alpha1.Rollout {
	GinkgoHelper()
	bs := fleetv1alpha1.FromInt(10)
	r := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: groupName, Config: fleetv1alpha1.RolloutConfig{Inline: &body},
			Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs}}}
	for _, m := range mutate {
		m(r)
	}
	Expect(env.Client.Create(context.Background(), r)).To(Succeed())
	return r
}

func get(ns, name string) *fleetv1alpha1.Rollout {
	GinkgoHelper()
	r := &fleetv1alpha1.Rollout{}
	Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, r)).To(Succeed())
	return r
}

func phase(ns, name string) func() fleetv1alpha1.RolloutPhase {
	return func() fleetv1alpha1.RolloutPhase { return get(ns, name).Status.Phase }
}

// annotate asks for an action the way the documented kubectl one-liner does.
func annotate(ns, name string, action fleetv1alpha1.RolloutAction) {
	GinkgoHelper()
	_, errOut, err := env.Kubectl(context.Background(), "", "-n", ns, "annotate", "rollout", name,
		"fleet.ampora.io/action="+string(action), "fleet.ampora.io/action-requested-by=alice", "--overwrite")
	Expect(err).NotTo(HaveOccurred(), errOut)
}

// events lists the reasons and notes of the Events about a Rollout, oldest first.
func events(ns, name string) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(env.Client.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp) })
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

// firstByRank returns, of the fleet's agents, the n with the lowest rank under hash: the
// agents the first batch of n admits.
func firstByRank(f *fleetsim.Fleet, hash string, n int) []*fleetsim.Agent {
	agents := append([]*fleetsim.Agent(nil), f.Agents...)
	sort.Slice(agents, func(i, j int) bool {
		return membership.Rank(hash, agents[i].UID.String()) < membership.Rank(hash, agents[j].UID.String())
	})
	return agents[:n]
}

func receivedHash(a *fleetsim.Agent, hash string) bool {
	for _, h := range a.Received() {
		if h == hash {
			return true
		}
	}
	return false
}

func durationPtr(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func objectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}
