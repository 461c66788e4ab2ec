// Package fleet holds what the OpAMP sidecar knows of its agents and the pure decisions it
// takes on them, with no network and no API server in the way:
//
//   - the registry of agent records, bound to the enrollment grants they came with
//     (registry.go, grant.go);
//   - the one decode step from an AgentToServer message to a bounded, interned Report, and
//     Agent.Apply, which copies a Report into a record (report.go);
//   - what each agent's reports verify it to be, for a desired config (agentstate.go: Verify);
//   - the namespaces' views of groups, rollouts and push policies, rebuilt from the informers
//     (world.go);
//   - what an agent should run and whether to send it now (dispatch.go: NSView.Target,
//     ShouldSend, DeniedBy, InAnyWindow, Incompatible).
//
// The sidecar (package opampserver) feeds the registry from its sessions, package replica
// reports from it;
// tests drive the decisions directly (fleettest holds their fixtures).
package fleet
