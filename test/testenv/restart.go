package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// stopGrace is how long a stopped kube-apiserver may drain before it is killed: it stops
// listening at once on SIGTERM, then serves open watches for as long as envtest lets it (its
// whole stop timeout), which would stretch the outage.
const stopGrace = 2 * time.Second

// restartStartTimeout bounds a restarted kube-apiserver's way to healthy: it may share a small
// machine with the processes under test.
const restartStartTimeout = 90 * time.Second

// StopAPIServer stops kube-apiserver (SIGTERM, SIGKILL after a short grace) and leaves etcd
// running, so that StartAPIServer can start it again over the same data. Clients keep working
// across the restart: the next one serves on the same address with the same serving
// certificate, client CA and service-account keys, so the kubeconfig, client certificates and
// tokens of the old one stay valid. It needs /proc to find the process (Linux).
func (e *Env) StopAPIServer() error {
	s := e.ControlPlane.GetAPIServer()
	arg := "--cert-dir=" + s.CertDir
	pid := findProcess("kube-apiserver", arg)
	if pid == 0 {
		return fmt.Errorf("no kube-apiserver process runs with %s", arg)
	}
	// envtest's own Stop would remove a cert dir it made itself, and its Start would make a new
	// one with a new CA: keep the files in a dir of our own, which Env.Stop removes.
	keep := filepath.Join(e.dir, "apiserver-certs")
	if s.CertDir != keep {
		if err := copyFiles(s.CertDir, keep); err != nil {
			return fmt.Errorf("keeping the API server's certificates: %w", err)
		}
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	if !waitGone("kube-apiserver", arg, stopGrace) {
		_ = p.Kill()
		if !waitGone("kube-apiserver", arg, 10*time.Second) {
			return fmt.Errorf("kube-apiserver (pid %d) did not exit", pid)
		}
	}
	if s.CertDir != keep {
		// envtest made it, and its Stop, which would remove it, is not called.
		_ = os.RemoveAll(s.CertDir)
		s.CertDir = keep
	}
	return nil
}

// StartAPIServer starts the kube-apiserver that StopAPIServer stopped and waits until it is
// healthy.
func (e *Env) StartAPIServer() error {
	s := e.ControlPlane.GetAPIServer()
	if s.CertDir != filepath.Join(e.dir, "apiserver-certs") || findProcess("kube-apiserver", "--cert-dir="+s.CertDir) != 0 {
		return errors.New("StartAPIServer without StopAPIServer")
	}
	s.StartTimeout = max(s.StartTimeout, restartStartTimeout)
	if err := s.Start(); err != nil {
		return fmt.Errorf("restarting kube-apiserver: %w", err)
	}
	return nil
}

// findProcess returns the pid of a process of the named binary with arg among its arguments,
// or 0.
func findProcess(binary, arg string) int {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != binary {
			continue
		}
		for _, a := range args[1:] {
			if a == arg {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
				return pid
			}
		}
	}
	return 0
}

// waitGone waits up to timeout until no process of binary runs with arg.
func waitGone(binary, arg string, timeout time.Duration) bool {
	return wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return findProcess(binary, arg) == 0, nil
	}) == nil
}

// copyFiles copies the regular files of dir src into dir dst, which it creates.
func copyFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	for _, en := range entries {
		if !en.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, en.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, en.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
