// Package storagepb is the generated Go code of the storage read API,
// storage.proto (package scry.storage.v1). The code is checked in; see
// ../README.md for how to regenerate it after changing storage.proto.
package storagepb

//go:generate go run gen.go
