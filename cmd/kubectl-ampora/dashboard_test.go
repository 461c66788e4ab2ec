package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestDashboardUsage(t *testing.T) {
	tests := []struct {
		args    []string
		message string
	}{
		{[]string{"dashboard", "--address", "0.0.0.0:8484"}, `error: --address "0.0.0.0:8484" is not a loopback address`},
		{[]string{"dashboard", "--address", ":8484"}, `error: --address ":8484" is not a loopback address`},
		{[]string{"dashboard", "--address", "127.0.0.1"}, `error: --address "127.0.0.1": address 127.0.0.1: missing port in address`},
		{[]string{"dashboard", "--refresh", "100ms"}, "error: --refresh 100ms is too short: use at least 500ms"},
		{[]string{"dashboard", "gw"}, `error: unknown command "gw" for "kubectl ampora dashboard"`},
		{[]string{"dashboard"}, "error: stat /nonexistent: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			streams := genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}
			cmd := newRootCmd(streams)
			cmd.SetArgs(append(tt.args, "--kubeconfig", "/nonexistent"))
			if code := run(context.Background(), cmd, streams); code != 1 {
				t.Errorf("exit code %d, want 1 (stderr %q)", code, errOut.String())
			}
			if !strings.HasPrefix(errOut.String(), tt.message) {
				t.Errorf("stderr %q, want prefix %q", errOut.String(), tt.message)
			}
			if out.Len() > 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}
