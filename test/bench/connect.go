package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// connect: N agents over R replicas, idle with heartbeats. How long they take to connect,
// what each sidecar holds in memory per agent, and what it burns idle.
func (r *run) connect(start time.Time) (Record, error) {
	rec := newRecord("connect", r.o.agents, r.o.replicas, r.o.transport, start)
	if err := r.up(r.o.replicas, leaseTimesFor(r.o.leaseDuration)); err != nil {
		return rec, err
	}
	res := &ConnectResult{SettleSeconds: r.o.settle.Seconds(), IdleSeconds: r.o.idle.Seconds()}
	for _, rep := range r.reps {
		rss, err := readRSS(rep.opamp.pid())
		if err != nil {
			return rec, fmt.Errorf("%s: %w", rep.name, err)
		}
		res.SidecarRSSBaselineBytes = append(res.SidecarRSSBaselineBytes, rss)
	}
	took, err := r.connectFleet(r.o.agents)
	if err != nil {
		return rec, err
	}
	res.ConnectSeconds = round3(took.Seconds())
	if r.o.settle > 0 {
		if err := r.wait(fmt.Sprintf("settle for %s", r.o.settle), r.o.settle); err != nil {
			return rec, err
		}
	}

	// The idle window: nothing but the agents' heartbeats and the operator's own loops; the
	// harness does not scrape the sidecars meanwhile.
	cpu0 := make([]float64, len(r.reps))
	for i, rep := range r.reps {
		if cpu0[i], err = readCPUSeconds(rep.opamp.pid()); err != nil {
			return rec, fmt.Errorf("%s: %w", rep.name, err)
		}
	}
	t0 := time.Now()
	if err := r.wait(fmt.Sprintf("idle for %s, measuring the sidecars' CPU", r.o.idle), r.o.idle); err != nil {
		return rec, err
	}
	window := time.Since(t0)
	for i, rep := range r.reps {
		cpu1, err := readCPUSeconds(rep.opamp.pid())
		if err != nil {
			return rec, fmt.Errorf("%s: %w", rep.name, err)
		}
		res.SidecarCPUIdlePerRep = append(res.SidecarCPUIdlePerRep, round3((cpu1-cpu0[i])/window.Minutes()))
	}
	for _, rep := range r.reps {
		rss, err := readRSS(rep.opamp.pid())
		if err != nil {
			return rec, fmt.Errorf("%s: %w", rep.name, err)
		}
		res.SidecarRSSBytes = append(res.SidecarRSSBytes, rss)
	}
	per, err := r.connectedAgents(r.ctx)
	if err != nil {
		return rec, err
	}
	res.SidecarAgents = per
	for _, rep := range r.reps {
		samples, err := scrape(r.ctx, localHTTP, rep.probeURL+"/metrics")
		if err != nil {
			return rec, fmt.Errorf("%s: %w", rep.name, err)
		}
		heap, _ := sum(samples, "go_memstats_heap_inuse_bytes", nil)
		stack, _ := sum(samples, "go_memstats_stack_inuse_bytes", nil)
		goroutines, _ := sum(samples, "go_goroutines", nil)
		res.SidecarGoHeapInuse = append(res.SidecarGoHeapInuse, uint64(heap))
		res.SidecarGoStackInuse = append(res.SidecarGoStackInuse, uint64(stack))
		res.SidecarGoroutines = append(res.SidecarGoroutines, int(goroutines))
	}
	if r.o.profileDir != "" {
		if err := r.saveHeapProfiles(); err != nil {
			return rec, err
		}
	}
	res.AgentsConnected = sumInts(per)
	perAgent, marginal, cpu := math.NaN(), math.NaN(), math.NaN()
	for i := range r.reps {
		if per[i] > 0 {
			perAgent = nanMax(perAgent, float64(res.SidecarRSSBytes[i])/float64(per[i]))
			marginal = nanMax(marginal, (float64(res.SidecarRSSBytes[i])-float64(res.SidecarRSSBaselineBytes[i]))/float64(per[i]))
		}
		cpu = nanMax(cpu, res.SidecarCPUIdlePerRep[i])
	}
	res.RSSBytesPerAgent, res.RSSBytesPerAgentMarg, res.SidecarCPUIdle = num(math.Round(perAgent)), num(math.Round(marginal)), num(cpu)
	if res.AgentsConnected != r.o.agents {
		r.logf("    warning: %d of %d agents connected at the end of the idle window", res.AgentsConnected, r.o.agents)
	}
	rec.ConnectResult = res
	return rec, nil
}

// saveHeapProfiles saves each sidecar's heap profile, taken after a GC, as
// <profile-dir>/connect-<agents>-<replica>-heap.pb.gz; go tool pprof reads it.
func (r *run) saveHeapProfiles() error {
	if err := os.MkdirAll(r.o.profileDir, 0o755); err != nil {
		return err
	}
	for _, rep := range r.reps {
		u := rep.pprofURL + "heap?gc=1"
		if err := checkLoopbackURL(u); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := localHTTP.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", rep.name, err)
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: heap profile: %s %v", rep.name, resp.Status, err)
		}
		path := filepath.Join(r.o.profileDir, fmt.Sprintf("connect-%d-%s-heap.pb.gz", r.o.agents, rep.name))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		r.logf("    %s: heap profile in %s", rep.name, path)
	}
	return nil
}

// nanMax is the larger of a and b, where NaN means "none yet".
func nanMax(a, b float64) float64 {
	if math.IsNaN(a) || b > a {
		return b
	}
	return a
}
