// Package remote is the storage read API over gRPC: a Server that serves any
// storage.Reader, and a Client that is a storage.Reader over one or more
// servers.
//
// Badger allows one process per data directory, so a collector owns its
// store and serves reads from it with a Server; scry-query reads through a
// Client. The Client takes several endpoints, and a DNS name that resolves
// to several addresses (a Kubernetes headless Service) stands for all of
// them, re-resolved periodically. It asks every address and merges the
// answers, so a trace whose spans went to different collectors comes back
// whole; when some addresses fail it answers from the others and says so
// with storage.Warn.
//
// The service is defined in proto/storage.proto (package scry.storage.v1);
// spans travel as OTLP, with Scry's per-span warnings beside them. README.md
// says how to regenerate the Go code after changing it.
package remote
