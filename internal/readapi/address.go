package readapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A replica's read-API URL comes from its Lease, which anyone allowed to write Leases in the
// operator namespace can set. Before a bearer token is sent there, the address is checked: its
// host must be the IP of a running Pod, in the operator namespace, of the sidecars'
// ServiceAccount. Only who may create such Pods could forge one, and they hold that
// ServiceAccount's token already.

// The address checks (--replica-address-check).
const (
	// AddressCheckPod sends a token only to the Pod IP of a running Pod of the sidecars'
	// ServiceAccount in the operator namespace: the default.
	AddressCheckPod = "pod"
	// AddressCheckNone trusts the URL on the Lease: only for processes that run on one machine
	// outside Pods (the test harness, make demo), whose Leases publish 127.0.0.1 addresses.
	AddressCheckNone = "none"
)

// DefaultReplicaServiceAccounts are the ServiceAccounts the operator's Pods run as in the two
// installs: the sidecar's, "ampora-opamp" in config/default and in the chart for a release
// named ampora. (The Pod's ServiceAccount is the sidecar's, whose kubelet token is bound to the
// Pod; the manager container carries a token of its own, but the Pod is what the address check
// looks up.)
var DefaultReplicaServiceAccounts = []string{"ampora-opamp"}

// AddressCheck says which read-API addresses a token may be sent to.
type AddressCheck struct {
	// Mode is AddressCheckPod (also when empty) or AddressCheckNone.
	Mode string
	// Namespace is the operator namespace, where the sidecars' Pods run.
	Namespace string
	// ServiceAccounts are the sidecars' ServiceAccounts (DefaultReplicaServiceAccounts when
	// empty).
	ServiceAccounts []string
}

// ParseAddressCheck checks a --replica-address-check value.
func ParseAddressCheck(mode string) error {
	switch mode {
	case AddressCheckPod, AddressCheckNone:
		return nil
	}
	return fmt.Errorf("replica-address-check %q: use %s or %s", mode, AddressCheckPod, AddressCheckNone)
}

func (a AddressCheck) serviceAccounts() []string {
	if len(a.ServiceAccounts) == 0 {
		return DefaultReplicaServiceAccounts
	}
	return a.ServiceAccounts
}

// Addresses lists, once, the addresses a token may be sent to now.
func (a AddressCheck) Addresses(ctx context.Context, c client.Reader) (*Addresses, error) {
	out := &Addresses{check: a}
	if a.Mode == AddressCheckNone {
		return out, nil
	}
	if a.Namespace == "" {
		return nil, fmt.Errorf("no operator namespace to find the sidecars' Pods in")
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(a.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the Pods of namespace %s, to check the replicas' addresses: %w", a.Namespace, err)
	}
	out.ips = map[string]bool{}
	sas := a.serviceAccounts()
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || !slices.Contains(sas, p.Spec.ServiceAccountName) {
			continue
		}
		if ip := net.ParseIP(p.Status.PodIP); ip != nil {
			out.ips[ip.String()] = true
		}
		for _, pip := range p.Status.PodIPs {
			if ip := net.ParseIP(pip.IP); ip != nil {
				out.ips[ip.String()] = true
			}
		}
	}
	return out, nil
}

// Addresses are the read-API hosts a token may be sent to.
type Addresses struct {
	check AddressCheck
	// ips holds the Pod IPs; nil when every address is trusted.
	ips map[string]bool
}

// Check says why rawURL must not be sent a token, or nil when it may.
func (a *Addresses) Check(rawURL string) error {
	if a.ips == nil && a.check.Mode == AddressCheckNone {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("read-API address %q is not an http(s) URL", rawURL)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !a.ips[ip.String()] {
		return fmt.Errorf("read-API address %s is not the IP of a running Pod of ServiceAccount %s in namespace %s: not asked",
			u.Host, strings.Join(a.check.serviceAccounts(), " or "), a.check.Namespace)
	}
	return nil
}

// HTTPClient is the client that carries a bearer token to a replica's read API: it never
// follows a redirect, so that a replica cannot send the token, or the caller, on to another
// address.
func HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
