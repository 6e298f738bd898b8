// Package sampling serves remote sampling strategies to Jaeger clients and
// OpenTelemetry's Jaeger remote sampler
// (go.opentelemetry.io/contrib/samplers/jaegerremote), as Jaeger's
// collector does at GET /api/sampling?service=<name> on its HTTP port.
//
// Strategies come from a JSON file in the format of Jaeger's
// --sampling.strategies-file: a strategy per service (probabilistic or rate
// limiting, optionally with probabilities per operation) and a default for
// the others. Without a file every service samples probabilistically with
// jaegersampling.DefaultSamplingProbability (0.001), as with Jaeger.
// README.md describes the file and the answer; the answer's type, shared
// with the agent, is model/jaegersampling's Response.
//
// Lifecycle: New loads the file (a file that cannot be read or parsed is an
// error, so a binary does not start with it); Start polls it every
// Config.ReloadInterval and, when its content changed, replaces the
// strategies; a file that has become unreadable or invalid keeps the
// strategies in force and is logged and counted
// (scry_sampling_strategies_reloads_total{result="error"}). Shutdown stops
// polling and is safe to call twice. Handler serves the endpoint; the
// collector mounts it on the Jaeger HTTP port (collector/jaegerhttp).
package sampling
