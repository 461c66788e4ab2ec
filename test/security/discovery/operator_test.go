package discovery_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ampora-io/ampora/internal/readapi"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/harness"
	"github.com/ampora-io/ampora/test/testenv"
)

var _ = Describe("ampora manager", func() {
	It("sends the operator's token to a replica Lease's URL only at a running operator Pod's IP", func() {
		bin, tokenFile, bearer, trap := forgedPeer("forged-manager")

		mgr := h.Process(bin, "manager", "manager", "--namespace="+harness.OperatorNamespace, "--leader-elect=false",
			"--metrics-bind-address=0", "--health-probe-bind-address=0", "--sidecar-token-file="+tokenFile, "--webhook-port=0")
		rolloutIn("mgr")

		By("the rollout's first batch needs the live replicas' ranks: the forged one is refused, not asked")
		Consistently(trap.tokens, 5*time.Second, 100*time.Millisecond).Should(BeEmpty(), "the manager sent its token to the forged Lease's URL")
		Eventually(mgr.Err, time.Minute).Should(gbytes.Say("replica forged-manager: read-API address " + strings.TrimPrefix(trap.URL(), "http://") +
			" is not the IP of a running Pod"))
		Expect(trap.tokens()).To(BeEmpty())

		By("control: once a running Pod of the operator's ServiceAccount has that IP, it is asked")
		runningPod("ampora-running", podAccount, corev1.PodRunning, loopback)
		Eventually(trap.tokens, time.Minute, 100*time.Millisecond).Should(ContainElement(bearer))

		By("what a replica is sent is bound to the read API's audience: the API server refuses it, so a sidecar cannot act as the manager")
		cfg := rest.AnonymousClientConfig(env.Config)
		cfg.BearerToken = strings.TrimPrefix(bearer, "Bearer ")
		asManager, err := client.New(cfg, client.Options{Scheme: env.Scheme})
		Expect(err).NotTo(HaveOccurred())
		err = asManager.List(context.Background(), &corev1.SecretList{}, client.InNamespace(harness.OperatorNamespace))
		Expect(apierrors.IsUnauthorized(err)).To(BeTrue(), "the token a replica was sent acts at the API server: %v", err)
	})
})

var _ = Describe("ampora manager, counting replicas", func() {
	It("counts a replica Lease only under the replica's own name", func(ctx SpecContext) {
		bin, tokenFile := h.Operator()
		trap := newTrap()
		leaseEditor(mallory, harness.OperatorNamespace)
		// A Lease of another name that claims to be held by replica ghost: were it counted, ghost
		// would be live, and its entries in a rollout's status would count.
		forgeLeaseNamed(mallory, harness.OperatorNamespace, readapi.LeaseName("impostor"), "ghost", trap.URL())
		h.Process(bin, "manager", "manager", "--namespace="+harness.OperatorNamespace, "--leader-elect=false",
			"--metrics-bind-address=0", "--health-probe-bind-address=0", "--sidecar-token-file="+tokenFile, "--webhook-port=0")
		ns := rolloutIn("ghost")
		Eventually(func(g Gomega) string {
			var ro fleetv1alpha1.Rollout
			g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gw"}, &ro)).To(Succeed())
			return ro.Status.Message
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(HavePrefix("no OpAMP sidecar replica is live"))
		Expect(trap.tokens()).To(BeEmpty())
	})
})

var _ = Describe("ampora opamp", func() {
	It("hands agents over with the operator's token only to a peer Lease's URL at a running operator Pod's IP", func() {
		bin, tokenFile, bearer, trap := forgedPeer("forged-peer")

		ports, err := testenv.FreePorts(2)
		Expect(err).NotTo(HaveOccurred())
		// The sidecar's own Lease goes once it is killed (specs run after this one may count it).
		own := readapi.LeaseName("honest-0")
		DeferCleanup(deleteLease, own)
		sc := h.Process(bin, "opamp", "opamp", "--replica=honest-0", "--namespace="+harness.OperatorNamespace,
			fmt.Sprintf("--listen=127.0.0.1:%d", ports[0]), fmt.Sprintf("--read-api-addr=127.0.0.1:%d", ports[1]),
			"--probe-addr=127.0.0.1:0", "--lease-duration=5s", "--peer-token-file="+tokenFile)
		url := fmt.Sprintf("ws://127.0.0.1:%d/v1/opamp", ports[0])
		ns, enroll := h.Namespace("peer")

		By("agents new to the replica are handed over to its live peers: the forged one is refused, not told")
		Eventually(func() error { return dial(url) }, 30*time.Second, 200*time.Millisecond).Should(Succeed())
		harness.StartFleet(fleetsim.Options{URLs: []string{url}, Token: enroll, Agents: 3, UIDPrefix: ns + "-a"})
		Consistently(trap.tokens, 5*time.Second, 100*time.Millisecond).Should(BeEmpty(), "the sidecar sent its token to the forged Lease's URL")
		Eventually(sc.Err, 30*time.Second).Should(gbytes.Say("not notifying a peer of handovers"))
		Expect(trap.tokens()).To(BeEmpty())

		By("control: once a running Pod of the operator's ServiceAccount has that IP, it is told")
		runningPod("ampora-running", podAccount, corev1.PodRunning, loopback)
		harness.StartFleet(fleetsim.Options{URLs: []string{url}, Token: enroll, Agents: 3, UIDPrefix: ns + "-b"})
		Eventually(trap.tokens, 30*time.Second, 100*time.Millisecond).Should(ContainElement(bearer))
	})
})

// forgedPeer builds the operator binary and has mallory, who may write Leases in the operator
// namespace, publish a live replica Lease for replica whose read-API URL is a trap on
// 127.0.0.1, which is also the Pod IP of a running Pod of another ServiceAccount. It returns
// the binary, the operator's token file, the Authorization header that token makes, and the
// trap.
func forgedPeer(replica string) (bin, tokenFile, bearer string, t *trap) {
	GinkgoHelper()
	bin, tokenFile = h.Operator()
	token, err := os.ReadFile(tokenFile)
	Expect(err).NotTo(HaveOccurred())
	t = newTrap()
	leaseEditor(mallory, harness.OperatorNamespace)
	forgeLease(mallory, harness.OperatorNamespace, replica, t.URL())
	runningPod("intruder", "intruder", corev1.PodRunning, loopback)
	return bin, tokenFile, "Bearer " + strings.TrimSpace(string(token)), t
}

// deleteLease deletes a Lease of the operator namespace.
func deleteLease(name string) {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: harness.OperatorNamespace, Name: name}}
	Expect(client.IgnoreNotFound(env.Client.Delete(context.Background(), l))).To(Succeed())
}

// dial says whether something listens at a ws:// URL's address.
func dial(url string) error {
	c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/v1/opamp"))
	if err == nil {
		_ = c.Close()
	}
	return err
}
