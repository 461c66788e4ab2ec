package main

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
)

// agentStates are the verified states, as the API spells them.
var agentStates = []fleetv1alpha1.AgentState{
	fleetv1alpha1.AgentPending, fleetv1alpha1.AgentApplying, fleetv1alpha1.AgentApplied, fleetv1alpha1.AgentUnhealthy,
	fleetv1alpha1.AgentFailed, fleetv1alpha1.AgentDisconnected, fleetv1alpha1.AgentTimedOut, fleetv1alpha1.AgentIncompatible,
	fleetv1alpha1.AgentDenied, fleetv1alpha1.AgentUnverifiable,
}

// parseState reads a state in any case ("failed", "TimedOut", "timed-out"); "" is every state.
func parseState(s string) (fleetv1alpha1.AgentState, error) {
	if s == "" {
		return "", nil
	}
	norm := strings.NewReplacer("-", "", "_", "", " ", "").Replace(s)
	for _, st := range agentStates {
		if strings.EqualFold(norm, string(st)) {
			return st, nil
		}
	}
	names := make([]string, len(agentStates))
	for i, st := range agentStates {
		names[i] = string(st)
	}
	return "", fmt.Errorf("unknown state %q: use one of %s", s, strings.Join(names, ", "))
}

func newAgentsCmd(o *globalOptions) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "agents ROLLOUT",
		Short: "List a rollout's agents, with their state and error message",
		Long: `List the agents admitted to a rollout, with their verified state and the message each
state carries (the error_message of a failed agent), merged from the read API of every live
OpAMP sidecar replica and ordered by instance UID.

--state keeps one state: ` + strings.ToLower(stateNames()) + ` (any case).

The read API is asked with the kubeconfig user's bearer token; the user must be allowed to get
rollouts in the rollout's namespace.`,
		Example: `  kubectl ampora agents gateways-batching -n demo --state failed`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := parseState(state)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ro, err := o.getRollout(ctx, args[0])
			if err != nil {
				return err
			}
			res, err := o.agentsOf(ctx, ro, st)
			if err != nil {
				return err
			}
			if res.Answered == 0 {
				return fmt.Errorf("the read API did not answer: %s", strings.Join(res.Problems, "; "))
			}
			for _, p := range res.Problems {
				fmt.Fprintf(o.streams.ErrOut, "warning: incomplete list: %s\n", p)
			}
			if len(res.Agents) == 0 {
				what := "agents"
				if st != "" {
					what = string(st) + " agents"
				}
				fmt.Fprintf(o.streams.ErrOut, "No %s in rollout %s/%s.\n", what, ro.Namespace, ro.Name)
				return nil
			}
			renderAgents(o.streams.Out, res.Agents)
			return nil
		},
		ValidArgsFunction: o.rolloutArg,
	}
	cmd.Flags().StringVar(&state, "state", "", "only agents in this state (for example failed)")
	_ = cmd.RegisterFlagCompletionFunc("state", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return strings.Split(strings.ToLower(stateNames()), ", "), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func stateNames() string {
	names := make([]string, len(agentStates))
	for i, st := range agentStates {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// renderAgents prints the agents as a table.
func renderAgents(w io.Writer, agents []agentInfo) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE UID\tSTATE\tSERVICE\tVERSION\tHOST\tREPLICA\tCONNECTED\tMESSAGE")
	for _, a := range agents {
		connected := "no"
		if a.Connected {
			connected = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.InstanceUID, cmp.Or(string(a.State), "-"), cmp.Or(a.ServiceName, "-"),
			cmp.Or(a.ServiceVersion, "-"), cmp.Or(a.HostName, "-"), cmp.Or(a.Replica, "-"), connected, oneLine(a.Message))
	}
	_ = tw.Flush()
}

// oneLine keeps a message on one table row.
func oneLine(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.Fields(s), " ")
}
