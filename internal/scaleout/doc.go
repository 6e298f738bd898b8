// Package scaleout is the shape of Scry's scale-out topology on NATS
// JetStream, which scry-collector, scry-ingester and scry-query share:
//
//	scry-collector ──publish, await PubAck──► stream SCRY_SPANS_<p>, p = PartitionOf(trace ID)
//	scry-ingester  ◄── ordered consumer from the position its shard has applied
//	scry-query     ──► the owners of each partition, found in the KV bucket scry_owners
//
// The topology (how many partitions, the streams' replicas and limits) is
// fixed when a cluster is created (Init) and recorded in the KV bucket
// scry_topology; every later process reads it (Load) and refuses to run
// with a different one. A message is one compressed batch of spans of one
// partition and one tenant (Encode, Decode). An ingester says which
// partitions it owns, and whether it is ready for them, with a lease in
// scry_owners that it renews (Lease); a lease not renewed for the bucket's
// TTL disappears, and scry-query (Owners) stops asking that ingester.
//
// The replicated log is the only replicated thing and a JetStream KV
// compare-and-set the only lock: there is no election of our own.
package scaleout
