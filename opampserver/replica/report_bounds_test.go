package replica

import (
	"fmt"
	"reflect"
	"testing"
)

func TestConflictGroups(t *testing.T) {
	groups := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("g%02d", i))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		all  []string
		self string
		want []string
	}{
		{"two", groups(2), "g01", groups(2)},
		{"at the bound", groups(maxConflictGroups), "g00", groups(maxConflictGroups)},
		{"over the bound, self among the first", groups(12), "g03", groups(maxConflictGroups)},
		{"over the bound, self named last", groups(12), "g10", append(groups(maxConflictGroups-1), "g10")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := append([]string(nil), tc.all...)
			if got := conflictGroups(tc.all, tc.self); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("conflictGroups = %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(all, tc.all) {
				t.Errorf("conflictGroups changed its input: %v", tc.all)
			}
		})
	}
}
