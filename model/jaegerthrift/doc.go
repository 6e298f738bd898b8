// Package jaegerthrift converts Jaeger's Thrift wire format to the model: the
// Batch that Jaeger clients send to an agent over UDP (Agent.emitBatch, in
// the compact or binary protocol) and to a collector over HTTP (a Batch in
// the binary protocol).
//
// It is a package of its own so that only the binaries that take Jaeger
// Thrift link Apache Thrift and Jaeger's generated code. Decoding is bounded
// by the input: no size a packet declares is allocated before it is checked
// against the bytes actually there.
//
// A typical intake decodes, then converts:
//
//	batch, err := jaegerthrift.DecodeEmitBatch(packet, true)
//	if err != nil {
//		// count and drop the packet
//	}
//	spans, rejected := jaegerthrift.SpansFromBatch(batch)
package jaegerthrift
