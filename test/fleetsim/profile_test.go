package fleetsim

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseProfile(t *testing.T) {
	type delay struct{ lo, hi time.Duration }
	tests := []struct {
		spec      string
		want      Profile
		wantDelay *delay
		wantErr   string
	}{
		{
			spec: `name=failing,fraction=0.05,fail="unknown exporter otlp"`,
			want: Profile{Name: "failing", Fraction: 0.05, Behavior: Behavior{FailWith: "unknown exporter otlp"}},
		},
		{
			// As a shell hands it over once it has removed the quotes.
			spec: `name=failing,fraction=0.05,fail=unknown exporter otlp`,
			want: Profile{Name: "failing", Fraction: 0.05, Behavior: Behavior{FailWith: "unknown exporter otlp"}},
		},
		{
			spec: `fail="bad \"pipeline\", at C:\\otel" , name = x`,
			want: Profile{Name: "x", Behavior: Behavior{FailWith: `bad "pipeline", at C:\otel`}},
		},
		{
			spec:      `name=slow,fraction=12.5%,delay=200ms-2s`,
			want:      Profile{Name: "slow", Fraction: 0.125},
			wantDelay: &delay{200 * time.Millisecond, 2 * time.Second},
		},
		{
			spec:      `delay=750ms`,
			wantDelay: &delay{750 * time.Millisecond, 750 * time.Millisecond},
		},
		{
			spec: `name=odd,no-rcs,no-accept,drop-after-push=true,components,stale-failed=1,flap-every=30s,unhealthy="exporter otlp: connection refused"`,
			want: Profile{Name: "odd", Behavior: Behavior{NoRemoteConfigStatus: true, NoAcceptRemoteConfig: true,
				DisconnectAfterPush: true, ReportComponents: true, StaleFailedAfterReconnect: true,
				FlapEvery: 30 * time.Second, UnhealthyAfterApply: "exporter otlp: connection refused"}},
		},
		{
			spec: `no-rcs=false,components=F`,
			want: Profile{},
		},
		{
			spec: `missing=exporters/otlphttp,missing="receivers/filelog, processors/batch"`,
			want: Profile{Behavior: Behavior{MissingComponents: []string{"exporters/otlphttp", "receivers/filelog", "processors/batch"}}},
		},
		{
			spec: `name=edge,attr.service.version=0.148.0,attr.region="eu-west-1,b",attr.empty=`,
			want: Profile{Name: "edge", Attributes: map[string]string{"service.version": "0.148.0", "region": "eu-west-1,b", "empty": ""}},
		},
		{spec: ``, want: Profile{}},

		{spec: `name=x,colour=blue`, wantErr: "colour: unknown key"},
		{spec: `attr.=x`, wantErr: "unknown key"},
		{spec: `fraction=0`, wantErr: "not in (0, 1]"},
		{spec: `fraction=1.5`, wantErr: "not in (0, 1]"},
		{spec: `fraction=150%`, wantErr: "not in (0, 1]"},
		{spec: `fraction=half`, wantErr: "not a number"},
		{spec: `fraction`, wantErr: "fraction: a value is required"},
		{spec: `delay=2s-200ms`, wantErr: "0 <= LO <= HI"},
		{spec: `delay=soon`, wantErr: "delay: time: invalid duration"},
		{spec: `delay=1s-`, wantErr: "delay: time: invalid duration"},
		{spec: `flap-every=0s`, wantErr: "not positive"},
		{spec: `fail=`, wantErr: "an error message is required"},
		{spec: `no-rcs=maybe`, wantErr: "not a boolean"},
		{spec: `missing=exporters/kafka`, wantErr: "not one of the components"},
		{spec: `missing=otlphttp`, wantErr: "not one of the components"},
		{spec: `name=a,name=b`, wantErr: "name given twice"},
		{spec: `fail="unterminated`, wantErr: "unterminated quote"},
		{spec: `fail="a"b`, wantErr: "after the closing quote"},
		{spec: `fail="a\nb"`, wantErr: "escapes"},
		{spec: `name=a,,fail=b`, wantErr: "empty key"},
		{spec: `=a`, wantErr: "empty key"},
		{spec: `name=a,`, wantErr: "trailing comma"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseProfile(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			applyDelay := got.Behavior.ApplyDelay
			got.Behavior.ApplyDelay = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			switch {
			case tt.wantDelay == nil && applyDelay != nil:
				t.Errorf("unexpected apply delay")
			case tt.wantDelay != nil && applyDelay == nil:
				t.Errorf("no apply delay")
			case tt.wantDelay != nil:
				r := rand.New(rand.NewPCG(1, 2))
				lo, hi := time.Duration(1<<62), time.Duration(0)
				for range 1000 {
					d := applyDelay(r)
					lo, hi = min(lo, d), max(hi, d)
				}
				if lo < tt.wantDelay.lo || hi > tt.wantDelay.hi {
					t.Errorf("delays drawn in [%v, %v], want within [%v, %v]", lo, hi, tt.wantDelay.lo, tt.wantDelay.hi)
				}
				if span := tt.wantDelay.hi - tt.wantDelay.lo; hi-lo < span*9/10 {
					t.Errorf("delays drawn in [%v, %v] do not cover [%v, %v]", lo, hi, tt.wantDelay.lo, tt.wantDelay.hi)
				}
			}
		})
	}
}

func TestParseShares(t *testing.T) {
	tests := []struct {
		spec    string
		want    []Share
		wantErr string
	}{
		{spec: "0.149.0=0.7,0.148.0=0.3", want: []Share{{"0.149.0", 0.7}, {"0.148.0", 0.3}}},
		{spec: "a=3, b=1", want: []Share{{"a", 3}, {"b", 1}}},
		{spec: "0.149.0=1", want: []Share{{"0.149.0", 1}}},
		{spec: "0.149.0", wantErr: "want VALUE=WEIGHT"},
		{spec: "a=0", wantErr: "not a positive number"},
		{spec: "a=-1", wantErr: "not a positive number"},
		{spec: "a=x", wantErr: "not a positive number"},
		{spec: "a=1,a=2", wantErr: "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseShares(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVersionsSpreadOverEveryProfile(t *testing.T) {
	o := Options{URLs: []string{"ws://127.0.0.1:1/v1/opamp"}, Agents: 1000, Seed: 7,
		Versions: []Share{{"0.149.0", 0.7}, {"0.148.0", 0.3}}}
	profiles := []Profile{{Name: "a", Fraction: 0.2}, {Name: "pinned", Fraction: 0.1, Attributes: map[string]string{"service.version": "0.1.0"}}}
	r := rand.New(rand.NewPCG(1, 2))
	count := map[string]map[string]int{}
	for i := range o.Agents {
		p := Profile{Name: "default"}
		switch {
		case i < 200:
			p = profiles[0]
		case i < 300:
			p = profiles[1]
		}
		a := newAgent(o, p, i, r)
		if count[p.Name] == nil {
			count[p.Name] = map[string]int{}
		}
		count[p.Name][a.Attrs["service.version"]]++
	}
	if got := count["pinned"]["0.1.0"]; got != 100 {
		t.Errorf("%d pinned agents kept their own version, want 100", got)
	}
	for name, n := range map[string]int{"a": 200, "default": 700} {
		got := count[name]["0.149.0"]
		if want := n * 7 / 10; got < want-2 || got > want+2 {
			t.Errorf("profile %s: %d of %d agents on 0.149.0, want %d±2 (%v)", name, got, n, want, count[name])
		}
	}
}
