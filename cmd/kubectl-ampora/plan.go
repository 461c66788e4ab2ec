package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/plan"
)

func newPlanCmd(o *globalOptions) *cobra.Command {
	agents := -1
	cmd := &cobra.Command{
		Use:   "plan ROLLOUT",
		Short: "Show the batch sizes a rollout's strategy gives, without pushing anything",
		Long: `Show the batch sizes a rollout's strategy gives, computed as the engine does, with the
cumulative totals. The group size is the number of agents the rollout's AgentGroup matches now
(status.matchingAgents); --agents tries another size. Nothing is changed or pushed.`,
		Example: `  kubectl ampora plan gateways-batching -n demo
  kubectl ampora plan gateways-batching -n demo --agents 5000`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.rolloutArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ro, err := o.getRollout(ctx, args[0])
			if err != nil {
				return err
			}
			source := "--agents"
			n := agents
			if n < 0 {
				g, err := o.getGroup(ctx, ro)
				if err != nil {
					return fmt.Errorf("reading AgentGroup %s: %w (give a size with --agents)", ro.Spec.AgentGroup, err)
				}
				n = int(g.Status.MatchingAgents)
				source = fmt.Sprintf("AgentGroup %s matches now", ro.Spec.AgentGroup)
			}
			batches, err := plan.Plan(ro.Spec.Strategy, n)
			if err != nil {
				return err
			}
			renderPlan(o.streams.Out, planView{Rollout: ro, Agents: n, Source: source, Plan: batches})
			return nil
		},
	}
	cmd.Flags().IntVar(&agents, "agents", -1, "plan for this many agents instead of the group's current count")
	return cmd
}

// planView is what plan prints.
type planView struct {
	Rollout *fleetv1alpha1.Rollout
	Agents  int
	// Source says where the agent count comes from.
	Source string
	Plan   []int32
}

// strategyText describes a strategy in one line.
func strategyText(s fleetv1alpha1.RolloutStrategy) string {
	switch {
	case s.BatchSize != nil:
		return "batchSize " + s.BatchSize.String()
	case len(s.Steps) > 0:
		steps := make([]string, len(s.Steps))
		for i, b := range s.Steps {
			steps[i] = b.String()
		}
		return "steps " + strings.Join(steps, ", ") + ", then the rest"
	case s.Exponential != nil:
		e := s.Exponential
		m := e.Multiplier
		if m == 0 {
			m = plan.DefaultMultiplier
		}
		out := fmt.Sprintf("exponential from %s, ×%d", e.Initial.String(), m)
		if e.MaxBatchSize != nil {
			out += ", at most " + e.MaxBatchSize.String()
		}
		return out
	}
	return "none"
}

// renderPlan prints the batches with their cumulative totals.
func renderPlan(w io.Writer, v planView) {
	ro := v.Rollout
	fmt.Fprintf(w, "Rollout %s/%s: %s, for %s (%s)\n", ro.Namespace, ro.Name, strategyText(ro.Spec.Strategy),
		plural(v.Agents, "agent", "agents"), v.Source)
	if len(v.Plan) == 0 {
		fmt.Fprintln(w, "No batches: there are no agents to roll out to.")
		return
	}
	cum := plan.Cumulative(v.Plan)
	rows := [][]string{{"BATCH", "SIZE", "CUMULATIVE", "OF GROUP"}}
	for i, b := range v.Plan {
		rows = append(rows, []string{fmt.Sprint(i + 1), fmt.Sprint(b), fmt.Sprint(cum[i]), percentOf(cum[i], v.Agents)})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = fmt.Sprintf("%*s", widths[i], c)
		}
		fmt.Fprintln(w, strings.Join(cells, "  "))
	}
	fmt.Fprintf(w, "%s, %s\n", plural(len(v.Plan), "batch", "batches"), plural(int(cum[len(cum)-1]), "agent", "agents"))
	if st := ro.Status; len(st.Plan) > 0 && !slices.Equal(st.Plan, v.Plan) {
		fmt.Fprintf(w, "The running revision %s planned %s for %s when it started.\n", cmp.Or(st.Revision, "-"),
			plural(len(st.Plan), "batch", "batches"), plural(int(st.GroupSize), "agent", "agents"))
	}
}

// percentOf writes part of whole as a percentage, rounded down to a whole number except near
// the ends.
func percentOf(part int32, whole int) string {
	if whole <= 0 {
		return "-"
	}
	p := float64(part) * 100 / float64(whole)
	if p < 1 && part > 0 {
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%d%%", int64(part)*100/int64(whole))
}
