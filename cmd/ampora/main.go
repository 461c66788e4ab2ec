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
	"strings"
	"syscall"

	"github.com/ampora-io/ampora/internal/readapi"
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

// replicaAddressFlags are the manager's and the sidecar's say over which read-API URLs, read
// from the sidecars' Leases, get the operator's token.
type replicaAddressFlags struct {
	check           string
	serviceAccounts string
}

func (f *replicaAddressFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.check, "replica-address-check", readapi.AddressCheckPod,
		"which read-API URLs on the sidecars' Leases get the operator's token: pod (only the Pod IP of a running Pod of --replica-service-account in the operator namespace) or none (any: only for processes run outside Pods on one machine, as make demo and the tests do)")
	fs.StringVar(&f.serviceAccounts, "replica-service-account", strings.Join(readapi.DefaultReplicaServiceAccounts, ","),
		"ServiceAccount(s) of the sidecars' Pods, comma-separated, for --replica-address-check=pod")
}

// parse checks the flags and returns the check and the ServiceAccounts.
func (f *replicaAddressFlags) parse() (string, []string, error) {
	if err := readapi.ParseAddressCheck(f.check); err != nil {
		return "", nil, err
	}
	var sas []string
	for _, sa := range strings.Split(f.serviceAccounts, ",") {
		if sa = strings.TrimSpace(sa); sa != "" {
			sas = append(sas, sa)
		}
	}
	if len(sas) == 0 && f.check == readapi.AddressCheckPod {
		return "", nil, fmt.Errorf("--replica-service-account is empty")
	}
	return f.check, sas, nil
}
