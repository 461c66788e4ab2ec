package main

import (
	"time"

	"github.com/spf13/cobra"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

func newResumeCmd(o *globalOptions) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "resume ROLLOUT",
		Short: "Resume a paused rollout",
		Long: `Resume a rollout: clear spec.paused when it is set, and annotate the rollout with
fleet.ampora.io/action=resume and fleet.ampora.io/action-requested-by=<you>.

A rollout a gate paused then accepts its batch as it is and goes on; later batches meet the
gates as they are now. The engine records the request in an Event and in status.lastAction.
You are named as the API server knows you (SelfSubjectReview), else as the kubeconfig user.` + waitHelp,
		Example:           `  kubectl ampora resume gateways-batching -n demo`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return requestAction(cmd.Context(), o, args[0], fleetv1alpha1.ActionResume, wait)
		},
	}
	addWaitFlag(cmd, &wait)
	return cmd
}
