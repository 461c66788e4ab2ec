package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ampora-io/ampora/test/testenv"
)

// leaderLine is what client-go's leader election logs when a manager becomes the leader.
const leaderLine = "successfully acquired lease"

// leaseTimes are the managers' leader-election settings.
type leaseTimes struct {
	duration, renewDeadline, retryPeriod time.Duration
}

// leaseTimesFor keeps production's proportions (30 s, 20 s, 5 s) for any lease duration.
func leaseTimesFor(d time.Duration) leaseTimes {
	return leaseTimes{duration: d, renewDeadline: d * 2 / 3, retryPeriod: max(d/6, 200*time.Millisecond)}
}

// replica is one operator replica, as in one Pod: an `ampora opamp` sidecar and an
// `ampora manager`, both processes.
type replica struct {
	name     string
	opamp    *proc
	manager  *proc
	agentURL string // where agents connect
	probeURL string // the sidecar's /healthz, /readyz, /metrics
	mgrProbe string // the manager's /healthz, /readyz
	// mgrMetrics is the manager's metrics endpoint.
	mgrMetrics string
	pprofURL   string // the sidecar's /debug/pprof/, with -profile-dir
}

// startOperator starts n replicas.
func (r *run) startOperator(n int, lease leaseTimes) error {
	env := append(os.Environ(), "KUBECONFIG="+r.cl.kubeconfig(), "POD_NAMESPACE="+operatorNS)
	scheme := "ws"
	if r.o.transport == "http" {
		scheme = "http"
	}
	for i := range n {
		ports, err := testenv.FreePorts(6)
		if err != nil {
			return err
		}
		addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
		rep := &replica{
			name:     fmt.Sprintf("ampora-%d", i),
			agentURL: fmt.Sprintf("%s://%s/v1/opamp", scheme, addr(ports[2])),
			probeURL: "http://" + addr(ports[4]),
			mgrProbe: "http://" + addr(ports[1]),
			// The manager's /metrics.
			mgrMetrics: "http://" + addr(ports[0]),
		}
		for _, u := range []string{rep.agentURL, rep.probeURL, rep.mgrProbe} {
			if err := checkLoopbackURL(u); err != nil {
				return err
			}
		}
		// The replicas are processes of this machine on loopback addresses, not Pods: their
		// Leases publish addresses no Pod has, so the Pod-IP check of peers is off.
		rep.manager, err = r.procs.start(rep.name+"-manager", env, nil, r.bins.ampora, "manager",
			"--leader-elect-lease-duration="+lease.duration.String(),
			"--leader-elect-renew-deadline="+lease.renewDeadline.String(),
			"--leader-elect-retry-period="+lease.retryPeriod.String(),
			"--metrics-bind-address="+addr(ports[0]), "--health-probe-bind-address="+addr(ports[1]),
			"--sidecar-token-file="+r.cl.tokenFile, "--webhook-port=0", noAddressCheck)
		if err != nil {
			return err
		}
		args := []string{"opamp", "--replica=" + rep.name,
			"--listen=" + addr(ports[2]), "--read-api-addr=" + addr(ports[3]), "--probe-addr=" + addr(ports[4]),
			"--peer-token-file=" + r.cl.tokenFile, noAddressCheck}
		if r.o.profileDir != "" {
			rep.pprofURL = "http://" + addr(ports[5]) + "/debug/pprof/"
			args = append(args, "--pprof-bind-address="+addr(ports[5]))
		}
		rep.opamp, err = r.procs.start(rep.name+"-opamp", env, nil, r.bins.ampora, args...)
		if err != nil {
			return err
		}
		r.reps = append(r.reps, rep)
		r.logf("    %s: OpAMP at %s, metrics at %s/metrics", rep.name, rep.agentURL, rep.probeURL)
	}
	return nil
}

// waitOperatorReady waits for every sidecar and manager to answer /readyz, and for one
// manager to lead.
func (r *run) waitOperatorReady(ctx context.Context, ph *phase) error {
	for _, rep := range r.reps {
		for _, u := range []string{rep.probeURL + "/readyz", rep.mgrProbe + "/readyz"} {
			ph.report("waiting for %s", u)
			if err := poll(ctx, 100*time.Millisecond, func() (bool, error) { return httpOK(ctx, u), nil }); err != nil {
				return err
			}
		}
	}
	ph.report("waiting for a manager to log %q", leaderLine)
	return poll(ctx, 100*time.Millisecond, func() (bool, error) { return r.leader() != nil, nil })
}

// leader is the replica whose manager logged that it acquired the lease and is still
// running, nil when none has.
func (r *run) leader() *replica {
	for _, rep := range r.reps {
		if !rep.manager.exited() && rep.manager.logContains(leaderLine) {
			return rep
		}
	}
	return nil
}

// connectedAgents reads ampora_opamp_connected_agents of every replica.
func (r *run) connectedAgents(ctx context.Context) ([]int, error) {
	out := make([]int, len(r.reps))
	for i, rep := range r.reps {
		samples, err := scrape(ctx, localHTTP, rep.probeURL+"/metrics")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rep.name, err)
		}
		v, ok := sum(samples, "ampora_opamp_connected_agents", nil)
		if !ok {
			return nil, fmt.Errorf("%s: no ampora_opamp_connected_agents in /metrics", rep.name)
		}
		out[i] = int(v)
	}
	return out, nil
}

func httpOK(ctx context.Context, u string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := localHTTP.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// sumInts adds xs.
func sumInts(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

// joinInts writes [1 2 3] as "1, 2, 3".
func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// noAddressCheck trusts the read-API URLs on the replicas' Leases (docs/opamp.md, "Replica
// Leases"): the benchmark runs the replicas outside Pods.
const noAddressCheck = "--replica-address-check=none"
