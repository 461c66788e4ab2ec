// Command fleetsim runs a fleet of simulated OpAMP agents against one or more Ampora OpAMP
// endpoints, for the demo and the benchmarks, and prints a status line every few seconds
// until SIGINT or SIGTERM, when it disconnects every agent and exits.
//
//	fleetsim -url ws://127.0.0.1:4320/v1/opamp -token "$TOKEN" -agents 5000 -source-ips 4 \
//	  -versions 0.149.0=0.7,0.148.0=0.3 \
//	  -profile 'name=failing,fraction=0.05,fail="unknown exporter otlp"' \
//	  -profile name=slow,fraction=10%,delay=200ms-2s \
//	  -profile name=ok,delay=50ms-500ms
//
// Run fleetsim -h for the profile syntax.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/ampora-io/ampora/test/fleetsim"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	opts         fleetsim.Options
	sourceIPs    int
	statusEvery  time.Duration
	caFile       string
	certFile     string
	keyFile      string
	profileSpecs []string
}

// listFlag collects a flag given several times, each time possibly a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// repeatedFlag collects a flag given several times, as is.
type repeatedFlag []string

func (r *repeatedFlag) String() string { return strings.Join(*r, " ") }

func (r *repeatedFlag) Set(v string) error {
	*r = append(*r, v)
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	o := &c.opts
	var urls listFlag
	var profiles repeatedFlag
	var versions string
	fs.Var(&urls, "url", "OpAMP endpoint, ws://host:port/v1/opamp or http://...; repeat the flag or give a comma-separated list to spread agents over replicas")
	fs.StringVar(&o.Token, "token", "", "enrollment token, sent as a bearer token")
	fs.IntVar(&o.Agents, "agents", 100, "number of agents")
	fs.BoolVar(&o.HTTP, "http", false, "poll over plain HTTP instead of holding a WebSocket")
	fs.DurationVar(&o.PollInterval, "poll-interval", 0, "polling interval of HTTP agents (0: the client's default, 30s)")
	fs.DurationVar(&o.Heartbeat, "heartbeat", 0, "heartbeat interval (0: the client's default, 30s)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of instance UIDs and draws")
	fs.StringVar(&o.UIDPrefix, "uid-prefix", "", "distinguishes the UIDs of fleets run with the same seed")
	fs.Var(&profiles, "profile", "a profile of agents (repeatable); see the syntax below")
	fs.StringVar(&versions, "versions", "", `service.version spread over the fleet by weight, as "0.149.0=0.7,0.148.0=0.3"`)
	fs.IntVar(&c.sourceIPs, "source-ips", 0, "bind WebSocket agents round-robin to source addresses 127.0.0.1..127.0.0.N (server on loopback; about 28,000 agents per address)")
	fs.StringVar(&c.caFile, "ca-file", "", "CA bundle (PEM) to verify the server's certificate; setting any TLS flag connects over TLS")
	fs.StringVar(&c.certFile, "cert-file", "", "client certificate (PEM), for mTLS")
	fs.StringVar(&c.keyFile, "key-file", "", "client private key (PEM), for mTLS")
	fs.DurationVar(&c.statusEvery, "status-every", 5*time.Second, "interval of the status line")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fleetsim -url URL [flags]\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nProfiles share the fleet by fraction, in order; a profile without a fraction (at most one)\ntakes the agents left over, which otherwise behave well.\n\n%s\n", fleetsim.ProfileSyntax)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(urls) == 0 {
		return nil, errors.New("-url is required")
	}
	o.URLs = urls
	if o.Agents <= 0 {
		return nil, errors.New("-agents must be positive")
	}
	if c.sourceIPs < 0 || c.sourceIPs > 254 {
		return nil, errors.New("-source-ips must be between 0 and 254")
	}
	if c.sourceIPs > 0 && o.HTTP {
		return nil, errors.New("-source-ips applies to WebSocket agents, not to -http")
	}
	if c.statusEvery <= 0 {
		return nil, errors.New("-status-every must be positive")
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return nil, errors.New("-cert-file and -key-file go together")
	}
	if versions != "" {
		v, err := fleetsim.ParseShares(versions)
		if err != nil {
			return nil, fmt.Errorf("-versions: %w", err)
		}
		o.Versions = v
	}
	if err := o.SetProfiles(profiles); err != nil {
		return nil, err
	}
	c.profileSpecs = profiles
	return c, nil
}

func (c *config) tlsConfig() (*tls.Config, error) {
	if c.caFile == "" && c.certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", c.caFile)
		}
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.opts.TLSConfig, err = c.tlsConfig(); err != nil {
		return err
	}
	limit, err := raiseOpenFilesLimit()
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "fleetsim: cannot raise the open-files limit: %v\n", err)
	case !c.opts.HTTP && uint64(c.opts.Agents)+64 > limit:
		fmt.Fprintf(stderr, "fleetsim: warning: %d WebSocket agents need about as many open files, and the limit is %d\n", c.opts.Agents, limit)
	}
	if c.sourceIPs > 0 {
		bindSourceIPs(c.sourceIPs)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	// The agents' own context is not the signal's: on a signal they disconnect through Stop,
	// telling the server so.
	fleet, err := fleetsim.Start(context.Background(), c.opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fleetsim: %d agents started against %s (%s)\n", len(fleet.Agents), strings.Join(c.opts.URLs, ", "), profileCounts(fleet, c.opts))

	t := time.NewTicker(c.statusEvery)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
			fmt.Fprintln(stdout, statusLine(fleet, time.Since(start)))
		}
	}
	stop() // a second signal ends the process at once
	fmt.Fprintln(stdout, "fleetsim: stopping")
	fmt.Fprintln(stdout, statusLine(fleet, time.Since(start)))
	fleet.Stop()
	fmt.Fprintln(stdout, "fleetsim: stopped")
	return nil
}

// profileCounts says how many agents each profile got.
func profileCounts(f *fleetsim.Fleet, o fleetsim.Options) string {
	var parts []string
	for _, p := range append(append([]fleetsim.Profile{}, o.Profiles...), o.Default) {
		n := f.Count(func(a *fleetsim.Agent) bool { return a.Profile == p.Name })
		parts = append(parts, fmt.Sprintf("%s=%d", p.Name, n))
	}
	return strings.Join(parts, " ")
}

// statusLine counts the agents that are connected, and by the status of their last config.
func statusLine(f *fleetsim.Fleet, elapsed time.Duration) string {
	var connected, applying, applied, failed int
	for _, a := range f.Agents {
		if a.IsConnected() {
			connected++
		}
		switch _, st := a.ConfigStatus(); st {
		case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING:
			applying++
		case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED:
			applied++
		case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED:
			failed++
		}
	}
	return fmt.Sprintf("%s +%ds agents=%d connected=%d applying=%d applied=%d failed=%d",
		time.Now().Format(time.TimeOnly), int(math.Round(elapsed.Seconds())), len(f.Agents), connected, applying, applied, failed)
}

// bindSourceIPs makes WebSocket agents dial from 127.0.0.1..127.0.0.n in turn, so that more
// agents than one source address has ports can reach a server on loopback. opamp-go's client
// copies websocket.DefaultDialer when it starts, so this must run before the fleet starts.
func bindSourceIPs(n int) {
	dialers := make([]net.Dialer, n)
	for i := range dialers {
		dialers[i] = net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i+1))}}
	}
	var next atomic.Uint64
	websocket.DefaultDialer.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &dialers[(next.Add(1)-1)%uint64(n)]
		return d.DialContext(ctx, network, addr)
	}
}
