package plan

import (
	"fmt"
	"math"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

// size is a BatchSize parsed once: a count, or a percentage of the group.
type size struct {
	n       int64
	percent bool
}

// parseSize checks a BatchSize as the API's CEL rule does, so that a value that slipped past
// admission (or was built in Go) fails here rather than producing an odd plan.
func parseSize(b v1alpha1.BatchSize) (size, error) {
	switch b.Type {
	case intstr.Int:
		if b.IntVal < 1 {
			return size{}, fmt.Errorf("batch size %d: a count must be at least 1", b.IntVal)
		}
		return size{n: int64(b.IntVal)}, nil
	case intstr.String:
		p, ok := parsePercent(b.StrVal)
		if !ok {
			return size{}, fmt.Errorf("batch size %q: want a count of at least 1 or a percentage from 1%% to 100%%", b.StrVal)
		}
		return size{n: p, percent: true}, nil
	default:
		return size{}, fmt.Errorf("batch size of unknown type %d", b.Type)
	}
}

// parsePercent accepts exactly what ^(100|[1-9][0-9]?)%$ accepts: no sign, no leading zero, no
// spaces, no fraction.
func parsePercent(s string) (int64, bool) {
	digits, ok := strings.CutSuffix(s, "%")
	if !ok || len(digits) == 0 || len(digits) > 3 || digits[0] == '0' {
		return 0, false
	}
	var p int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		p = p*10 + int64(c-'0')
	}
	return p, p >= 1 && p <= 100
}

// of is the number of agents the size stands for in a group: a count as is, a percentage
// rounded up.
func (s size) of(groupSize int64) int64 {
	if !s.percent {
		return s.n
	}
	return ceilDiv(s.n*groupSize, 100)
}

// String writes the size as the user did: "10" or "25%".
func (s size) String() string {
	if s.percent {
		return fmt.Sprintf("%d%%", s.n)
	}
	return fmt.Sprint(s.n)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// checkGroupSize refuses a group size no plan can describe in []int32.
func checkGroupSize(groupSize int) error {
	if groupSize < 0 || int64(groupSize) > math.MaxInt32 {
		return fmt.Errorf("group size %d out of range 0..%d", groupSize, math.MaxInt32)
	}
	return nil
}
