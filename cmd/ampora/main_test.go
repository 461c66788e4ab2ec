package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	kerrors "k8s.io/apimachinery/pkg/util/errors"
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

func TestReadAPIURL(t *testing.T) {
	tests := []struct{ podIP, listen, want string }{
		{"10.1.2.3", ":8443", "http://10.1.2.3:8443"},
		{"fd00::7", "0.0.0.0:9000", "http://[fd00::7]:9000"},
		{"", ":8443", ""},
		{"10.1.2.3", "garbage", ""},
	}
	for _, tt := range tests {
		if got := readAPIURL(tt.podIP, tt.listen); got != tt.want {
			t.Errorf("readAPIURL(%q, %q) = %q, want %q", tt.podIP, tt.listen, got, tt.want)
		}
	}
}

func TestLeadershipLost(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("leader election lost"), true},
		{kerrors.NewAggregate([]error{errors.New("leader election lost"), errors.New("stop timed out")}), true},
		{errors.New("failed to wait for caches to sync"), false},
	}
	for _, tt := range tests {
		if got := leadershipLost(tt.err); got != tt.want {
			t.Errorf("leadershipLost(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestAddrFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := l.Addr().String()
	if addrFree(held) {
		t.Errorf("addrFree(%s) = true while a listener holds it", held)
	}
	_ = l.Close()
	if !addrFree(held) {
		t.Errorf("addrFree(%s) = false once the listener closed", held)
	}
	for _, off := range []string{"", "0"} {
		if !addrFree(off) {
			t.Errorf("addrFree(%q) = false for a listener turned off", off)
		}
	}
}

func TestParseTokenNamespaces(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "*", want: nil},
		{in: "", want: []string{}},
		{in: " , ", want: []string{}},
		{in: "payments", want: []string{"payments"}},
		{in: "payments, checkout,payments", want: []string{"payments", "checkout"}},
		{in: "payments,*", wantErr: `"*" is not a namespace name`},
		{in: "Payments", wantErr: `"Payments" is not a namespace name`},
	}
	for _, tt := range tests {
		got, err := parseTokenNamespaces(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseTokenNamespaces(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTokenNamespaces(%q): %v", tt.in, err)
			continue
		}
		if (got == nil) != (tt.want == nil) || !slices.Equal(got, tt.want) {
			t.Errorf("parseTokenNamespaces(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

// The sidecar refuses to read enrollment tokens in the operator namespace: it would list every
// Secret there, the manager's token and the approval seal key among them.
func TestOpAMPRefusesTheOperatorNamespaceForTokens(t *testing.T) {
	var stderr strings.Builder
	err := runOpAMP(context.Background(), []string{"--namespace=ampora-system", "--token-namespaces=payments,ampora-system"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "names the operator namespace ampora-system") {
		t.Fatalf("err = %v, want a refusal of the operator namespace", err)
	}
}

// The sidecar refuses to present its peers a token the API server would take: a peer could
// then write as this replica.
func TestOpAMPRefusesAPeerTokenTheAPIServerTakes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"aud":["https://kubernetes.default.svc.cluster.local"]}`))
	if err := os.WriteFile(file, []byte("e30."+claims+".sig"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	err := runOpAMP(context.Background(), []string{"--namespace=ampora-system", "--peer-token-file=" + file}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--peer-token-file") {
		t.Fatalf("err = %v, want a refusal of the peer token", err)
	}
}

// A zero or negative --replica-report-timeout would make every replica silent at once, and
// every batch wait: the manager refuses it before it starts.
func TestManagerRefusesANonPositiveReplicaReportTimeout(t *testing.T) {
	for _, v := range []string{"0s", "-1m"} {
		var stderr strings.Builder
		err := runManager(context.Background(), []string{"--namespace=ampora-system", "--replica-report-timeout=" + v}, &stderr)
		if err == nil || !strings.Contains(err.Error(), "--replica-report-timeout must be positive") {
			t.Errorf("--replica-report-timeout=%s: err = %v, want a refusal", v, err)
		}
	}
}
