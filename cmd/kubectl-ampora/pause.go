package main

import (
	"time"

	"github.com/spf13/cobra"
)

func newPauseCmd(o *globalOptions) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "pause ROLLOUT",
		Short: "Pause a rollout (sets spec.paused=true)",
		Long: `Pause a rollout by setting spec.paused=true, the user's own pause: no new batch starts and
no further agent is offered the config. Agents already offered it keep being served.

spec.paused is part of the spec: with GitOps, set it in the manifest instead, or the GitOps
tool may revert it.` + waitHelp,
		Example:           `  kubectl ampora pause gateways-batching -n demo`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return setPaused(cmd.Context(), o, args[0], wait)
		},
	}
	addWaitFlag(cmd, &wait)
	return cmd
}
