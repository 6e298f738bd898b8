// Package spool is the agent's on-disk spool: an append-only log of records
// in segment files, each record removed (with its segment) once the agent no
// longer needs it. The agent writes the spans of every OTLP export it
// acknowledges here before answering, so that they survive a restart, and
// on shutdown the spans it could not forward.
//
// A record is opaque bytes to the spool (the agent stores OTLP TracesData).
// Append returns once the record is on disk (fsync; concurrent appends share
// one fsync). Release says a record is no longer needed; a segment file is
// deleted once every record in it is released and no more records go to it.
// Segments found when the spool is opened are read back with Replay, oldest
// first. Delivery is at least once: a record whose release was not yet
// recorded on disk when the process stopped is replayed again.
//
// SPOOL.md in the parent folder describes the file format.
package spool
