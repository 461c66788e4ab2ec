package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/ampora-io/ampora/internal/dashboard"
)

// defaultDashboardAddress is where the dashboard listens unless told otherwise; when the port
// is taken, it takes a free one.
const defaultDashboardAddress = "127.0.0.1:8484"

func newDashboardCmd(o *globalOptions) *cobra.Command {
	var address string
	var refresh, history time.Duration
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a read-only web page of the rollouts on localhost",
		Long: `Serve, on this machine only, a read-only web page of the rollouts your kubeconfig can see:
the list of rollouts with their phase and progress, and per rollout its batch (Batch X of Y),
the agents by state, the pause reason with the gate's message, the throughput over time, the
failed agents with their error messages (click one for its apply error, version, attributes
and health), the semantic diff of the config, and the rollout's Events. The page updates
itself every --refresh.

The dashboard reads with your own credentials (the kubeconfig user, --context, -n or -A) and
asks the sidecars' read API with the kubeconfig user's bearer token, as the agents command
does. It only ever reads. It listens on a loopback address only, and answers only requests
addressed to localhost, 127.0.0.1 or [::1].

Every user of this machine can reach a loopback port, so the dashboard also asks for an access
token, made afresh at each start: open the address it prints (http://127.0.0.1:PORT/?token=...).
The browser then keeps the token in a cookie for this run.

The throughput chart shows what the dashboard saw while it ran: it samples every rollout at
every refresh and keeps --history of samples.`,
		Example: `  kubectl ampora dashboard -n demo
  kubectl ampora dashboard -A --address 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if refresh < 500*time.Millisecond {
				return fmt.Errorf("--refresh %s is too short: use at least 500ms", refresh)
			}
			if err := dashboard.CheckAddress(address); err != nil {
				return fmt.Errorf("--%w", err)
			}
			return runDashboard(cmd.Context(), o, address, !cmd.Flags().Changed("address"), refresh, history)
		},
	}
	cmd.Flags().StringVar(&address, "address", defaultDashboardAddress,
		"loopback address to listen on (port 0 takes a free port); without it, a free port when 8484 is taken")
	cmd.Flags().DurationVar(&refresh, "refresh", 2*time.Second, "how often the rollouts are read and the page updates")
	cmd.Flags().DurationVar(&history, "history", 30*time.Minute, "how long the throughput chart keeps its samples")
	return cmd
}

func runDashboard(ctx context.Context, o *globalOptions, address string, fallback bool, refresh, history time.Duration) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	ns := ""
	if !o.allNamespaces {
		if ns, err = o.namespace(); err != nil {
			return err
		}
	}
	srv, err := dashboard.New(dashboard.Options{
		Source:    &dashboard.KubeSource{Client: c, AgentsOf: o.agentsOf},
		Namespace: ns,
		Context:   o.contextName(),
		Refresh:   refresh,
		History:   history,
		Now:       o.now,
	})
	if err != nil {
		return err
	}
	// A first reading before listening: a wrong context or missing rights fail here, plainly.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = srv.Refresh(rctx)
	cancel()
	if err != nil {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		return fmt.Errorf("cannot list rollouts in %s: %w", where, err)
	}
	ln, err := dashboard.Listen(address, fallback)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	scope := "namespace " + ns
	if ns == "" {
		scope = "all namespaces"
	}
	// The address stays one whitespace-free field: scripts find it in the output by its prefix.
	fmt.Fprintf(o.streams.Out, "Ampora dashboard (%s, read-only) at %s\nPress Ctrl-C to stop.\n", scope, srv.URL(ln.Addr().String()))

	go srv.Run(ctx)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// contextName is the kubeconfig context in use, for the page's header.
func (o *globalOptions) contextName() string {
	if o.flags.Context != nil && *o.flags.Context != "" {
		return *o.flags.Context
	}
	raw, err := o.flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return ""
	}
	return raw.CurrentContext
}
