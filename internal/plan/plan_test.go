package plan

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

func count(n int) *v1alpha1.BatchSize {
	b := v1alpha1.FromInt(n)
	return &b
}

func pct(p int) *v1alpha1.BatchSize {
	b := v1alpha1.FromPercent(p)
	return &b
}

func str(s string) *v1alpha1.BatchSize {
	b := v1alpha1.BatchSize(intstr.FromString(s))
	return &b
}

func batchSize(b *v1alpha1.BatchSize) v1alpha1.RolloutStrategy {
	return v1alpha1.RolloutStrategy{BatchSize: b}
}

func steps(bs ...*v1alpha1.BatchSize) v1alpha1.RolloutStrategy {
	s := make([]v1alpha1.BatchSize, len(bs))
	for i, b := range bs {
		s[i] = *b
	}
	return v1alpha1.RolloutStrategy{Steps: s}
}

func exp(initial *v1alpha1.BatchSize, multiplier int32, max *v1alpha1.BatchSize) v1alpha1.RolloutStrategy {
	return v1alpha1.RolloutStrategy{Exponential: &v1alpha1.ExponentialStrategy{
		Initial: *initial, Multiplier: multiplier, MaxBatchSize: max,
	}}
}

// repeat builds n copies of v, for long expected plans.
func repeat(v int32, n int) []int32 { return slices.Repeat([]int32{v}, n) }

func TestPlan(t *testing.T) {
	tests := []struct {
		name  string
		s     v1alpha1.RolloutStrategy
		group int
		want  []int32
	}{
		// batchSize
		{"batchSize 25% of 200", batchSize(pct(25)), 200, []int32{50, 50, 50, 50}},
		{"batchSize count, last takes the rest", batchSize(count(4)), 10, []int32{4, 4, 2}},
		{"batchSize percentage rounds up", batchSize(pct(50)), 7, []int32{4, 3}},
		{"batchSize 3% of 10 is at least one", batchSize(pct(3)), 10, repeat(1, 10)},
		{"batchSize 1% of 101 rounds up to 2", batchSize(pct(1)), 101, append(repeat(2, 50), 1)},
		{"batchSize count above group", batchSize(count(10)), 3, []int32{3}},
		{"batchSize 100%", batchSize(pct(100)), 1, []int32{1}},
		{"batchSize empty group", batchSize(pct(25)), 0, nil},
		{"batchSize 1000 batches is the limit", batchSize(count(1)), MaxBatches, repeat(1, MaxBatches)},
		{"batchSize whole int32 range", batchSize(pct(100)), math.MaxInt32, []int32{math.MaxInt32}},

		// steps
		{"steps 1% 10% 50% of 10", steps(pct(1), pct(10), pct(50)), 10, []int32{1, 4, 5}},
		{"steps 1% 10% 50% of 1000", steps(pct(1), pct(10), pct(50)), 1000, []int32{10, 90, 400, 500}},
		{"steps round up then skip equal targets", steps(pct(10), pct(20), pct(40)), 5, []int32{1, 1, 3}},
		{"steps group smaller than first step", steps(count(5), count(10)), 3, []int32{3}},
		{"steps capped target ends the plan", steps(count(2), count(5), count(20)), 10, []int32{2, 3, 5}},
		{"steps last step reaches the group", steps(count(2), count(5), count(10)), 10, []int32{2, 3, 5}},
		{"steps 100% has no final batch", steps(pct(100)), 10, []int32{10}},
		{"steps one agent", steps(pct(1), pct(50)), 1, []int32{1}},
		{"steps empty group", steps(pct(1), pct(50)), 0, nil},

		// exponential
		{"exponential 2 x2 max 100 of 1000", exp(count(2), 2, count(100)), 1000,
			append([]int32{2, 4, 8, 16, 32, 64}, append(repeat(100, 8), 74)...)},
		{"exponential default multiplier, uncapped", exp(count(1), 0, nil), 10, []int32{1, 2, 4, 3}},
		{"exponential x3 uncapped", exp(count(5), 3, nil), 100, []int32{5, 15, 45, 35}},
		{"exponential cap applies to the first batch", exp(count(50), 2, count(10)), 100, repeat(10, 10)},
		{"exponential percentages", exp(pct(10), 10, pct(25)), 100, []int32{10, 25, 25, 25, 15}},
		{"exponential x10", exp(count(1), 10, nil), 1000, []int32{1, 10, 100, 889}},
		{"exponential initial above group", exp(count(50), 2, nil), 20, []int32{20}},
		{"exponential cap above group", exp(count(1), 2, count(1000)), 20, []int32{1, 2, 4, 8, 5}},
		{"exponential does not overflow near int32 max", exp(count(1), 10, nil), math.MaxInt32,
			[]int32{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, math.MaxInt32 - 1111111111}},
		{"exponential empty group", exp(count(2), 2, nil), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.s, tt.group)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Plan = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlanRejects(t *testing.T) {
	tests := []struct {
		name    string
		s       v1alpha1.RolloutStrategy
		group   int
		tooMany bool
	}{
		{"nothing set", v1alpha1.RolloutStrategy{}, 10, false},
		{"two set", v1alpha1.RolloutStrategy{BatchSize: count(1), Steps: []v1alpha1.BatchSize{v1alpha1.FromInt(1)}}, 10, false},
		{"three set", v1alpha1.RolloutStrategy{BatchSize: count(1), Steps: steps(count(1)).Steps,
			Exponential: exp(count(1), 2, nil).Exponential}, 10, false},
		{"count 0", batchSize(count(0)), 10, false},
		{"negative count", batchSize(count(-1)), 10, false},
		{"0%", batchSize(str("0%")), 10, false},
		{"101%", batchSize(str("101%")), 10, false},
		{"1000%", batchSize(str("1000%")), 10, false},
		{"count as string", batchSize(str("5")), 10, false},
		{"leading zero", batchSize(str("05%")), 10, false},
		{"sign", batchSize(str("+5%")), 10, false},
		{"fraction", batchSize(str("5.5%")), 10, false},
		{"space", batchSize(str("5 %")), 10, false},
		{"bare percent sign", batchSize(str("%")), 10, false},
		{"empty string", batchSize(str("")), 10, false},
		{"unknown type", batchSize(&v1alpha1.BatchSize{Type: 7}), 10, false},
		{"empty steps", v1alpha1.RolloutStrategy{Steps: []v1alpha1.BatchSize{}}, 10, false},
		{"steps mix kinds", steps(count(1), pct(50)), 10, false},
		{"steps equal", steps(pct(10), pct(10)), 10, false},
		{"steps decreasing", steps(count(5), count(2)), 10, false},
		{"steps malformed", steps(pct(10), str("x")), 10, false},
		{"exponential initial unset", exp(&v1alpha1.BatchSize{}, 2, nil), 10, false},
		{"exponential multiplier 1", exp(count(1), 1, nil), 10, false},
		{"exponential multiplier 11", exp(count(1), 11, nil), 10, false},
		{"exponential negative multiplier", exp(count(1), -2, nil), 10, false},
		{"exponential bad max", exp(count(1), 2, str("0%")), 10, false},
		{"negative group", batchSize(count(1)), -1, false},
		{"too many fixed batches", batchSize(count(1)), MaxBatches + 1, true},
		{"too many exponential batches", exp(count(1), 2, count(1)), 5000, true},
		{"strategy checked for an empty group", batchSize(count(0)), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.s, tt.group)
			if err == nil {
				t.Fatalf("Plan = %v, want an error", got)
			}
			if errors.Is(err, ErrTooManyBatches) != tt.tooMany {
				t.Errorf("Plan error %q: errors.Is(ErrTooManyBatches) = %v, want %v", err, !tt.tooMany, tt.tooMany)
			}
		})
	}
}

func TestPlanRejectsGroupAboveInt32(t *testing.T) {
	big := int64(math.MaxInt32)
	big++
	if _, err := Plan(batchSize(pct(100)), int(big)); err == nil {
		t.Fatal("Plan accepted a group larger than int32")
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(steps(pct(1), pct(10))); err != nil {
		t.Errorf("Validate(valid steps) = %v", err)
	}
	if err := Validate(steps(pct(10), pct(1))); err == nil {
		t.Error("Validate(decreasing steps) = nil")
	}
}

// TestPlanProperties checks the invariants for many group sizes and random strategies: the
// batches are at least one agent each, add up to the group, never exceed MaxBatches, and
// follow the shape of their strategy.
func TestPlanProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randSize := func() *v1alpha1.BatchSize {
		if rng.IntN(2) == 0 {
			return pct(1 + rng.IntN(100))
		}
		return count(1 + rng.IntN(300))
	}
	randSteps := func() v1alpha1.RolloutStrategy {
		percent := rng.IntN(2) == 0
		var bs []*v1alpha1.BatchSize
		for v := 1 + rng.IntN(20); v <= 100 && len(bs) < 6; v += 1 + rng.IntN(40) {
			if percent {
				bs = append(bs, pct(v))
			} else {
				bs = append(bs, count(v*3))
			}
		}
		return steps(bs...)
	}

	for group := 0; group <= 3000; group += 1 + group/50 {
		for range 20 {
			var s v1alpha1.RolloutStrategy
			switch rng.IntN(3) {
			case 0:
				s = batchSize(randSize())
			case 1:
				s = randSteps()
			default:
				var max *v1alpha1.BatchSize
				if rng.IntN(2) == 0 {
					max = randSize()
				}
				s = exp(randSize(), int32(2+rng.IntN(9)), max)
			}
			p, err := Plan(s, group)
			if errors.Is(err, ErrTooManyBatches) {
				continue
			}
			if err != nil {
				t.Fatalf("Plan(%+v, %d): %v", s, group, err)
			}
			checkPlan(t, s, group, p)
		}
	}
}

func checkPlan(t *testing.T, s v1alpha1.RolloutStrategy, group int, p []int32) {
	t.Helper()
	var sum int
	for _, b := range p {
		if b < 1 {
			t.Fatalf("Plan(%v, %d) = %v has a batch below 1", s, group, p)
		}
		sum += int(b)
	}
	if sum != group {
		t.Fatalf("Plan(%v, %d) = %v sums to %d", s, group, p, sum)
	}
	if len(p) > MaxBatches {
		t.Fatalf("Plan(%v, %d) has %d batches", s, group, len(p))
	}
	if len(p) < 2 {
		return
	}
	head := p[:len(p)-1]
	switch {
	case s.BatchSize != nil:
		for _, b := range head {
			if b != p[0] || p[len(p)-1] > p[0] {
				t.Fatalf("Plan(%v, %d) = %v: batches differ", s.BatchSize, group, p)
			}
		}
	case s.Exponential != nil:
		for i := 1; i < len(head); i++ {
			if head[i] < head[i-1] {
				t.Fatalf("Plan(%+v, %d) = %v shrinks before the last batch", *s.Exponential, group, p)
			}
		}
	}
}

func BenchmarkPlan(b *testing.B) {
	strategies := []struct {
		name string
		s    v1alpha1.RolloutStrategy
	}{
		{"batchSize", batchSize(pct(5))},
		{"steps", steps(pct(1), pct(5), pct(10), pct(25), pct(50))},
		{"exponential", exp(count(2), 2, pct(10))},
	}
	for _, st := range strategies {
		b.Run(st.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Plan(st.s, 100000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
