// Package plan turns a Rollout's strategy and the size of its group into batch sizes.
//
// The group size N is the number of agents the group matches when the revision starts. The
// rules:
//
//   - A percentage is of N and rounds up: 25% of 10 agents is 3.
//   - Every batch holds at least one agent and the batches add up to exactly N. A group of no
//     agents has an empty plan.
//   - batchSize: every batch holds the count, or the percentage of N; the last batch takes what
//     remains. 200 agents in batches of 25% give 50 50 50 50; 10 agents in batches of 4 give
//     4 4 2.
//   - steps: each step is a cumulative target, the number of agents admitted once its batch has
//     started, and a final batch after the last step takes the rest. A target above N counts as
//     N, and a step whose target, after rounding up or that cap, equals the previous one adds no
//     batch. 10 agents in steps of 1%, 10%, 50% give 1 4 5 (10% of 10 is 1, already reached).
//   - exponential: batch k, counting from 0, holds initial×multiplier^k, capped at maxBatchSize
//     (the first batch too); the last batch takes what remains. An unset multiplier is 2; an
//     unset maxBatchSize leaves the batches uncapped. 1000 agents from 2, ×2, at most 100 give
//     2 4 8 16 32 64, eight batches of 100 and a last of 74.
//   - A plan holds at most MaxBatches batches, as many as a Rollout's status.plan can hold. A
//     strategy that needs more for the group is an error, reported before any agent is pushed
//     to, rather than a plan the status cannot record.
//
// Plan checks the strategy instead of trusting the API server's validation: exactly one of
// batchSize, steps and exponential must be set; a count must be at least 1 and a percentage
// from 1% to 100%; steps must be all counts or all percentages and strictly increasing; an
// exponential multiplier must be from 2 to 10.
package plan
