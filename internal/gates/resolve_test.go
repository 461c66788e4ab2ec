package gates

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ampora-io/ampora/api/v1alpha1"
)

func policy(name string, g v1alpha1.GateThresholds) *v1alpha1.GatePolicy {
	return &v1alpha1.GatePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.GatePolicySpec{Gates: g},
	}
}

func TestDefaults(t *testing.T) {
	d := Defaults()
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Defaults().%s = %v, want %v", name, got, want)
		}
	}
	check("MaxFailurePercent", *d.MaxFailurePercent, int32(10))
	check("MaxDisconnectPercent", *d.MaxDisconnectPercent, int32(20))
	check("MaxUnhealthyPercent", *d.MaxUnhealthyPercent, int32(10))
	check("MaxApplyDurationP95", d.MaxApplyDurationP95.Duration, 10*time.Minute)
	check("MaxFailures", d.MaxFailures, (*int32)(nil))
	check("MinSampleSize", *d.MinSampleSize, int32(1))
	check("BakeTime", d.BakeTime.Duration, time.Duration(0))
	check("ProgressDeadline", d.ProgressDeadline.Duration, 10*time.Minute)
	check("OnFailure", d.OnFailure, v1alpha1.GateFailurePause)

	*Defaults().MaxFailurePercent = 99
	if *Defaults().MaxFailurePercent != 10 {
		t.Error("Defaults shares pointers between calls")
	}
}

func TestResolve(t *testing.T) {
	pct := func(p int32) v1alpha1.GateThresholds { return v1alpha1.GateThresholds{MaxFailurePercent: new(p)} }
	tests := []struct {
		name              string
		rollout           *v1alpha1.GateThresholds
		policy, nsDefault *v1alpha1.GatePolicy
		wantPercent       int32
		wantPolicy        string
	}{
		{"rollout wins", new(pct(1)), policy("strict", pct(2)), policy("default", pct(3)), 1, "strict"},
		{"named policy wins", &v1alpha1.GateThresholds{}, policy("strict", pct(2)), policy("default", pct(3)), 2, "strict"},
		{"namespace default wins", nil, policy("strict", v1alpha1.GateThresholds{}), policy("default", pct(3)), 3, "strict"},
		{"namespace default without a named policy", nil, nil, policy("default", pct(3)), 3, "default"},
		{"operator wins", nil, policy("strict", v1alpha1.GateThresholds{}), nil, 10, "strict"},
		{"operator only", nil, nil, nil, 10, ""},
		{"rollout over operator", new(pct(0)), nil, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Resolve(tt.rollout, tt.policy, tt.nsDefault, Defaults())
			if *got.MaxFailurePercent != tt.wantPercent {
				t.Errorf("MaxFailurePercent = %d, want %d", *got.MaxFailurePercent, tt.wantPercent)
			}
			if got.Policy != tt.wantPolicy {
				t.Errorf("Policy = %q, want %q", got.Policy, tt.wantPolicy)
			}
		})
	}
}

func TestResolveMixesLevels(t *testing.T) {
	rollout := &v1alpha1.GateThresholds{MaxDisconnectPercent: new(int32(5))}
	named := policy("strict", v1alpha1.GateThresholds{
		MaxDisconnectPercent: new(int32(50)),
		MaxFailures:          new(int32(3)),
		OnFailure:            v1alpha1.GateFailureRollback,
	})
	nsDefault := policy("default", v1alpha1.GateThresholds{
		MaxFailures:      new(int32(30)),
		BakeTime:         &metav1.Duration{Duration: 5 * time.Minute},
		ProgressDeadline: &metav1.Duration{Duration: time.Hour},
	})
	got := Resolve(rollout, named, nsDefault, Defaults())

	want := Defaults()
	want.MaxDisconnectPercent = new(int32(5))
	want.MaxFailures = new(int32(3))
	want.OnFailure = v1alpha1.GateFailureRollback
	want.BakeTime = &metav1.Duration{Duration: 5 * time.Minute}
	want.ProgressDeadline = &metav1.Duration{Duration: time.Hour}
	if !reflect.DeepEqual(got, v1alpha1.EffectiveGates{GateThresholds: want, Policy: "strict"}) {
		t.Errorf("Resolve =\n  %+v\nwant\n  %+v", got, want)
	}
}

// TestResolveEveryField sets each field at one level only and checks that it comes through,
// so that a field added to GateThresholds cannot be forgotten by Resolve.
func TestResolveEveryField(t *testing.T) {
	fields := reflect.TypeFor[v1alpha1.GateThresholds]().NumField()
	for f := range fields {
		for level := range 4 {
			var ts [4]v1alpha1.GateThresholds
			setField(t, &ts[level], f, level)
			got := Resolve(&ts[0], policy("p", ts[1]), policy("default", ts[2]), ts[3])

			var want v1alpha1.GateThresholds
			setField(t, &want, f, level)
			if !reflect.DeepEqual(got.GateThresholds, want) {
				name := reflect.TypeFor[v1alpha1.GateThresholds]().Field(f).Name
				t.Errorf("%s set at level %d: got %+v", name, level, got.GateThresholds)
			}
		}
	}
}

// setField gives field f a value that tells the levels apart.
func setField(t *testing.T, g *v1alpha1.GateThresholds, f, level int) {
	t.Helper()
	v := reflect.ValueOf(g).Elem().Field(f)
	switch p := v.Addr().Interface().(type) {
	case **int32:
		*p = new(int32(level + 1))
	case **metav1.Duration:
		*p = &metav1.Duration{Duration: time.Duration(level+1) * time.Second}
	case *v1alpha1.GateFailureAction:
		*p = v1alpha1.GateFailureAction(fmt.Sprint("level", level))
	default:
		t.Fatalf("no test value for field %s of type %s", reflect.TypeFor[v1alpha1.GateThresholds]().Field(f).Name, v.Type())
	}
}

func TestResolveDoesNotAlias(t *testing.T) {
	rollout := &v1alpha1.GateThresholds{MaxFailurePercent: new(int32(1))}
	operator := Defaults()
	got := Resolve(rollout, nil, nil, operator)
	*rollout.MaxFailurePercent = 50
	operator.MaxApplyDurationP95.Duration = time.Second
	if *got.MaxFailurePercent != 1 || got.MaxApplyDurationP95.Duration != 10*time.Minute {
		t.Errorf("Resolve result changed with its inputs: %+v", got)
	}
}
