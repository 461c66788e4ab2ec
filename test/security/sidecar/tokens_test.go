package sidecar_test

import (
	"context"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ampora-io/ampora/internal/readapi"
	"github.com/ampora-io/ampora/opampserver"
)

var _ = Describe("Enrollment tokens", func() {
	// plant puts value into a labelled Secret of ns, as an editor of ns who learned another
	// namespace's token could.
	plant := func(ns, name, value string) {
		GinkgoHelper()
		Expect(env.Client.Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{readapi.LabelEnrollmentToken: "true"}},
			Data:       map[string][]byte{readapi.TokenKey: []byte(value)},
		})).To(Succeed())
	}

	// later waits until a Secret created now would be younger than ns's Secret name: creation
	// times count whole seconds.
	later := func(ns, name string) {
		GinkgoHelper()
		var s corev1.Secret
		Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s)).To(Succeed())
		Eventually(func() bool { return time.Now().Truncate(time.Second).After(s.CreationTimestamp.Time) }, 3*time.Second, 50*time.Millisecond).Should(BeTrue())
	}

	It("keep a token in the namespace that had it first: a copy planted in another namespace neither takes it nor disables it", func() {
		victimNS, token := tenant("token-victim")
		attackerNS, _ := tenant("token-attacker")
		sc, _ := replica("token-copy-0")
		later(victimNS, "enroll")
		plant(attackerNS, "copied", token)

		uid := newUID()
		// The copy reaches the replica's token store through its informer: poll until it
		// would have, then the victim's agent must still enroll into its own namespace.
		Consistently(func() int { code, _ := poll(sc, token, describe(uid, 0)); return code }, 3*time.Second, 250*time.Millisecond).
			Should(Equal(http.StatusOK), "the planted copy disabled the token")
		// The replica lists a group's agents once its view of the group is built.
		Eventually(func() map[string]readapi.Agent { return agents(sc, victimNS) }, 10*time.Second, 200*time.Millisecond).Should(HaveKey(uidString(uid)))
		Expect(agents(sc, attackerNS)).NotTo(HaveKey(uidString(uid)))
	})

	It("enroll a token that names its namespace only from a Secret of that namespace, even after the namespace deletes its own", func() {
		victimNS, _ := tenant("bound-victim")
		attackerNS, _ := tenant("bound-attacker")
		sc, _ := replica("token-bound-0")
		bound := opampserver.BoundToken(victimNS, "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
		plant(victimNS, "bound", bound)
		uid := newUID()
		Eventually(func() int { code, _ := poll(sc, bound, describe(uid, 0)); return code }, 10*time.Second, 200*time.Millisecond).Should(Equal(http.StatusOK))
		Eventually(func() map[string]readapi.Agent { return agents(sc, victimNS) }, 10*time.Second, 200*time.Millisecond).Should(HaveKey(uidString(uid)))

		By("an editor of another namespace plants a copy; the victim then rotates by deleting its Secret")
		plant(attackerNS, "copied", bound)
		Expect(env.Client.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: victimNS, Name: "bound"}})).To(Succeed())
		Eventually(func() int { code, _ := poll(sc, bound, describe(newUID(), 0)); return code }, 10*time.Second, 200*time.Millisecond).
			Should(Equal(http.StatusUnauthorized), "the token still enrolls somewhere")
		Consistently(func() int { code, _ := poll(sc, bound, describe(newUID(), 0)); return code }, 2*time.Second, 250*time.Millisecond).
			Should(Equal(http.StatusUnauthorized), "the copy enrolls the victim's agents into the attacker's namespace")
		Expect(agents(sc, attackerNS)).To(BeEmpty())
	})
})
