package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process the harness started, in a process group of its own, with its output
// in a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited
	err     error         // its exit status, once done

	mu       sync.Mutex
	expected bool // the harness stopped it on purpose
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) expectExit() {
	p.mu.Lock()
	p.expected = true
	p.mu.Unlock()
}

// kill sends SIGKILL to the process's group, on purpose.
func (p *proc) kill() error {
	p.expectExit()
	return syscall.Kill(-p.pid(), syscall.SIGKILL)
}

// logContains says whether the process's log holds s, case-insensitively.
func (p *proc) logContains(s string) bool {
	b, err := os.ReadFile(p.logPath)
	return err == nil && bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(s)))
}

// tail is the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// procs are the processes of one scenario. Any of them exiting when the harness did not ask
// for it cancels the scenario's context, with the exit as its cause.
type procs struct {
	dir    string
	cancel context.CancelCauseFunc

	mu   sync.Mutex
	list []*proc
}

// start runs bin with args and env; stdout and stderr go to <dir>/<name>.log. When onLine is
// set, each line of stdout is also handed to it with the moment it arrived.
func (ps *procs) start(name string, env []string, onLine func(time.Time, string), bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(ps.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if onLine != nil {
		cmd.Stdout = &lineWriter{out: f, onLine: onLine}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
		p.mu.Lock()
		expected := p.expected
		p.mu.Unlock()
		if !expected && ps.cancel != nil {
			ps.cancel(&exitError{p})
		}
	}()
	return p, nil
}

// stopAll sends SIGTERM to every process group, waits up to grace for them to exit, then
// sends SIGKILL to those left.
func (ps *procs) stopAll(grace time.Duration) {
	ps.mu.Lock()
	list := append([]*proc(nil), ps.list...)
	ps.mu.Unlock()
	for _, p := range list {
		p.expectExit()
		if !p.exited() {
			_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
		}
	}
	deadline := time.After(grace)
	for _, p := range list {
		select {
		case <-p.done:
		case <-deadline:
			for _, q := range list {
				if !q.exited() {
					fmt.Fprintf(os.Stderr, "bench: %s did not stop within %s; killing it\n", q.name, grace)
					_ = syscall.Kill(-q.pid(), syscall.SIGKILL)
				}
			}
			for _, q := range list {
				<-q.done
			}
			return
		}
	}
}

// exitError is the cause of a scenario's end when one of its processes exited on its own.
type exitError struct{ p *proc }

func (e *exitError) Error() string {
	return fmt.Sprintf("%s exited unexpectedly (%v); the last lines of its log:\n%s", e.p.name, e.p.err, indent(e.p.tail(15)))
}

// lineWriter copies what it is given to out and hands every complete line to onLine.
type lineWriter struct {
	out    io.Writer
	onLine func(time.Time, string)

	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.onLine(now, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return w.out.Write(b)
}

func indent(s string) string {
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
