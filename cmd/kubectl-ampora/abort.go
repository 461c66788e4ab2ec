package main

import (
	"time"

	"github.com/spf13/cobra"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func newAbortCmd(o *globalOptions) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "abort ROLLOUT",
		Short: "Stop a rollout; agents keep the config they run",
		Long: `Stop a rollout for good: annotate it with fleet.ampora.io/action=abort and
fleet.ampora.io/action-requested-by=<you>. No further agent is offered the config; agents keep
what they run. The rollout ends Aborted and releases its AgentGroup.` + waitHelp,
		Example:           `  kubectl ampora abort gateways-batching -n demo`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return requestAction(cmd.Context(), o, args[0], fleetv1alpha1.ActionAbort, wait)
		},
	}
	addWaitFlag(cmd, &wait)
	return cmd
}
