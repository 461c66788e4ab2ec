package discovery_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/ampora-io/ampora/internal/readapi"

	"github.com/ampora-io/ampora/test/harness"
)

var _ = Describe("kubectl ampora, given no operator namespace", func() {
	It("never sends the user's token to a Lease a namespace editor made elsewhere, however recently renewed", func() {
		kubeconfig, token := victim()
		ns := rolloutIn("app")
		trap := newTrap()
		leaseEditor(mallory, "team")
		forgeLease(mallory, "team", "evil", trap.URL())

		By("agents, why and the read API's other users read the operator namespace's Leases only")
		out := runPlugin(kubeconfig, "agents", "gw", "-n", ns)
		Expect(trap.tokens()).To(BeEmpty(), "the plugin sent the token to the forged Lease's URL:\n%s", out)
		out = runPlugin(kubeconfig, "why", "gw", "-n", ns)
		Expect(trap.tokens()).To(BeEmpty(), "why sent the token to the forged Lease's URL:\n%s", out)
		Expect(out).To(ContainSubstring("Leases labelled " + readapi.LabelReplicaLease + " in " + harness.OperatorNamespace))

		By("control: named explicitly, with the address check off, the same Lease is asked")
		runPlugin(kubeconfig, "agents", "gw", "-n", ns, "--operator-namespace", "team", "--replica-address-check", "none")
		Expect(trap.tokens()).To(ConsistOf("Bearer " + token))
	})

	It("sends the user's token to a Lease's URL in the operator namespace only at a running operator Pod's IP", func() {
		kubeconfig, token := victim()
		ns := rolloutIn("app")
		trap := newTrap()
		leaseEditor(mallory, harness.OperatorNamespace)
		forgeLease(mallory, harness.OperatorNamespace, "forged-plugin", trap.URL())
		// The address is a Pod IP, but of another ServiceAccount's Pod, and of a Pod of the
		// operator's that does not run.
		runningPod("intruder", "intruder", corev1.PodRunning, loopback)
		runningPod("ampora-pending", podAccount, corev1.PodPending, loopback)

		out := runPlugin(kubeconfig, "agents", "gw", "-n", ns)
		Expect(trap.tokens()).To(BeEmpty(), "the plugin sent the token to the forged Lease's URL:\n%s", out)
		Expect(out).To(ContainSubstring("is not the IP of a running Pod of ServiceAccount"))

		By("control: once a running Pod of the operator's ServiceAccount has that IP, it is asked")
		runningPod("ampora-running", podAccount, corev1.PodRunning, loopback)
		runPlugin(kubeconfig, "agents", "gw", "-n", ns)
		Expect(trap.tokens()).To(ConsistOf("Bearer " + token))
	})
})
