// Package agent is Scry's sidecar: it takes spans from applications and
// forwards them to collectors.
//
//	Jaeger Thrift, UDP 6831 (compact) / 6832 (binary) ─► readers ─► decoders ─┐
//	OTLP gRPC 4317, OTLP HTTP 4318 ─► (spool, fsync) ─────────────────────────┤
//	                                                                          ▼
//	             buffer (bounded in bytes) ─► batches ─► forwarders ─► collectors (OTLP/gRPC)
//
// Intake. The UDP intake is collector/jaegerudp's server, which the
// collectors use too: a UDP reader only copies each packet off the socket
// into a queue bounded in bytes; decoder goroutines turn packets into spans
// (model/jaegerthrift) and put them in the buffer. A bad packet (malformed,
// truncated, over 65000 bytes, declaring sizes it does not hold) is counted
// in scry_agent_udp_packets_dropped_total{transport,reason} and dropped;
// UDP spans that find the buffer full are counted in
// scry_agent_spans_dropped_total{reason="buffer_full"}. OTLP exports come
// through the collector's own receivers (collector/otlpgrpc,
// collector/otlphttp) with the agent as their collector.Consumer: an export
// is acknowledged once its spans are in the buffer, and first in the spool
// when there is one; a full buffer answers collector.ErrQueueFull, which the
// receivers send as UNAVAILABLE with RetryInfo or 503 with Retry-After, so
// the sender keeps its spans and retries.
//
// Buffer and batches. The buffer holds spans until a collector acknowledged
// them, bounded by their estimated memory (Config.BufferBytes). Each
// tenant's spans are cut into batches in arrival order: a batch goes when it
// has Config.BatchSpans spans or its oldest span has waited
// Config.BatchTimeout.
//
// Forwarding. Config.Forwarders goroutines each send one batch at a time
// (model.SpansToOTLP), to the collector addresses in turn (round robin over
// the healthy ones; DNS names are resolved again every
// Config.ResolveInterval). A retryable failure (UNAVAILABLE, DEADLINE_EXCEEDED,
// RESOURCE_EXHAUSTED with RetryInfo, ... as OTLP specifies) marks the address
// as failing for an exponential backoff with jitter, or the RetryInfo delay
// when longer, and the batch goes to another address at once, or to the
// first to recover. RESOURCE_EXHAUSTED without RetryInfo splits the batch in
// two; any other error drops the batch, counted with reason "rejected", as
// are the spans a collector reports rejected in a partial success.
//
// Spool. With Config.SpoolDir, the spans of each acknowledged OTLP export
// are written to an append-only spool (package spool, format in SPOOL.md)
// before the answer, and the record is released once every span of it is
// forwarded. At shutdown, what the buffer still holds that is not in the
// spool (UDP spans) is written there too. At start, records left by an
// earlier run are read back into the buffer, waiting for room. Delivery is at
// least once: the collector's writes are idempotent, so a span sent twice is
// stored once.
//
// Tenants. Every span held belongs to one tenant or to none: an OTLP
// export's is named by its Config.TenantHeader (x-tenant) or X-Scope-OrgID
// header, checked with storage.ValidateTenant (malformed: refused as
// invalid, HTTP 400 / INVALID_ARGUMENT); without one it is Config.Tenant,
// as is every UDP span's; a credential of the auth file bound to tenants
// decides instead (a header naming another tenant is refused). The buffer keeps a queue per tenant, so a batch
// holds one tenant's spans, and sends it with the tenant in the
// Config.TenantHeader metadata (spans of no tenant go without it). Spool
// records keep their tenant (SPOOL.md, format 2).
//
// Sampling. Config.SamplingAddr serves Jaeger's remote sampling endpoint
// (package sampling), proxied from the collector and cached per service.
//
// Lifecycle. New validates the Config and builds the parts; Start opens the
// spool, resolves the collectors and binds every listener; Shutdown stops
// intake, forwards what is held until the context's deadline (less a
// moment kept to spool the rest), spools or drops (counted, reason
// "shutdown") what is left, and is safe to call twice. The agent keeps no
// package-level state: logger and metrics registry are passed to New.
package agent
