package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"time"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// Record is what one scenario run prints: one JSON object, on one line. The common fields
// come first; the scenario's own follow. fieldHelp documents every key.
type Record struct {
	Scenario    string `json:"scenario"`
	Agents      int    `json:"agents"`
	Replicas    int    `json:"replicas"`
	Transport   string `json:"transport"`
	Batches     int    `json:"batches,omitempty"`
	Cores       int    `json:"cores"`
	MemoryBytes uint64 `json:"memory_bytes"`
	GoVersion   string `json:"go_version"`
	Date        string `json:"date"`

	*ConnectResult
	*RolloutResult
	*FailoverResult
	*PausedResult
}

// PausedResult holds the figures of the paused scenario.
type PausedResult struct {
	PausedIdleSeconds                 float64            `json:"paused_idle_seconds"`
	ManagerRequestsPerMinute          float64            `json:"manager_requests_per_minute"`
	APIServerRolloutRequestsPerMinute float64            `json:"apiserver_rollout_requests_per_minute"`
	APIServerRolloutRequestsByVerb    map[string]float64 `json:"apiserver_rollout_requests_per_minute_by_verb"`
}

// ConnectResult holds the figures of the connect scenario.
type ConnectResult struct {
	AgentsConnected         int       `json:"agents_connected"`
	ConnectSeconds          float64   `json:"connect_seconds"`
	SidecarAgents           []int     `json:"sidecar_agents"`
	SidecarRSSBytes         []uint64  `json:"sidecar_rss_bytes"`
	SidecarRSSBaselineBytes []uint64  `json:"sidecar_rss_baseline_bytes"`
	RSSBytesPerAgent        *float64  `json:"rss_bytes_per_agent"`
	RSSBytesPerAgentMarg    *float64  `json:"rss_bytes_per_agent_marginal"`
	SidecarCPUIdle          *float64  `json:"sidecar_cpu_seconds_per_minute_idle"`
	SidecarCPUIdlePerRep    []float64 `json:"sidecar_cpu_seconds_per_minute_idle_per_replica"`
	SidecarGoHeapInuse      []uint64  `json:"sidecar_go_heap_inuse_bytes,omitempty"`
	SidecarGoStackInuse     []uint64  `json:"sidecar_go_stack_inuse_bytes,omitempty"`
	SidecarGoroutines       []int     `json:"sidecar_goroutines,omitempty"`
	SettleSeconds           float64   `json:"settle_seconds"`
	IdleSeconds             float64   `json:"idle_seconds"`
}

// RolloutResult holds the figures of the rollout scenario.
type RolloutResult struct {
	Plan                    []int32            `json:"plan"`
	Applied                 int                `json:"applied"`
	TotalSeconds            float64            `json:"total_seconds"`
	AppliesPerMinute        float64            `json:"applies_per_minute"`
	StatusLagP50Ms          *float64           `json:"status_lag_p50_ms"`
	StatusLagP99Ms          *float64           `json:"status_lag_p99_ms"`
	StatusLagPerBatchMs     []*float64         `json:"status_lag_per_batch_ms"`
	SidecarReportLagP50Ms   *float64           `json:"sidecar_report_lag_p50_ms"`
	SidecarReportLagP99Ms   *float64           `json:"sidecar_report_lag_p99_ms"`
	ManagerAggLagP50Ms      *float64           `json:"manager_aggregation_lag_p50_ms"`
	ManagerAggLagP99Ms      *float64           `json:"manager_aggregation_lag_p99_ms"`
	StatusLagResolutionMs   float64            `json:"status_lag_resolution_ms"`
	APIServerStatusWrites   float64            `json:"apiserver_status_writes"`
	APIServerWritesBy       map[string]float64 `json:"apiserver_status_writes_by_verb_code"`
	StatusWriters           int                `json:"status_writers"`
	APIServerWritesPerSec   float64            `json:"apiserver_writes_per_second"`
	ManagerRSSBytes         uint64             `json:"manager_rss_bytes"`
	ManagerAppliesPerMinute int32              `json:"manager_applies_per_minute"`
}

// FailoverResult holds the figures of the failover scenario.
type FailoverResult struct {
	LeaseDurationSeconds  float64                   `json:"lease_duration_seconds"`
	RenewDeadlineSeconds  float64                   `json:"renew_deadline_seconds"`
	RetryPeriodSeconds    float64                   `json:"retry_period_seconds"`
	ApplyDelay            string                    `json:"apply_delay"`
	KillBatch             int32                     `json:"kill_batch"`
	KillBatchApplied      int32                     `json:"kill_batch_applied"`
	LeaderAcquiredSeconds *float64                  `json:"leader_acquired_seconds"`
	TakeoverSeconds       float64                   `json:"takeover_seconds"`
	TakeoverChange        string                    `json:"takeover_change"`
	CountsExact           bool                      `json:"counts_exact"`
	FinalCounts           fleetv1alpha1.AgentCounts `json:"final_counts"`
	FailoverTotalSeconds  float64                   `json:"failover_total_seconds"`
}

// fieldHelp is the exact definition of every key, as -fields prints it and README.md
// repeats it.
var fieldHelp = []struct{ key, help string }{
	{"scenario", "connect, rollout, failover or paused"},
	{"agents", "simulated agents started (-agents)"},
	{"replicas", "operator replicas, each one `ampora opamp` and one `ampora manager` process"},
	{"transport", "ws (WebSocket sessions) or http (plain-HTTP polling)"},
	{"batches", "requested batches B; the batch size is ceil(agents/B) (rollout, failover)"},
	{"cores", "logical CPUs of the machine (runtime.NumCPU)"},
	{"memory_bytes", "MemTotal of /proc/meminfo"},
	{"go_version", "Go toolchain that built the harness and the binaries it runs"},
	{"date", "start of the scenario, RFC 3339, UTC"},

	{"agents_connected", "sum of sidecar_agents: the agents the replicas hold at the end of the idle window"},
	{"connect_seconds", "from starting the load generators to that sum first equalling -agents (sidecar /metrics polled every 200 ms)"},
	{"sidecar_agents", "per replica, ampora_opamp_connected_agents read right after the RSS"},
	{"sidecar_rss_bytes", "per replica, VmRSS of /proc/<pid>/status of the `ampora opamp` process after -settle and -idle"},
	{"sidecar_rss_baseline_bytes", "per replica, the same VmRSS once the replica was ready, before any agent connected"},
	{"rss_bytes_per_agent", "max over replicas of sidecar_rss_bytes / sidecar_agents (includes the process's baseline)"},
	{"rss_bytes_per_agent_marginal", "max over replicas of (sidecar_rss_bytes - sidecar_rss_baseline_bytes) / sidecar_agents"},
	{"sidecar_cpu_seconds_per_minute_idle", "max over replicas of the CPU time (utime+stime of /proc/<pid>/stat, USER_HZ 100) used over the idle window, scaled to one minute"},
	{"sidecar_cpu_seconds_per_minute_idle_per_replica", "the same figure for each replica"},
	{"sidecar_go_heap_inuse_bytes", "per replica, go_memstats_heap_inuse_bytes of the sidecar's /metrics read right after the RSS: bytes in heap spans in use, live objects and garbage not yet swept alike"},
	{"sidecar_go_stack_inuse_bytes", "per replica, go_memstats_stack_inuse_bytes read with it: the goroutine stacks"},
	{"sidecar_goroutines", "per replica, go_goroutines read with it"},
	{"settle_seconds", "wait between all agents connected and the idle window (-settle)"},
	{"idle_seconds", "length of the idle window (-idle); agents only send heartbeats meanwhile"},

	{"plan", "batch sizes as the manager recorded them in status.plan"},
	{"applied", "status.counts.applied when the Rollout reached Completed"},
	{"total_seconds", "from just before the Rollout is created to the watch event that shows status.phase Completed"},
	{"applies_per_minute", "applied / total_seconds * 60"},
	{"status_lag_p50_ms", "median over k = 1..agents (where both curves reach k) of t_S(k) - t_A(k), where t_A(k) is when the k-th agent of the fleet reported APPLIED (load generators' own counts, see status_lag_resolution_ms) and t_S(k) is when the Rollout's top-level status.counts.applied first reached k (watch event received by the harness)"},
	{"status_lag_p99_ms", "99th percentile (nearest rank) of the same lags"},
	{"status_lag_per_batch_ms", "for each batch b with cumulative target C_b = plan[0]+..+plan[b]: t_S(C_b) - t_A(C_b), the time from the batch's last agent reporting APPLIED to the top-level count including it"},
	{"sidecar_report_lag_p50_ms", "median over k of t_R(k) - t_A(k), where t_R(k) is when the sum of status.replicas[].counts.applied (entries for the current configHash) first reached k: agent to the replicas' own status entries"},
	{"sidecar_report_lag_p99_ms", "99th percentile of the same"},
	{"manager_aggregation_lag_p50_ms", "median over k of t_S(k) - t_R(k): the replicas' entries to the manager's top-level counts"},
	{"manager_aggregation_lag_p99_ms", "99th percentile of the same"},
	{"status_lag_resolution_ms", "interval at which each load generator prints its counts (-sample-every); an increase is placed at the midpoint of the interval it happened in, so t_A is within half of it"},
	{"apiserver_status_writes", "delta over the rollout (create to Completed) of the kube-apiserver's apiserver_request_total{resource=\"rollouts\",subresource=\"status\"} for write verbs (APPLY, PATCH, PUT, POST, DELETE; every response code)"},
	{"apiserver_status_writes_by_verb_code", "the same delta by \"VERB code\" (APPLY: the sidecars' server-side apply; PATCH: the manager's merge patch)"},
	{"status_writers", "processes that write Rollout status: the replicas' sidecars plus the leading manager (replicas + 1)"},
	{"apiserver_writes_per_second", "apiserver_status_writes / total_seconds / (rollouts (1) * status_writers)"},
	{"manager_rss_bytes", "VmRSS of the leading `ampora manager` process when the Rollout reached Completed"},
	{"manager_applies_per_minute", "status.appliesPerMinute, the manager's own rate, at Completed"},

	{"lease_duration_seconds", "the managers' --leader-elect-lease-duration (-lease-duration)"},
	{"renew_deadline_seconds", "the managers' --leader-elect-renew-deadline: two thirds of the lease duration, as 20 s is of 30 s"},
	{"retry_period_seconds", "the managers' --leader-elect-retry-period: a sixth of the lease duration, as 5 s is of 30 s"},
	{"apply_delay", "apply time each simulated agent draws uniformly from (-apply-delay)"},
	{"kill_batch", "status.currentBatch.number when the leader was killed: batch 2, or 1 when there is one batch"},
	{"kill_batch_applied", "status.batchCounts.applied at the kill; the batch was Pushing and not every agent of it had applied"},
	{"leader_acquired_seconds", "from the SIGKILL to the harness seeing \"successfully acquired lease\" in the other manager's log (polled every 50 ms)"},
	{"takeover_seconds", "from the SIGKILL of the leading manager to the first watch event in which status.currentBatch or status.counts differ from what they were when the dead process's in-flight writes had landed (200 ms after it exited); only a manager writes those fields, so this is the new leader's first write"},
	{"takeover_change", "which of status.currentBatch and status.counts changed in that event"},
	{"counts_exact", "true when the Rollout reached Completed with status.counts.targeted and status.counts.applied both equal to agents"},
	{"final_counts", "status.counts at Completed"},
	{"failover_total_seconds", "from the Rollout's creation to Completed, outage included"},

	{"paused_idle_seconds", "length of the window over which a Rollout paused by spec.paused (before its first batch) is watched: -idle, after -settle"},
	{"manager_requests_per_minute", "delta over that window of the leading manager's rest_client_requests_total (every request it made to the API server: the Rollout's, its leader Lease's, the other controllers'), per minute"},
	{"apiserver_rollout_requests_per_minute", "delta over that window of the kube-apiserver's apiserver_request_total{resource=\"rollouts\"} (every client, the sidecars' status entries included), per minute"},
	{"apiserver_rollout_requests_per_minute_by_verb", "the same by \"VERB subresource\""},
}

// newRecord fills in the common fields.
func newRecord(scenario string, agents, replicas int, transport string, start time.Time) Record {
	return Record{
		Scenario: scenario, Agents: agents, Replicas: replicas, Transport: transport,
		Cores: runtime.NumCPU(), MemoryBytes: memTotal(), GoVersion: runtime.Version(),
		Date: start.UTC().Format(time.RFC3339),
	}
}

// marshal is the record on one line.
func (r Record) marshal() ([]byte, error) {
	return json.Marshal(r)
}

// appendRecord appends the record to path, one JSON object per line.
func appendRecord(path string, r Record) error {
	b, err := r.marshal()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// readRecords reads a file of records, one per line; blank lines are skipped. A missing file
// holds no records.
func readRecords(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// printFields writes the definition of every key.
func printFields(w io.Writer) {
	for _, f := range fieldHelp {
		fmt.Fprintf(w, "%s\n    %s\n", f.key, f.help)
	}
}

// num is x, or nil (JSON null) when x is not a number.
func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}
