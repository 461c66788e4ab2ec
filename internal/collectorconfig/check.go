package collectorconfig

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Problem is one reason a config would not start.
type Problem struct {
	// Pipeline is the pipeline the problem is in, or the first of the
	// pipelines involved; empty when it concerns no pipeline.
	Pipeline string
	// Component is the ID of the component concerned, if any.
	Component string
	// Message says what is wrong, naming the pipeline and the component.
	Message string
}

// ValidationError lists every problem Check found, so that a user fixes
// them all in one go rather than one per rollout attempt.
type ValidationError struct {
	Problems []Problem
}

// Error joins the messages with "; ". Past maxReported problems it only
// counts the rest, to stay readable in a status condition; Problems holds
// them all.
func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return joinMessages(msgs)
}

// maxReported bounds the messages an error spells out.
const maxReported = 20

func joinMessages(msgs []string) string {
	if len(msgs) <= maxReported {
		return strings.Join(msgs, "; ")
	}
	return fmt.Sprintf("%s; and %d more problems", strings.Join(msgs[:maxReported], "; "), len(msgs)-maxReported)
}

// Validate parses a config and checks it. On a parse error it returns no
// config; on a check error it returns the config along with a
// *ValidationError, so that callers can still look at what was parsed.
func Validate(data []byte) (*Config, error) {
	cfg, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return cfg, cfg.Check()
}

// Check applies the rules the collector applies at startup and returns nil
// or a *ValidationError:
//
//   - service exists and defines at least one pipeline;
//   - every pipeline has at least one receiver and at least one exporter;
//   - every component a pipeline names is defined: a receiver among the
//     receivers or connectors, a processor among the processors, an
//     exporter among the exporters or connectors;
//   - no pipeline lists a component twice in the same list;
//   - a connector used as an exporter is used as a receiver somewhere, and
//     the reverse, and no connector shares its ID with a receiver or an
//     exporter, which would make pipelines ambiguous;
//   - connectors do not make pipelines feed back into themselves;
//   - service.extensions names only defined extensions.
//
// What a component's own settings mean is up to its factory in the agent,
// so Check does not look inside them; UsedTypes tells which factories an
// agent needs.
func (c *Config) Check() error {
	if c == nil {
		c = &Config{}
	}
	ch := checker{cfg: c, pipelines: slices.SortedFunc(maps.Keys(c.Service.Pipelines), comparePipelineIDs)}
	ch.connectorUses()
	ch.service()
	ch.pipelineLists()
	ch.connectors()
	ch.cycles()
	if len(ch.problems) == 0 {
		return nil
	}
	slices.SortFunc(ch.problems, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.Pipeline, b.Pipeline),
			cmp.Compare(a.Component, b.Component),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return &ValidationError{Problems: ch.problems}
}

type checker struct {
	cfg       *Config
	pipelines []PipelineID // sorted
	// asExporter and asReceiver list, per connector, the pipelines that
	// export to it and those that receive from it, sorted, without repeats.
	asExporter, asReceiver map[ComponentID][]PipelineID
	problems               []Problem
}

func (ch *checker) add(pipeline, component string, format string, args ...any) {
	ch.problems = append(ch.problems, Problem{
		Pipeline:  pipeline,
		Component: component,
		Message:   fmt.Sprintf(format, args...),
	})
}

func (ch *checker) service() {
	svc := &ch.cfg.Service
	present := ch.cfg.hasService || len(svc.Pipelines) > 0 || len(svc.Extensions) > 0 || len(svc.Raw) > 0
	switch {
	case !present:
		ch.add("", "", "service: section is missing")
	case len(svc.Pipelines) == 0:
		ch.add("", "", "service: has no pipelines")
	}
	reported := map[ComponentID]bool{}
	for _, id := range svc.Extensions {
		if _, ok := ch.cfg.Extensions[id]; ok || reported[id] {
			continue
		}
		reported[id] = true
		ch.add("", id.String(), "service: extension %q is not defined%s", id, ch.hint(id, Extensions))
	}
}

// role is what a pipeline list holds and where its entries may be defined.
type role struct {
	name  string
	kinds []Kind
}

var (
	receiverRole  = role{"receiver", []Kind{Receivers, Connectors}}
	processorRole = role{"processor", []Kind{Processors}}
	exporterRole  = role{"exporter", []Kind{Exporters, Connectors}}
)

func (ch *checker) pipelineLists() {
	for _, pid := range ch.pipelines {
		pl := ch.cfg.Service.Pipelines[pid]
		p := pid.String()
		if len(pl.Receivers) == 0 {
			ch.add(p, "", "pipeline %q: has no receivers", p)
		}
		if len(pl.Exporters) == 0 {
			ch.add(p, "", "pipeline %q: has no exporters", p)
		}
		ch.list(p, receiverRole, pl.Receivers)
		ch.list(p, processorRole, pl.Processors)
		ch.list(p, exporterRole, pl.Exporters)
	}
}

// list checks one list of a pipeline, reporting each ID at most once per
// kind of problem.
func (ch *checker) list(p string, r role, ids []ComponentID) {
	count := make(map[ComponentID]int, len(ids))
	for _, id := range ids {
		count[id]++
		if count[id] > 1 {
			continue
		}
		if !ch.defined(id, r.kinds...) {
			ch.add(p, id.String(), "pipeline %q: %s %q is not defined%s", p, r.name, id, ch.hint(id, r.kinds...))
		}
	}
	for _, id := range ids {
		n := count[id]
		if n < 2 {
			continue
		}
		count[id] = 0 // report once
		times := "twice"
		if n > 2 {
			times = fmt.Sprintf("%d times", n)
		}
		ch.add(p, id.String(), "pipeline %q: %s %q is listed %s", p, r.name, id, times)
	}
}

func (ch *checker) defined(id ComponentID, in ...Kind) bool {
	for _, k := range in {
		if _, ok := ch.cfg.Components(k)[id]; ok {
			return true
		}
	}
	return false
}

// hint points at a component defined under the wrong section, the usual
// cause of an undefined reference, such as a receiver written under
// exporters.
func (ch *checker) hint(id ComponentID, expected ...Kind) string {
	for _, k := range kinds {
		if !slices.Contains(expected, k) && ch.defined(id, k) {
			return " (it is defined as " + k.withArticle() + ")"
		}
	}
	return ""
}

// connectorUses fills asExporter and asReceiver.
func (ch *checker) connectorUses() {
	ch.asExporter = map[ComponentID][]PipelineID{}
	ch.asReceiver = map[ComponentID][]PipelineID{}
	note := func(uses map[ComponentID][]PipelineID, ids []ComponentID, pid PipelineID) {
		for _, id := range ids {
			if _, ok := ch.cfg.Connectors[id]; !ok {
				continue
			}
			if u := uses[id]; len(u) == 0 || u[len(u)-1] != pid {
				uses[id] = append(u, pid)
			}
		}
	}
	for _, pid := range ch.pipelines {
		pl := ch.cfg.Service.Pipelines[pid]
		note(ch.asExporter, pl.Exporters, pid)
		note(ch.asReceiver, pl.Receivers, pid)
	}
}

func (ch *checker) connectors() {
	for _, id := range slices.SortedFunc(maps.Keys(ch.cfg.Connectors), compareComponentIDs) {
		for _, k := range []Kind{Receivers, Exporters} {
			if ch.defined(id, k) {
				ch.add("", id.String(), "connector %q has the same ID as %s, so pipelines cannot tell them apart; rename one of them", id, k.withArticle())
			}
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(ch.cfg.Connectors), compareComponentIDs) {
		exp, rec := ch.asExporter[id], ch.asReceiver[id]
		switch {
		case len(exp) > 0 && len(rec) == 0:
			ch.add(exp[0].String(), id.String(), "connector %q is used as an exporter in %s but as a receiver in no pipeline", id, pipelineList(exp))
		case len(rec) > 0 && len(exp) == 0:
			ch.add(rec[0].String(), id.String(), "connector %q is used as a receiver in %s but as an exporter in no pipeline", id, pipelineList(rec))
		}
	}
}

// maxListed bounds how many pipelines one message names.
const maxListed = 5

// pipelineList names pipelines in a sentence: `pipeline "traces"`,
// `pipelines "traces/a" and "traces/b"`.
func pipelineList(ids []PipelineID) string {
	if len(ids) == 1 {
		return fmt.Sprintf("pipeline %q", ids[0])
	}
	shown := ids[:min(len(ids), maxListed)]
	quoted := make([]string, len(shown))
	for i, id := range shown {
		quoted[i] = fmt.Sprintf("%q", id)
	}
	if more := len(ids) - len(shown); more > 0 {
		return fmt.Sprintf("pipelines %s and %d more", strings.Join(quoted, ", "), more)
	}
	last := len(quoted) - 1
	return fmt.Sprintf("pipelines %s and %s", strings.Join(quoted[:last], ", "), quoted[last])
}

func compareComponentIDs(a, b ComponentID) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name))
}

func comparePipelineIDs(a, b PipelineID) int {
	return compareComponentIDs(ComponentID(a), ComponentID(b))
}
