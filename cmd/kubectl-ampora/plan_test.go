package main

import (
	"bytes"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/internal/plan"
)

func batchSize(b fleetv1alpha1.BatchSize) *fleetv1alpha1.BatchSize { return &b }

func TestStrategyText(t *testing.T) {
	tests := []struct {
		s    fleetv1alpha1.RolloutStrategy
		want string
	}{
		{fleetv1alpha1.RolloutStrategy{BatchSize: batchSize(fleetv1alpha1.FromInt(10))}, "batchSize 10"},
		{fleetv1alpha1.RolloutStrategy{BatchSize: batchSize(fleetv1alpha1.FromPercent(25))}, "batchSize 25%"},
		{fleetv1alpha1.RolloutStrategy{Steps: []fleetv1alpha1.BatchSize{fleetv1alpha1.FromPercent(1), fleetv1alpha1.FromPercent(10), fleetv1alpha1.FromPercent(50)}},
			"steps 1%, 10%, 50%, then the rest"},
		{fleetv1alpha1.RolloutStrategy{Exponential: &fleetv1alpha1.ExponentialStrategy{Initial: fleetv1alpha1.FromInt(2)}}, "exponential from 2, ×2"},
		{fleetv1alpha1.RolloutStrategy{Exponential: &fleetv1alpha1.ExponentialStrategy{Initial: fleetv1alpha1.BatchSize(intstr.FromString("1%")),
			Multiplier: 3, MaxBatchSize: batchSize(fleetv1alpha1.FromInt(100))}}, "exponential from 1%, ×3, at most 100"},
		{fleetv1alpha1.RolloutStrategy{}, "none"},
	}
	for _, tt := range tests {
		if got := strategyText(tt.s); got != tt.want {
			t.Errorf("strategyText = %q, want %q", got, tt.want)
		}
	}
}

func TestRenderPlan(t *testing.T) {
	steps := fleetv1alpha1.RolloutStrategy{Steps: []fleetv1alpha1.BatchSize{fleetv1alpha1.FromPercent(1), fleetv1alpha1.FromPercent(10), fleetv1alpha1.FromPercent(50)}}
	tests := []struct {
		name     string
		strategy fleetv1alpha1.RolloutStrategy
		agents   int
		source   string
		running  []int32
		want     string
	}{
		{
			name:     "steps over the group as it is now",
			strategy: steps,
			agents:   1000,
			source:   "AgentGroup gateways matches now",
			want: `Rollout demo/gw: steps 1%, 10%, 50%, then the rest, for 1000 agents (AgentGroup gateways matches now)
BATCH  SIZE  CUMULATIVE  OF GROUP
    1    10          10        1%
    2    90         100       10%
    3   400         500       50%
    4   500        1000      100%
4 batches, 1000 agents
`,
		},
		{
			name:     "another size than the running revision's",
			strategy: fleetv1alpha1.RolloutStrategy{BatchSize: batchSize(fleetv1alpha1.FromInt(10))},
			agents:   25,
			source:   "--agents",
			running:  []int32{10, 10},
			want: `Rollout demo/gw: batchSize 10, for 25 agents (--agents)
BATCH  SIZE  CUMULATIVE  OF GROUP
    1    10          10       40%
    2    10          20       80%
    3     5          25      100%
3 batches, 25 agents
The running revision 3f2a9c0d1e planned 2 batches for 20 agents when it started.
`,
		},
		{
			name:     "small shares of a large group",
			strategy: fleetv1alpha1.RolloutStrategy{Exponential: &fleetv1alpha1.ExponentialStrategy{Initial: fleetv1alpha1.FromInt(1), Multiplier: 10}},
			agents:   1000,
			source:   "--agents",
			want: `Rollout demo/gw: exponential from 1, ×10, for 1000 agents (--agents)
BATCH  SIZE  CUMULATIVE  OF GROUP
    1     1           1      0.1%
    2    10          11        1%
    3   100         111       11%
    4   889        1000      100%
4 batches, 1000 agents
`,
		},
		{
			name:     "no agents",
			strategy: steps,
			agents:   0,
			source:   "AgentGroup gateways matches now",
			want: `Rollout demo/gw: steps 1%, 10%, 50%, then the rest, for 0 agents (AgentGroup gateways matches now)
No batches: there are no agents to roll out to.
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ro := pausedRollout()
			ro.Spec.Strategy = tt.strategy
			ro.Status.Plan = tt.running
			p, err := plan.Plan(tt.strategy, tt.agents)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			renderPlan(&b, planView{Rollout: ro, Agents: tt.agents, Source: tt.source, Plan: p})
			if got := b.String(); got != tt.want {
				t.Errorf("renderPlan:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
