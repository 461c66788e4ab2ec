package main

import (
	"time"

	"github.com/spf13/cobra"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func newRetryCmd(o *globalOptions) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "retry ROLLOUT",
		Short: "Offer the config once more to the agents that failed it",
		Long: `Retry a rollout's current batch: annotate it with fleet.ampora.io/action=retry and
fleet.ampora.io/action-requested-by=<you>. Agents that reported FAILED for the config are offered
it once more, the batch restarts, and a gate pause is lifted so that the gates judge the batch
again.` + waitHelp,
		Example:           `  kubectl ampora retry gateways-batching -n demo`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return requestAction(cmd.Context(), o, args[0], fleetv1alpha1.ActionRetry, wait)
		},
	}
	addWaitFlag(cmd, &wait)
	return cmd
}
