// Package docs_test checks the documentation: docs/reference.md is exactly what hack/crdref
// generates from the CRDs, and every relative link in README.md and docs/*.md points to a file
// that exists. It needs no cluster.
package docs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// repoRoot is the repository's root, two levels above this file.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot tell where this test file is")
	}
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the repository root: %v", root, err)
	}
	return root
}

// TestReferenceUpToDate runs the generator and compares its output with docs/reference.md.
func TestReferenceUpToDate(t *testing.T) {
	root := repoRoot(t)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "run", "./hack/crdref", "-crds", "config/crd/bases")
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go run ./hack/crdref: %v\n%s", err, stderr.String())
	}
	want := stdout.Bytes()

	// The generator's output must not depend on anything but the CRDs.
	again := exec.Command(goBin, "run", "./hack/crdref", "-crds", "config/crd/bases")
	again.Dir = root
	second, err := again.Output()
	if err != nil {
		t.Fatalf("go run ./hack/crdref (second run): %v", err)
	}
	if !bytes.Equal(want, second) {
		t.Fatal("hack/crdref wrote different output on two runs over the same CRDs: it must be deterministic")
	}

	got, err := os.ReadFile(filepath.Join(root, "docs", "reference.md"))
	if err != nil {
		t.Fatalf("reading docs/reference.md: %v; run `make manifests` to generate it", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/reference.md is out of date with the CRDs in config/crd/bases; run `make manifests` and commit the result\n%s",
			firstDifference(string(got), string(want)))
	}
}

// firstDifference shows the first line where the file differs from what was generated.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("first difference at line %d:\n  docs/reference.md: %q\n  generated:         %q", i+1, gl, wl)
		}
	}
	return "the files differ"
}

var (
	// inlineLink matches [text](target) and ![alt](target); the target ends at the first
	// space (a title may follow) or closing parenthesis.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// refDefinition matches a reference-style link definition: [label]: target
	refDefinition = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+.*)?$`)
	// scheme marks an absolute URL (https:, mailto:, ...).
	scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// link is one relative link found in a Markdown file.
type link struct {
	line   int
	target string
}

// relativeLinks lists the links of a Markdown document that point into the repository:
// neither absolute URLs nor bare #fragments. Fenced code blocks and code spans are skipped.
func relativeLinks(doc string) []link {
	var out []link
	fence := ""
	for i, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		text := stripCodeSpans(line)
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		if m := refDefinition.FindStringSubmatch(text); m != nil {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if scheme.MatchString(target) || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "//") {
				continue
			}
			out = append(out, link{line: i + 1, target: target})
		}
	}
	return out
}

// stripCodeSpans removes inline code from a line: a run of backticks opens a span that the
// next run of the same length closes. An unclosed run is kept as text.
func stripCodeSpans(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		fence := line[i : i+n]
		end := -1
		for j := i + n; j < len(line); {
			k := strings.Index(line[j:], fence)
			if k < 0 {
				break
			}
			k += j
			m := 0
			for k+m < len(line) && line[k+m] == '`' {
				m++
			}
			if m == n {
				end = k
				break
			}
			j = k + m
		}
		if end < 0 {
			b.WriteString(fence)
			i += n
			continue
		}
		i = end + n
	}
	return b.String()
}

// TestRelativeLinks checks that every relative link of README.md and docs/*.md names a file
// or directory of the repository.
func TestRelativeLinks(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	checked := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, l := range relativeLinks(string(raw)) {
			checked++
			target := l.target
			if i := strings.IndexAny(target, "#?"); i >= 0 {
				target = target[:i]
			}
			if target == "" {
				continue
			}
			var path string
			if strings.HasPrefix(target, "/") {
				path = filepath.Join(root, filepath.FromSlash(target))
			} else {
				path = filepath.Join(filepath.Dir(f), filepath.FromSlash(target))
			}
			if !strings.HasPrefix(path, root+string(filepath.Separator)) && path != root {
				t.Errorf("%s:%d: link %q leaves the repository", rel, l.line, l.target)
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s:%d: link %q points to %s, which does not exist", rel, l.line, l.target, mustRel(root, path))
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no relative link at all: the link parser is broken")
	}
}

func mustRel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}

// TestRelativeLinksParser pins what counts as a link, so that the check above cannot pass by
// finding nothing.
func TestRelativeLinksParser(t *testing.T) {
	doc := strings.Join([]string{
		"See [opamp](opamp.md#verified-states) and [the chart](../charts/ampora/README.md).",
		"An image ![diagram](img/arch.png \"title\") and [upstream](https://opentelemetry.io/docs/).",
		"An anchor [here](#batches), code `[not](a-link.md)` and ``[nor `this`](b.md)``.",
		"```",
		"[inside](a-fence.md)",
		"```",
		"[ref]: ../Makefile",
	}, "\n")
	var got []string
	for _, l := range relativeLinks(doc) {
		got = append(got, fmt.Sprintf("%d:%s", l.line, l.target))
	}
	want := []string{"1:opamp.md#verified-states", "1:../charts/ampora/README.md", "2:img/arch.png", "7:../Makefile"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("relativeLinks:\n got %v\nwant %v", got, want)
	}
}
