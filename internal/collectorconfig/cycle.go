package collectorconfig

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// cycles reports pipelines that feed their own data back to themselves
// through connectors, which the collector refuses ("cycle detected").
//
// The graph has a node per pipeline and a node per connector and signal:
// a pipeline exporting to connector c has an edge to (c, its signal), and
// (c, s) has an edge to every pipeline of signal s that receives from c.
// Only same-signal hops are followed: whether a connector converts, say,
// traces to metrics is known to its factory, not to the config, and the
// connectors that loop in practice (forward, routing, failover) keep the
// signal. Each group of pipelines caught in a loop is reported once, with
// the shortest loop through its first pipeline.
func (ch *checker) cycles() {
	g := graph{edges: make([][]int, len(ch.pipelines))}
	index := make(map[PipelineID]int, len(ch.pipelines))
	for i, pid := range ch.pipelines {
		index[pid] = i
	}
	type hop struct {
		conn   ComponentID
		signal string
	}
	hops := map[hop]int{}
	var connOf []ComponentID // the connector of each hop node, from len(ch.pipelines) on
	hopNode := func(h hop) int {
		if n, ok := hops[h]; ok {
			return n
		}
		n := len(g.edges)
		hops[h] = n
		g.edges = append(g.edges, nil)
		connOf = append(connOf, h.conn)
		return n
	}
	// Connector nodes are numbered in connector order, and edges are added
	// in pipeline order, so that the search and its report are deterministic.
	for _, id := range slices.SortedFunc(maps.Keys(ch.asExporter), compareComponentIDs) {
		for _, pid := range ch.asExporter[id] {
			n := hopNode(hop{id, pid.Type})
			g.edges[index[pid]] = append(g.edges[index[pid]], n)
		}
		for _, pid := range ch.asReceiver[id] {
			if n, ok := hops[hop{id, pid.Type}]; ok {
				g.edges[n] = append(g.edges[n], index[pid])
			}
		}
	}
	for i := range ch.pipelines {
		slices.Sort(g.edges[i])
	}

	for _, scc := range g.components() {
		if len(scc) < 2 {
			continue // a pipeline cannot loop on itself without a connector node
		}
		loop := g.shortestLoop(scc)
		if len(loop) < 2 {
			continue
		}
		label := func(n int) string {
			if n < len(ch.pipelines) {
				return fmt.Sprintf("%q", ch.pipelines[n])
			}
			return fmt.Sprintf("connector %q", connOf[n-len(ch.pipelines)])
		}
		parts := make([]string, len(loop)+1)
		for i, n := range loop {
			parts[i] = label(n)
		}
		parts[len(loop)] = label(loop[0])
		ch.add(ch.pipelines[loop[0]].String(), connOf[loop[1]-len(ch.pipelines)].String(),
			"pipelines form a cycle: %s", strings.Join(parts, " -> "))
	}
}

// graph is a directed graph over numbered nodes.
type graph struct {
	edges [][]int
}

// components returns the strongly connected components, each sorted, found
// with Tarjan's algorithm.
func (g *graph) components() [][]int {
	n := len(g.edges)
	t := tarjan{g: g, index: make([]int, n), low: make([]int, n), onStack: make([]bool, n)}
	for i := range t.index {
		t.index[i] = -1
	}
	for v := range n {
		if t.index[v] < 0 {
			t.visit(v)
		}
	}
	return t.sccs
}

type tarjan struct {
	g       *graph
	next    int
	index   []int
	low     []int
	onStack []bool
	stack   []int
	sccs    [][]int
}

func (t *tarjan) visit(v int) {
	t.index[v], t.low[v] = t.next, t.next
	t.next++
	t.stack = append(t.stack, v)
	t.onStack[v] = true
	for _, w := range t.g.edges[v] {
		switch {
		case t.index[w] < 0:
			t.visit(w)
			t.low[v] = min(t.low[v], t.low[w])
		case t.onStack[w]:
			t.low[v] = min(t.low[v], t.index[w])
		}
	}
	if t.low[v] != t.index[v] {
		return
	}
	var scc []int
	for {
		w := t.stack[len(t.stack)-1]
		t.stack = t.stack[:len(t.stack)-1]
		t.onStack[w] = false
		scc = append(scc, w)
		if w == v {
			break
		}
	}
	slices.Sort(scc)
	t.sccs = append(t.sccs, scc)
}

// shortestLoop returns the shortest path from the first node of a strongly
// connected component back to itself, without repeating that node at the
// end.
func (g *graph) shortestLoop(scc []int) []int {
	start := scc[0]
	in := make(map[int]bool, len(scc))
	for _, v := range scc {
		in[v] = true
	}
	parent := map[int]int{start: -1}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.edges[v] {
			if w == start {
				var loop []int
				for u := v; u >= 0; u = parent[u] {
					loop = append(loop, u)
				}
				slices.Reverse(loop)
				return loop
			}
			if _, seen := parent[w]; !seen && in[w] {
				parent[w] = v
				queue = append(queue, w)
			}
		}
	}
	return nil // not reached for a component of two nodes or more
}
