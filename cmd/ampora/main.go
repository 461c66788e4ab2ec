// Command ampora is the operator binary. It runs as two containers of one Pod:
//
//	ampora manager   the controllers (leader-elected): batches, gates, actions
//	ampora opamp     the OpAMP server (every replica): agent sessions, pushes, reporting
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: its flags are registered on fs, run does the work until ctx ends.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stderr io.Writer) error
}

var commands = []command{
	{name: "manager", summary: "run the rollout engine (controllers, leader-elected)", run: runManager},
	{name: "opamp", summary: "run the OpAMP server that agents connect to", run: runOpAMP},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stderr))
}

func dispatch(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			if err := c.run(ctx, args[1:], stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stderr, "ampora %s: %v\n", c.name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "ampora: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ampora COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ampora COMMAND -h' for a command's flags.")
}
