package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		message string
	}{
		{[]string{"status", "r", "--timeout", "1s"}, exitNoRollout, "error: --timeout needs --watch"},
		{[]string{"status"}, exitNoRollout, "error: accepts 1 arg(s), received 0"},
		{[]string{"status", "r", "--bogus"}, exitNoRollout, "error: unknown flag: --bogus"},
		{[]string{"status", "r"}, exitNoRollout, "error: stat /nonexistent: no such file or directory"},
		{[]string{"why"}, 1, "error: accepts 1 arg(s), received 0"},
		{[]string{"agents", "r", "--state", "bogus"}, 1, `error: unknown state "bogus"`},
		{[]string{"explode"}, 1, `error: unknown command "explode"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			streams := genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}
			cmd := newRootCmd(streams)
			cmd.SetArgs(append(tt.args, "--kubeconfig", "/nonexistent"))
			if code := run(context.Background(), cmd, streams); code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			if !strings.HasPrefix(errOut.String(), tt.message) {
				t.Errorf("stderr %q, want prefix %q", errOut.String(), tt.message)
			}
		})
	}
}
