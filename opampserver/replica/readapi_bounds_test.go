package replica

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ampora-io/ampora/internal/readapi"
)

func TestPageOf(t *testing.T) {
	agents := func(n, attrBytes int) []readapi.Agent {
		var out []readapi.Agent
		for i := 0; i < n; i++ {
			a := readapi.Agent{InstanceUID: fmt.Sprintf("u%03d", i)}
			if attrBytes > 0 {
				a.Attributes = map[string]string{"k": strings.Repeat("v", attrBytes)}
			}
			out = append(out, a)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		items    []readapi.Agent
		limit    int
		maxBytes int
		wantN    int
		wantCont string
	}{
		{"empty", nil, 10, 1 << 20, 0, ""},
		{"all fit", agents(3, 0), 10, 1 << 20, 3, ""},
		{"cut by count", agents(5, 0), 2, 1 << 20, 2, "u001"},
		{"cut by bytes", agents(5, 1000), 10, 2500, 2, "u001"},
		{"one agent larger than a page still goes", agents(3, 5000), 10, 2500, 1, "u000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cont := pageOf(tc.items, tc.limit, tc.maxBytes)
			if len(got) != tc.wantN || cont != tc.wantCont {
				t.Fatalf("pageOf: %d items, continue %q; want %d, %q", len(got), cont, tc.wantN, tc.wantCont)
			}
			size := 0
			for _, b := range got {
				size += len(b) + 1
			}
			if len(got) > 1 && size > tc.maxBytes {
				t.Errorf("page of %d bytes, bound %d", size, tc.maxBytes)
			}
		})
	}
}
