// Package jaegerudp takes Jaeger Thrift over UDP, as Jaeger's agent did:
// Agent.emitBatch packets in Thrift's compact protocol (default
// 127.0.0.1:6831) and binary protocol (default 127.0.0.1:6832), the way
// jaeger-client-go and the other Jaeger clients send spans. scry-agent and
// the collectors (scry, scry-collector) both use it; it links no storage.
//
//	socket ─► reader ─► queue (bounded in bytes) ─► workers: decode ─► Sink
//
// A reader per socket only copies each packet off the socket into a queue
// bounded in bytes (Config.QueueBytes): it never waits for anything but the
// socket, so a slow consumer cannot make the kernel drop packets unseen.
// Config.Workers goroutines decode the packets (model/jaegerthrift, whose
// allocations are bounded by the packet's size) and hand the valid spans of
// each to the Sink, which must not block either. UDP has no answer: what
// cannot be taken is dropped, and counted.
//
// Metrics, named with Config.MetricPrefix (scry_receiver by default,
// scry_agent in the agent):
//
//	<prefix>_udp_packets_received_total{transport}         packets read
//	<prefix>_udp_packets_dropped_total{transport,reason}   packets dropped
//
// where transport is udp_compact or udp_binary and reason one of malformed
// (not an emitBatch call, truncated, declaring sizes it does not hold),
// oversized (over MaxPacketBytes), queue_full (the workers are behind),
// buffer_full (the Sink refused the spans) or shutdown (still queued when
// Shutdown's context ended). Spans with an all-zero trace or span ID are
// set aside and handed to the Sink beside the valid ones; the Sink counts
// spans (the collectors' ConsumerSink with collector.Metrics).
//
// ConsumerSink is the Sink of the collectors: it hands each packet's spans
// to a collector.Consumer (the queue, which returns once they are
// committed) in a goroutine of its own, at most a fixed number at once, so
// the workers never wait for a commit.
//
// Lifecycle: New validates the Config and registers the metrics; Start binds
// the addresses that are set (an empty one turns that listener off) and
// starts the readers and workers; Shutdown closes the sockets and waits for
// the workers to hand on what was queued. Shutdown is safe to call more than
// once, and before Start.
package jaegerudp
