package main

import (
	"bytes"
	"context"
	"testing"
)

func TestDispatch(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("POD_NAMESPACE", "")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"no command prints usage", nil, 2, "Usage: ampora COMMAND"},
		{"help", []string{"help"}, 0, "manager"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"manager needs its namespace", []string{"manager"}, 1, "--namespace (or POD_NAMESPACE) is required"},
		{"opamp without a cluster says so", []string{"opamp"}, 1, "ampora opamp: no kubeconfig"},
		{"bad flag", []string{"manager", "--no-such-flag"}, 1, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := dispatch(cancelled, tt.args, &out); got != tt.wantCode {
				t.Errorf("exit code = %d, want %d; output:\n%s", got, tt.wantCode, out.String())
			}
			if !bytes.Contains(out.Bytes(), []byte(tt.wantOut)) {
				t.Errorf("output does not contain %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}
