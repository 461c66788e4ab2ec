package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// simProc is one load-generator process (test/fleetsim/cmd/fleetsim) and the status lines
// it printed.
type simProc struct {
	p      *proc
	agents int

	mu      sync.Mutex
	samples []simSample
}

// simSample is one fleetsim status line, stamped with the moment the harness received it:
// "15:04:05 +12s agents=300 connected=300 applying=0 applied=0 failed=0".
type simSample struct {
	at                                           time.Time
	agents, connected, applying, applied, failed int
}

// parseStatusLine reads a fleetsim status line; ok is false for any other line.
func parseStatusLine(line string) (s simSample, ok bool) {
	seen := 0
	for _, f := range strings.Fields(line) {
		k, v, found := strings.Cut(f, "=")
		if !found {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return s, false
		}
		switch k {
		case "agents":
			s.agents = n
		case "connected":
			s.connected = n
		case "applying":
			s.applying = n
		case "applied":
			s.applied = n
		case "failed":
			s.failed = n
		default:
			continue
		}
		seen++
	}
	return s, seen == 5
}

// splitFleet shares n agents over as few processes as keep each at or under perProc.
func splitFleet(n, perProc int) []int {
	k := (n + perProc - 1) / perProc
	out := make([]int, k)
	for i := range out {
		out[i] = n / k
		if i < n%k {
			out[i]++
		}
	}
	return out
}

// sourceIPsFor is how many loopback source addresses a fleet of n WebSocket agents uses:
// at least 8 (connecting is much faster over several), and enough to stay well under the
// 28,000 or so ports one source address has.
func sourceIPsFor(n int) int {
	return min(254, max(8, (n+19_999)/20_000))
}

// startFleet starts the load generators: n agents, each process under -agents-per-sim, each
// spreading its agents over every replica's URL (agent i of a process connects to
// urls[i % len(urls)]) and, over WebSocket, over source addresses 127.0.0.1..127.0.0.k.
// extra are more fleetsim flags, for example a profile.
func (r *run) startFleet(n int, extra ...string) error {
	var urls []string
	for _, rep := range r.reps {
		urls = append(urls, rep.agentURL)
	}
	ips := r.o.sourceIPs
	if ips == 0 {
		ips = sourceIPsFor(n)
	}
	for i, size := range splitFleet(n, r.o.agentsPerSim) {
		args := []string{"-url", strings.Join(urls, ","), "-token", enrollToken, "-agents", fmt.Sprint(size),
			"-seed", "1", "-uid-prefix", fmt.Sprintf("bench-%d", i), "-status-every", r.o.sampleEvery.String()}
		if r.o.transport == "http" {
			args = append(args, "-http")
			if r.o.pollInterval > 0 {
				args = append(args, "-poll-interval", r.o.pollInterval.String())
			}
		} else {
			args = append(args, "-source-ips", fmt.Sprint(ips))
		}
		if r.o.heartbeat > 0 {
			args = append(args, "-heartbeat", r.o.heartbeat.String())
		}
		args = append(args, extra...)
		sp := &simProc{agents: size}
		p, err := r.procs.start(fmt.Sprintf("fleetsim-%d", i), os.Environ(), sp.onLine, r.bins.fleetsim, args...)
		if err != nil {
			return err
		}
		sp.p = p
		r.sims = append(r.sims, sp)
	}
	r.logf("    %d agents over %d fleetsim process(es) (%s), %s", n, len(r.sims), joinInts(splitFleet(n, r.o.agentsPerSim)),
		map[bool]string{true: "plain-HTTP polling", false: fmt.Sprintf("WebSocket from %d source addresses", ips)}[r.o.transport == "http"])
	return nil
}

func (sp *simProc) onLine(at time.Time, line string) {
	s, ok := parseStatusLine(line)
	if !ok {
		return
	}
	s.at = at
	sp.mu.Lock()
	sp.samples = append(sp.samples, s)
	sp.mu.Unlock()
}

// fleetTotals sums the latest status line of every load generator.
func (r *run) fleetTotals() simSample {
	var t simSample
	for _, sp := range r.sims {
		sp.mu.Lock()
		if n := len(sp.samples); n > 0 {
			s := sp.samples[n-1]
			t.agents += s.agents
			t.connected += s.connected
			t.applying += s.applying
			t.applied += s.applied
			t.failed += s.failed
		}
		sp.mu.Unlock()
	}
	return t
}

// appliedSeries is each load generator's applied count over time.
func (r *run) appliedSeries() [][]point {
	var out [][]point
	for _, sp := range r.sims {
		sp.mu.Lock()
		s := make([]point, len(sp.samples))
		for i, x := range sp.samples {
			s[i] = point{x.at, x.applied}
		}
		sp.mu.Unlock()
		out = append(out, s)
	}
	return out
}
