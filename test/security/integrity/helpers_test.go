package integrity_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/fleetsim"
)

// group creates, as alice, a group of the agents whose service.name is name.
func group(ns, name, serviceName string) {
	GinkgoHelper()
	Expect(users["alice"].Create(context.Background(), &fleetv1alpha1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.AgentGroupSpec{Selector: fleetv1alpha1.AgentSelector{MatchAttributes: map[string]string{"service.name": serviceName}}}})).To(Succeed())
}

// rollout is a Rollout of body to group, in batches of two.
func rollout(ns, name, group, body string) *fleetv1alpha1.Rollout {
	bs := fleetv1alpha1.FromInt(2)
	return &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.RolloutSpec{AgentGroup: group, Config: fleetv1alpha1.RolloutConfig{Inline: &body},
			Strategy: fleetv1alpha1.RolloutStrategy{BatchSize: &bs}}}
}

func get(ns, name string) *fleetv1alpha1.Rollout { return h.Rollout(ns, name) }

func phase(ns, name string) func() fleetv1alpha1.RolloutPhase {
	return func() fleetv1alpha1.RolloutPhase { return get(ns, name).Status.Phase }
}

// reason is the reason of a condition of the rollout ("" when absent).
func reason(ns, name, condition string) func() string {
	return func() string {
		if c := meta.FindStatusCondition(get(ns, name).Status.Conditions, condition); c != nil {
			return c.Reason
		}
		return ""
	}
}

// received counts the agents that were ever offered hash.
func received(fleet *fleetsim.Fleet, hash string) func() int {
	return func() int {
		return fleet.Count(func(a *fleetsim.Agent) bool {
			for _, h := range a.Received() {
				if h == hash {
					return true
				}
			}
			return false
		})
	}
}

// never is how long a test watches for something that must not happen.
const never = 3 * time.Second

// edit changes Rollout ns/name as c, again on a conflict: the engine and the sidecars write its
// status meanwhile.
func edit(c client.Client, ns, name string, change func(*fleetv1alpha1.Rollout)) {
	GinkgoHelper()
	Eventually(func() error {
		ro := get(ns, name)
		change(ro)
		return c.Update(context.Background(), ro)
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}
