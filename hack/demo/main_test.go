package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/ampora-io/ampora/api/v1alpha1"
	"github.com/ampora-io/ampora/opampserver/fleet"
	"github.com/ampora-io/ampora/test/fleetsim"
	"github.com/ampora-io/ampora/test/testenv"
)

// The demo applies the sample GatePolicies to its fleet at whatever time it runs: none of
// their push policies may deny a demo agent at any hour of the week, or `make demo` would
// stall on some days.
func TestNoPushPolicyDeniesTheDemoFleetAtAnyHour(t *testing.T) {
	o := fleetsim.Options{URLs: []string{"ws://demo"}, Agents: 200, Seed: fleetSeed}
	if err := o.SetProfiles(fleetProfiles); err != nil {
		t.Fatal(err)
	}
	versions, err := fleetsim.ParseShares(fleetVersions)
	if err != nil {
		t.Fatal(err)
	}
	o.Versions = versions
	f, err := fleetsim.Plan(o)
	if err != nil {
		t.Fatal(err)
	}
	var policies []fleetv1alpha1.PushPolicy
	for _, name := range []string{"fleet_v1alpha1_gatepolicy.yaml", "fleet_v1alpha1_gatepolicy_production.yaml"} {
		raw, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "samples", name))
		if err != nil {
			t.Fatal(err)
		}
		var gp fleetv1alpha1.GatePolicy
		if err := yaml.UnmarshalStrict(raw, &gp); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		policies = append(policies, gp.Spec.PushPolicies...)
	}
	if len(policies) == 0 {
		t.Fatal("the samples have no push policies: nothing to check")
	}

	// Every quarter hour of a week, in UTC: the policies' windows name their own zones.
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for at := monday; at.Before(monday.AddDate(0, 0, 7)); at = at.Add(15 * time.Minute) {
		for _, a := range f.Agents {
			if p := fleet.DeniedBy(policies, a.Attrs, at); p != "" {
				t.Fatalf("push policy %s denies demo agent %s (%v) at %s", p, a.UID, a.Attrs, at.Format(time.RFC1123))
			}
		}
	}

	// The freeze still freezes the agents that observe it: the check above can fail.
	frozen := map[string]string{"service.name": "otelcol-gateway", "deployment.environment": "production",
		"fleet.ampora.io/change-freeze": "friday"}
	fridayAfternoon := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	if p := fleet.DeniedBy(policies, frozen, fridayAfternoon); p != "friday-freeze" {
		t.Errorf("an agent that observes the freeze, on a Friday afternoon: denied by %q, want friday-freeze", p)
	}
}
