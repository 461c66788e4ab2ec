// Command bench measures Ampora at scale on one machine: it starts the real control plane
// (kube-apiserver and etcd through test/testenv), runs operator replicas (`ampora opamp` and
// `ampora manager` processes) and simulated fleets (fleetsim processes, each under the
// machine's open-files limit), and prints one JSON object per scenario.
//
//	go run ./test/bench -scenario connect -agents 300 -replicas 2 -idle 10s
//	go run ./test/bench -scenario rollout -agents 300 -batches 3
//	go run ./test/bench -scenario failover -agents 200 -lease-duration 6s
//	go run ./test/bench -fields      # what every key of the JSON means
//
// See test/bench/README.md.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/testenv"
)

// maxAgentsPerReplica is the sidecar's default --max-connections: one process cannot hold
// many more agents' connections under a 20,000 open-files limit.
const maxAgentsPerReplica = 19_000

// options are the flags.
type options struct {
	scenarios     []string
	agents        int
	batches       int
	replicas      int
	replicasSet   bool
	transport     string
	out           string
	chart         string
	keepLogs      string
	idle          time.Duration
	settle        time.Duration
	leaseDuration time.Duration
	applyDelay    string
	agentsPerSim  int
	sourceIPs     int
	sampleEvery   time.Duration
	pollInterval  time.Duration
	heartbeat     time.Duration
	phaseTimeout  time.Duration
	profileDir    string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	scenario := fs.String("scenario", "rollout", "scenarios to run, comma-separated: connect, rollout, failover, paused, all, or none (only redraw -chart from -out)")
	fs.IntVar(&o.agents, "agents", 1000, "simulated agents")
	fs.IntVar(&o.batches, "batches", 4, "batches of the Rollout (rollout, failover); batch size ceil(agents/batches)")
	fs.IntVar(&o.replicas, "replicas", 2, "operator replicas (failover always runs 2)")
	fs.StringVar(&o.transport, "transport", "ws", "agent transport: ws (WebSocket) or http (plain-HTTP polling)")
	fs.StringVar(&o.out, "out", "", "append each scenario's JSON object to this file")
	fs.StringVar(&o.chart, "chart", "", "draw a PNG bar chart of applies per minute for every recorded run (of -out, else of this invocation)")
	fs.StringVar(&o.keepLogs, "keep-logs", "", "keep every process's log under this folder (default: logs are removed)")
	fs.DurationVar(&o.idle, "idle", time.Minute, "connect: window over which the sidecars' idle CPU is measured; paused: window over which requests are counted")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, "connect: wait after every agent connected, before the idle window; paused: wait after the Rollout paused")
	fs.DurationVar(&o.leaseDuration, "lease-duration", 30*time.Second, "the managers' leader-election lease duration (renew deadline 2/3, retry period 1/6 of it)")
	fs.StringVar(&o.applyDelay, "apply-delay", "", "apply time of every simulated agent, D or LO-HI (default: instant; failover: 0s to twice the lease duration)")
	fs.IntVar(&o.agentsPerSim, "agents-per-sim", 18_000, "most agents one load-generator process runs (one process holds at most 20,000 files)")
	fs.IntVar(&o.sourceIPs, "source-ips", 0, "WebSocket agents dial from 127.0.0.1..127.0.0.N (0: at least 8, one per 20,000 agents)")
	fs.DurationVar(&o.sampleEvery, "sample-every", 200*time.Millisecond, "interval of the load generators' counts (resolution of the status lags)")
	fs.DurationVar(&o.pollInterval, "poll-interval", 0, "http: the agents' polling interval (0: the client's default, 30s)")
	fs.DurationVar(&o.heartbeat, "heartbeat", 0, "agents' heartbeat interval (0: the client's default, 30s)")
	fs.DurationVar(&o.phaseTimeout, "phase-timeout", 0, "time limit of every phase (0: a limit per phase, scaled to -agents)")
	fs.StringVar(&o.profileDir, "profile-dir", "", "connect: serve the sidecars' profiles and save each one's heap profile here at the end of the idle window")
	fields := fs.Bool("fields", false, "print the definition of every JSON key and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *fields {
		printFields(os.Stdout)
		return nil, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { o.replicasSet = o.replicasSet || f.Name == "replicas" })
	for s := range strings.SplitSeq(*scenario, ",") {
		switch s = strings.TrimSpace(s); s {
		case "connect", "rollout", "failover", "paused":
			o.scenarios = append(o.scenarios, s)
		case "all":
			o.scenarios = append(o.scenarios, "connect", "rollout", "failover")
		case "none":
			// Only redraw -chart from -out.
		default:
			return nil, fmt.Errorf("-scenario: unknown scenario %q (connect, rollout, failover, paused, all, none)", s)
		}
	}
	switch {
	case o.agents < 1:
		return nil, errors.New("-agents must be at least 1")
	case o.batches < 1:
		return nil, errors.New("-batches must be at least 1")
	case o.replicas < 1:
		return nil, errors.New("-replicas must be at least 1")
	case o.transport != "ws" && o.transport != "http":
		return nil, fmt.Errorf("-transport %q: want ws or http", o.transport)
	case o.agentsPerSim < 1 || o.agentsPerSim > 19_000:
		return nil, errors.New("-agents-per-sim must be between 1 and 19000")
	case o.sourceIPs < 0 || o.sourceIPs > 254:
		return nil, errors.New("-source-ips must be between 0 and 254")
	case o.sampleEvery <= 0:
		return nil, errors.New("-sample-every must be positive")
	case o.idle <= 0:
		return nil, errors.New("-idle must be positive")
	case o.settle < 0:
		return nil, errors.New("-settle must not be negative")
	case o.leaseDuration < time.Second:
		return nil, errors.New("-lease-duration must be at least 1s")
	}
	if o.applyDelay != "" {
		if _, _, err := fleetsim.ParseDelay(o.applyDelay); err != nil {
			return nil, fmt.Errorf("-apply-delay: %w", err)
		}
	}
	for _, s := range o.scenarios {
		r := o.replicas
		if s == "failover" {
			if o.replicasSet && o.replicas != 2 {
				return nil, errors.New("the failover scenario runs 2 replicas; leave -replicas out or set it to 2")
			}
			r = 2
		}
		// A WebSocket agent holds its session's socket; a plain-HTTP agent its keep-alive
		// connection (each opamp-go HTTP client has a transport of its own).
		if (o.agents+r-1)/r > maxAgentsPerReplica {
			return nil, fmt.Errorf("%s: %d agents over %d replicas is more than %d per replica (one process holds at most 20,000 files); use -replicas %d or more",
				s, o.agents, r, maxAgentsPerReplica, (o.agents+maxAgentsPerReplica-1)/maxAgentsPerReplica)
		}
	}
	return o, nil
}

func main() {
	// envtest logs through controller-runtime; the harness reports progress itself.
	ctrllog.SetLogger(logr.Discard())
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: interrupted; stopping every process (interrupt again to kill them at once)")
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: interrupted again; killing every process the harness started")
		killChildrenNow()
		os.Exit(130)
	}()
	err = runAll(ctx, o)
	cancel()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "bench: interrupted")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runAll builds the binaries once, runs every scenario on a fresh control plane, and draws
// the chart.
func runAll(ctx context.Context, o *options) error {
	if len(o.scenarios) == 0 {
		if o.chart == "" || o.out == "" {
			return errors.New("-scenario none redraws -chart from -out: give both")
		}
		recs, err := readRecords(o.out)
		if err != nil {
			return err
		}
		return writeChart(o.chart, recs)
	}
	if limit, err := raiseOpenFilesLimit(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: cannot raise the open-files limit: %v\n", err)
	} else {
		fmt.Fprintf(os.Stderr, "bench: open-files limit %d\n", limit)
	}
	binDir, err := os.MkdirTemp("", "ampora-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	bins, err := build(ctx, binDir)
	if err != nil {
		return err
	}
	var recs []Record
	for _, s := range o.scenarios {
		rec, err := runScenario(ctx, o, bins, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		b, err := rec.marshal()
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		if o.out != "" {
			if err := appendRecord(o.out, rec); err != nil {
				return err
			}
		}
		recs = append(recs, rec)
	}
	if o.chart != "" {
		if o.out != "" {
			if recs, err = readRecords(o.out); err != nil {
				return err
			}
		}
		if err := writeChart(o.chart, recs); err != nil {
			return fmt.Errorf("drawing %s: %w", o.chart, err)
		}
		fmt.Fprintf(os.Stderr, "bench: chart of %d run(s) in %s\n", len(chartBars(recs)), o.chart)
	}
	return nil
}

// binaries are the programs the harness runs.
type binaries struct{ ampora, fleetsim string }

// build compiles the operator and the load generator into dir, and finds (or builds, the
// first time) the control plane, setting KUBEBUILDER_ASSETS as the demo does.
func build(ctx context.Context, dir string) (binaries, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	fmt.Fprintln(os.Stderr, "==> building the control plane (first time only), the operator and the fleet simulator")
	assets, err := controlPlaneAssets(ctx)
	if err != nil {
		return binaries{}, err
	}
	if err := os.Setenv("KUBEBUILDER_ASSETS", assets); err != nil {
		return binaries{}, err
	}
	b := binaries{ampora: filepath.Join(dir, "ampora"), fleetsim: filepath.Join(dir, "fleetsim")}
	for _, x := range []struct{ out, pkg string }{{b.ampora, "./cmd/ampora"}, {b.fleetsim, "./test/fleetsim/cmd/fleetsim"}} {
		cmd := groupCommand(ctx, "go", "build", "-o", x.out, x.pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = testenv.Root(), os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return binaries{}, fmt.Errorf("building %s: %w", x.pkg, context.Cause(ctx))
			}
			return binaries{}, fmt.Errorf("building %s: %w", x.pkg, err)
		}
	}
	return b, nil
}

// run is one scenario's run: its processes, control plane and fleet.
type run struct {
	o     *options
	name  string
	ctx   context.Context // ends on an interrupt, or when a process exits on its own
	dir   string          // the processes' logs
	work  string          // files removed at the end of the run
	bins  binaries
	procs *procs
	cl    *cluster
	reps  []*replica
	sims  []*simProc
}

// runScenario runs one scenario and stops everything it started, whatever happens.
func runScenario(parent context.Context, o *options, bins binaries, name string) (rec Record, err error) {
	start := time.Now()
	r := &run{o: o, name: name, bins: bins}
	// work holds what must not outlive the run (the operator's token); dir holds the logs.
	if r.work, err = os.MkdirTemp("", "ampora-bench-"); err != nil {
		return rec, err
	}
	defer os.RemoveAll(r.work)
	r.dir = filepath.Join(r.work, "logs")
	if o.keepLogs != "" {
		r.dir = filepath.Join(o.keepLogs, fmt.Sprintf("%s-%s", name, start.Format("20060102-150405")))
	}
	if err = os.MkdirAll(r.dir, 0o755); err != nil {
		return rec, err
	}
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.ctx = ctx
	r.procs = &procs{dir: r.dir, cancel: cancel}
	defer func() {
		r.logf("==> stopping every process")
		t0 := time.Now()
		r.procs.stopAll(20 * time.Second)
		r.logf("    processes stopped in %.1fs", time.Since(t0).Seconds())
		// The harness's own watches end before the API server is asked to stop.
		cancel(context.Canceled)
		if r.cl != nil {
			if serr := r.cl.stop(); serr != nil {
				r.logf("    stopping the control plane: %v", serr)
			}
		}
		r.logf("    stopped in %.1fs", time.Since(t0).Seconds())
		if o.keepLogs != "" {
			r.logf("    logs in %s", r.dir)
		} else if err != nil && parent.Err() == nil {
			r.printLogTails()
		}
	}()
	switch name {
	case "connect":
		rec, err = r.connect(start)
	case "rollout":
		rec, err = r.rollout(start)
	case "failover":
		rec, err = r.failover(start)
	case "paused":
		rec, err = r.paused(start)
	}
	return rec, err
}

// up starts the control plane and n operator replicas, and waits until a manager leads.
func (r *run) up(n int, lease leaseTimes) error {
	err := r.phase("control plane", r.timeout(3*time.Minute), func(ctx context.Context, ph *phase) error {
		ph.report("starting kube-apiserver and etcd")
		cl, err := startCluster(r.work)
		if err != nil {
			return err
		}
		r.cl = cl
		ph.report("creating namespaces, the operator's identity, the AgentGroup and the GatePolicy")
		return cl.setup(ctx)
	})
	if err != nil {
		return err
	}
	return r.phase(fmt.Sprintf("operator: %d replicas (ampora opamp + ampora manager each)", n), r.timeout(2*time.Minute), func(ctx context.Context, ph *phase) error {
		if err := r.startOperator(n, lease); err != nil {
			return err
		}
		if err := r.waitOperatorReady(ctx, ph); err != nil {
			return err
		}
		r.logf("    leader: %s", r.leader().name)
		return nil
	})
}

// connectFleet starts n agents and waits until the replicas hold them all; it returns how
// long that took.
func (r *run) connectFleet(n int, extra ...string) (time.Duration, error) {
	var took time.Duration
	err := r.phase(fmt.Sprintf("agents: %d connect", n), r.timeout(2*time.Minute+time.Duration(n)*2*time.Millisecond), func(ctx context.Context, ph *phase) error {
		t0 := time.Now()
		if err := r.startFleet(n, extra...); err != nil {
			return err
		}
		last := time.Now()
		return poll(ctx, 200*time.Millisecond, func() (bool, error) {
			per, err := r.connectedAgents(ctx)
			if err != nil {
				return false, err
			}
			ft := r.fleetTotals()
			ph.report("replicas hold %d agents (%s); the load generators report %d connected", sumInts(per), joinInts(per), ft.connected)
			if sumInts(per) >= n {
				took = time.Since(t0)
				return true, nil
			}
			if time.Since(last) >= 5*time.Second {
				last = time.Now()
				r.logf("    %s", ph.get())
			}
			return false, nil
		})
	})
	return took, err
}

// phase is what a running phase last said it was doing, for its timeout message.
type phase struct {
	mu       sync.Mutex
	progress string
}

func (ph *phase) report(format string, args ...any) {
	ph.mu.Lock()
	ph.progress = fmt.Sprintf(format, args...)
	ph.mu.Unlock()
}

func (ph *phase) get() string {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return ph.progress
}

var errPhaseTimeout = errors.New("phase timed out")

// phase runs fn under a time limit, and says which phase failed and why: its own error, its
// time limit (with its last progress), an interrupt, or a process that exited.
func (r *run) phase(name string, timeout time.Duration, fn func(ctx context.Context, ph *phase) error) error {
	r.logf("==> %s", name)
	ctx, cancel := context.WithTimeoutCause(r.ctx, timeout, errPhaseTimeout)
	defer cancel()
	ph := &phase{}
	start := time.Now()
	err := fn(ctx, ph)
	if err == nil {
		r.logf("    done in %.1fs", time.Since(start).Seconds())
		return nil
	}
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		var exit *exitError
		switch {
		case errors.Is(cause, errPhaseTimeout):
			return fmt.Errorf("phase %q timed out after %s; last: %s", name, timeout, cmp.Or(ph.get(), "-"))
		case errors.As(cause, &exit):
			return fmt.Errorf("phase %q: %w", name, cause)
		case errors.Is(cause, context.Canceled):
			return fmt.Errorf("phase %q: %w", name, context.Canceled)
		}
	}
	return fmt.Errorf("phase %q: %w", name, err)
}

// timeout is def, unless -phase-timeout overrides every phase's limit.
func (r *run) timeout(def time.Duration) time.Duration {
	if r.o.phaseTimeout > 0 {
		return r.o.phaseTimeout
	}
	return def
}

// wait sleeps d as a phase of its own, so that an interrupt or a process exit ends it.
func (r *run) wait(name string, d time.Duration) error {
	return r.phase(name, d+time.Minute, func(ctx context.Context, _ *phase) error {
		sleep(ctx, d)
		return ctx.Err()
	})
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s %s] %s\n", r.name, time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// printLogTails shows the end of every process's log, after a failure whose logs are not kept.
func (r *run) printLogTails() {
	r.procs.mu.Lock()
	defer r.procs.mu.Unlock()
	for _, p := range r.procs.list {
		fmt.Fprintf(os.Stderr, "--- last lines of %s.log\n%s\n", p.name, indent(p.tail(8)))
	}
}

// poll calls cond every interval until it says done, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := cond()
		if err != nil && ctx.Err() == nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
