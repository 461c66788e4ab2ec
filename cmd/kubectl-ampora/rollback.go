package main

import (
	"time"

	"github.com/spf13/cobra"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func newRollbackCmd(o *globalOptions) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "rollback ROLLOUT",
		Short: "Return the agents a rollout reached to the group's previous revision",
		Long: `Roll a rollout back: annotate it with fleet.ampora.io/action=rollback and
fleet.ampora.io/action-requested-by=<you>. The agents the rollout reached are offered the
group's previous revision (or, when there was none, their local config again); the rollout ends
RolledBack.` + waitHelp,
		Example:           `  kubectl ampora rollback gateways-batching -n demo`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return requestAction(cmd.Context(), o, args[0], fleetv1alpha1.ActionRollback, wait)
		},
	}
	addWaitFlag(cmd, &wait)
	return cmd
}
