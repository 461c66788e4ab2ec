// Package demo runs hack/demo end to end with a small fleet, so that `make demo` cannot break
// unnoticed: the real control plane, the real ampora processes, fleetsim, kubectl and the
// plugin, exactly as the demo drives them.
package demo

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ampora-io/ampora/test/testenv"
)

func TestDemoRunsToTheEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./hack/demo", "-agents", "30", "-dir", t.TempDir())
	cmd.Dir = testenv.Root()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the demo failed: %v\n%s", err, out.String())
	}
	text := out.String()
	// What the demo shows, in order: a gate pauses the first rollout, describe explains it, the
	// documented resume takes it to Completed; the second waits for approval, its author's own
	// approval is refused, another user's is taken, and it completes too.
	for _, want := range []string{
		"paused: ",
		"kubectl describe rollout gateways-batching",
		"Resuming with the documented action",
		"Completed: ",
		"Approved=False",
		"refused, as the policy wants",
		"bob approves it",
		"Final state",
	} {
		i := strings.Index(text, want)
		if i < 0 {
			t.Fatalf("the demo's output lacks %q:\n%s", want, text)
		}
		text = text[i+len(want):]
	}
	if n := strings.Count(out.String(), "Completed: "); n != 2 {
		t.Errorf("%d rollouts completed, want 2:\n%s", n, out.String())
	}
}
