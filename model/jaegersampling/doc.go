// Package jaegersampling is Jaeger's remote sampling strategy response
// (jaeger.api_v2.SamplingStrategyResponse) as JSON: what the collector
// serves at /api/sampling and the agent at /sampling and /, and what the
// agent parses from the collector. It is pure data with its encoding, with
// no I/O, so that the collector and the agent share one definition without
// linking each other.
//
// Encoded with encoding/json, a Response is byte for byte the JSON Jaeger
// writes (its SamplingStrategyResponseToJSON, protobuf JSON with defaults
// emitted): fields in proto order, strategyType always present as a name
// ("PROBABILISTIC", "RATE_LIMITING"), the absent sub-strategies left out,
// and every field of operationSampling present. LegacyJSON writes the form
// for clients built on Thrift 0.9.2, whose enums do not take names:
// strategyType as its number (0, 1). Parse reads either form.
package jaegersampling
