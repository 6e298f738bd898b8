// Package sampling is the agent's remote sampling endpoint: it serves the
// sampling strategies that Jaeger clients and OpenTelemetry's jaegerremote
// sampler poll (GET /sampling?service=NAME, and GET /?service=NAME for old
// clients), fetching each from the collector and caching the last one per
// service, so that applications keep their strategy while the collector is
// away. A service for which nothing was ever fetched gets Jaeger's default:
// probabilistic, rate 0.001.
//
// The answer is the JSON that Jaeger's agent serves, model/jaegersampling's
// Response, the type the collector serves too: on /sampling the collector's
// answer byte for byte, with the strategy type as a name ("PROBABILISTIC",
// "RATE_LIMITING"); on / the same with the type as a number (0, 1), as
// Thrift 0.9.2 clients expect. Only the fields of Jaeger's
// SamplingStrategyResponse are passed on, since some clients reject fields
// they do not know.
package sampling
