package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// tree is a line of text with indented children, printed with box-drawing branches.
type tree struct {
	text string
	kids []*tree
}

// add appends a child line and returns it.
func (t *tree) add(format string, a ...any) *tree {
	k := &tree{text: fmt.Sprintf(format, a...)}
	t.kids = append(t.kids, k)
	return k
}

// write prints the root line and its descendants.
func (t *tree) write(w io.Writer) {
	fmt.Fprintln(w, t.text)
	writeKids(w, t.kids, "")
}

func writeKids(w io.Writer, kids []*tree, prefix string) {
	for i, k := range kids {
		branch, next := "├─ ", "│  "
		if i == len(kids)-1 {
			branch, next = "└─ ", "   "
		}
		fmt.Fprintln(w, strings.TrimRight(prefix+branch+k.text, " "))
		writeKids(w, k.kids, prefix+next)
	}
}

// label pads a label so that the values of one level line up.
func label(width int, name, format string, a ...any) string {
	return fmt.Sprintf("%-*s %s", width, name, fmt.Sprintf(format, a...))
}

// clock writes a time as the hour of day in now's location, with the date when it is not
// today.
func clock(now, t time.Time) string {
	t = t.In(now.Location())
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

// plural writes "1 agent" or "3 agents".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// counted is a value and how often it occurs.
type counted struct {
	value string
	n     int
}

// byCount orders the distinct values of vals by how often they occur, most first, then by
// value.
func byCount(vals []string) []counted {
	m := map[string]int{}
	for _, v := range vals {
		m[v]++
	}
	out := make([]counted, 0, len(m))
	for v, n := range m {
		out = append(out, counted{v, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].value < out[j].value
	})
	return out
}

// joinCounted writes "0.149.0 ×3, 0.148.0 ×1".
func joinCounted(cs []counted) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s ×%d", c.value, c.n)
	}
	return strings.Join(parts, ", ")
}
