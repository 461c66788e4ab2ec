package plan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

// MaxBatches is the most batches a plan may hold: the length status.plan allows.
const MaxBatches = 1000

// DefaultMultiplier is the exponential multiplier when none is set, as the CRD defaults it.
const DefaultMultiplier = 2

// ErrTooManyBatches is wrapped by the error Plan returns when the strategy needs more than
// MaxBatches batches for the group, so that callers can tell it from a malformed strategy.
var ErrTooManyBatches = errors.New("too many batches")

// strategy is a RolloutStrategy after its checks, with exactly one field set.
type strategy struct {
	batchSize   *size
	steps       []size
	exponential *exponential
}

type exponential struct {
	initial    size
	multiplier int64
	max        *size // nil: uncapped
}

// Plan returns the size of each batch, in order, for a group of groupSize agents. The rules
// are in the package documentation. A groupSize of 0 gives an empty plan, after the strategy
// has been checked, so Plan(s, 0) also validates s.
func Plan(s v1alpha1.RolloutStrategy, groupSize int) ([]int32, error) {
	st, err := parse(s)
	if err != nil {
		return nil, err
	}
	if err := checkGroupSize(groupSize); err != nil {
		return nil, err
	}
	n := int64(groupSize)
	if n == 0 {
		return nil, nil
	}
	switch {
	case st.batchSize != nil:
		return fixedPlan(st.batchSize.of(n), n)
	case st.steps != nil:
		return stepsPlan(st.steps, n)
	default:
		return exponentialPlan(st.exponential, n)
	}
}

// Validate reports what is wrong with a strategy, whatever the group size.
func Validate(s v1alpha1.RolloutStrategy) error {
	_, err := parse(s)
	return err
}

func parse(s v1alpha1.RolloutStrategy) (strategy, error) {
	var set []string
	if s.BatchSize != nil {
		set = append(set, "batchSize")
	}
	if s.Steps != nil {
		set = append(set, "steps")
	}
	if s.Exponential != nil {
		set = append(set, "exponential")
	}
	switch len(set) {
	case 0:
		return strategy{}, errors.New("strategy sets none of batchSize, steps or exponential; set exactly one")
	case 1:
	default:
		return strategy{}, fmt.Errorf("strategy sets %s; set exactly one", strings.Join(set, " and "))
	}

	switch {
	case s.BatchSize != nil:
		b, err := parseSize(*s.BatchSize)
		if err != nil {
			return strategy{}, fmt.Errorf("batchSize: %w", err)
		}
		return strategy{batchSize: &b}, nil
	case s.Steps != nil:
		steps, err := parseSteps(s.Steps)
		if err != nil {
			return strategy{}, err
		}
		return strategy{steps: steps}, nil
	default:
		e, err := parseExponential(*s.Exponential)
		if err != nil {
			return strategy{}, err
		}
		return strategy{exponential: &e}, nil
	}
}

func parseSteps(in []v1alpha1.BatchSize) ([]size, error) {
	if len(in) == 0 {
		return nil, errors.New("steps: at least one step is required")
	}
	out := make([]size, len(in))
	for i, b := range in {
		s, err := parseSize(b)
		if err != nil {
			return nil, fmt.Errorf("steps[%d]: %w", i, err)
		}
		if i > 0 {
			prev := out[i-1]
			if s.percent != prev.percent {
				return nil, fmt.Errorf("steps[%d]: %s: steps must be all counts or all percentages", i, s)
			}
			if s.n <= prev.n {
				return nil, fmt.Errorf("steps[%d]: %s does not exceed %s: steps must be strictly increasing", i, s, prev)
			}
		}
		out[i] = s
	}
	return out, nil
}

func parseExponential(in v1alpha1.ExponentialStrategy) (exponential, error) {
	initial, err := parseSize(in.Initial)
	if err != nil {
		return exponential{}, fmt.Errorf("exponential.initial: %w", err)
	}
	e := exponential{initial: initial, multiplier: int64(in.Multiplier)}
	if e.multiplier == 0 {
		e.multiplier = DefaultMultiplier
	}
	if e.multiplier < 2 || e.multiplier > 10 {
		return exponential{}, fmt.Errorf("exponential.multiplier %d: must be from 2 to 10", in.Multiplier)
	}
	if in.MaxBatchSize != nil {
		m, err := parseSize(*in.MaxBatchSize)
		if err != nil {
			return exponential{}, fmt.Errorf("exponential.maxBatchSize: %w", err)
		}
		e.max = &m
	}
	return e, nil
}

// fixedPlan cuts n agents into batches of each, the last taking what remains.
func fixedPlan(each, n int64) ([]int32, error) {
	count := ceilDiv(n, each)
	if count > MaxBatches {
		return nil, tooMany(count, n)
	}
	out := make([]int32, count)
	remaining := n
	for i := range out {
		out[i] = int32(min(each, remaining))
		remaining -= int64(out[i])
	}
	return out, nil
}

// stepsPlan turns cumulative targets into batch sizes. Targets only grow, so a target that
// rounding or the cap at n makes equal to the one before adds no batch.
func stepsPlan(steps []size, n int64) ([]int32, error) {
	out := make([]int32, 0, len(steps)+1)
	var admitted int64
	for _, s := range steps {
		if t := min(s.of(n), n); t > admitted {
			out = append(out, int32(t-admitted))
			admitted = t
		}
	}
	if admitted < n {
		out = append(out, int32(n-admitted))
	}
	if len(out) > MaxBatches {
		return nil, tooMany(int64(len(out)), n)
	}
	return out, nil
}

// exponentialPlan grows batches until they reach the cap, then repeats the cap. Sizes are
// kept at or below n, which fits in int32, so multiplying by at most 10 cannot overflow int64.
func exponentialPlan(e *exponential, n int64) ([]int32, error) {
	limit := n
	if e.max != nil {
		limit = min(e.max.of(n), n)
	}
	cur := min(e.initial.of(n), limit)

	var growing []int32
	remaining := n
	for cur < limit && remaining > 0 {
		b := min(cur, remaining)
		growing = append(growing, int32(b))
		remaining -= b
		cur = min(cur*e.multiplier, limit)
	}
	count := int64(len(growing)) + ceilDiv(remaining, limit)
	if count > MaxBatches {
		return nil, tooMany(count, n)
	}
	out := make([]int32, len(growing), count)
	copy(out, growing)
	for remaining > 0 {
		b := min(limit, remaining)
		out = append(out, int32(b))
		remaining -= b
	}
	return out, nil
}

func tooMany(count, n int64) error {
	return fmt.Errorf("%w: the strategy needs %d batches for %d agents, at most %d are allowed", ErrTooManyBatches, count, n, MaxBatches)
}
