// Command kubectl-ampora is the kubectl plugin for Ampora rollouts (kubectl ampora ...): it
// shows a rollout's progress, explains why it stalls, lists its agents, previews batch plans,
// and asks the engine for pause, resume, abort, rollback and retry.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ampora-io/ampora/internal/readapi"
)

func main() {
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	code := run(ctx, newRootCmd(streams), streams)
	stop()
	os.Exit(code)
}

// exitError ends the plugin with a given exit code; a non-empty message goes to stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// run executes the command and maps its outcome to an exit code: 0 on success, the code of an
// exitError, else 1.
func run(ctx context.Context, cmd *cobra.Command, streams genericiooptions.IOStreams) int {
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(streams.ErrOut, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(streams.ErrOut, "error:", err)
	return 1
}

func newRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := newGlobalOptions(streams)
	root := &cobra.Command{
		Use:   "kubectl-ampora",
		Short: "Follow, explain and steer Ampora rollouts",
		Long: `kubectl ampora follows, explains and steers Ampora rollouts of OpenTelemetry
Collector configuration to OpAMP agents.

It honours kubectl's --kubeconfig, --context, -n/--namespace and -A/--all-namespaces. With
-A, a rollout is looked up by name in every namespace.

Commands that show agents (why, agents) ask the read API of every live OpAMP sidecar replica
(the URLs are on the replicas' Leases) with the bearer token of the kubeconfig user, who must be
allowed to get rollouts in the rollout's namespace. The Leases are read in the operator
namespace: --operator-namespace, else the kubeconfig context's fleet.ampora.io extension
(operatorNamespace), else ` + defaultOperatorNamespace + `. A Lease's URL gets the token only when
its host is the Pod IP of a running Pod of --replica-service-account there (which needs list on
pods in the operator namespace); --read-api-url names the addresses yourself instead.`,
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl ampora"},
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return readapi.ParseAddressCheck(o.addressCheck)
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			DisableDefaultCmd: true,
		},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	o.addFlags(root)
	root.AddCommand(
		newStatusCmd(o),
		newWhyCmd(o),
		newAgentsCmd(o),
		newPlanCmd(o),
		newPauseCmd(o),
		newResumeCmd(o),
		newAbortCmd(o),
		newRollbackCmd(o),
		newRetryCmd(o),
		newApproveCmd(o),
		newDashboardCmd(o),
	)
	return root
}
