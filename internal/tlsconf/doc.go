// Package tlsconf is Scry's TLS in one place: the server flags every binary
// registers (--tls-* for all its listeners, --<listener>-tls-* for one),
// the client flags of the binaries that dial (--collector-tls-*,
// --storage-tls-*, --endpoint-tls-*), the tls.Config of each, built so
// that certificates are re-read when their files change, and the policy
// on plain text: a plaintext listener on an address that is not loopback
// is logged and counted in scry_plaintext_listeners, and refused with
// --require-tls. ServerFlags also carry --auth-file: each Listener then
// has the internal/auth Guard of its scope (Listener.Auth), which
// grpcserver and httpserver put in front of every request; and the
// --http-cors-* flags: each Listener has the internal/browser Policy of
// what it is to browsers (Listener.Browser: CORS where browsers' scripts
// call, cross-origin protection, security headers, /debug/ only on the
// admin port), which httpserver puts in front of the guard.
//
// internal/grpcserver and internal/httpserver take a *Listener; a nil one
// is plain text with no policy, as in tests and library use.
package tlsconf
