package plan

// Cumulative returns the running totals of a plan: element k is the number of agents admitted
// once batch k+1 has started, and the last element is the group size. The engine turns these
// counts into rank cutoffs.
func Cumulative(plan []int32) []int32 {
	out := make([]int32, len(plan))
	var sum int32
	for i, b := range plan {
		sum += b
		out[i] = sum
	}
	return out
}

// Target is the number of agents admitted in total once batch number batch has started,
// counting batches from 1 as BatchStatus.Number does: 0 before the first batch, and the group
// size from the last batch on.
func Target(plan []int32, batch int32) int32 {
	var sum int32
	for i := 0; i < len(plan) && int32(i) < batch; i++ {
		sum += plan[i]
	}
	return sum
}
