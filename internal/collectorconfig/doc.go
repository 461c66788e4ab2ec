// Package collectorconfig reads OpenTelemetry Collector configs the way the
// collector does at startup, so that a config that would not start never
// reaches an agent, and compares configs so that a rollout can say what it
// changes.
//
// Parse decodes the YAML and checks its shape (sections, IDs, lists); Check
// checks that the parts fit together (pipelines, connectors, extensions);
// Validate does both. Messages name the pipeline and the component
// concerned, as in `pipeline "traces": exporter "otlp/backend" is not
// defined`. UsedTypes lists the component types an agent must offer, Hash
// gives the hash agents report, and Compare gives a semantic Diff.
//
// Parse refuses configs larger than MaxBytes and bounds what aliases may
// expand to, so that hostile input costs bounded memory and time.
package collectorconfig
