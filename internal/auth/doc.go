// Package auth decides who may write and read: it loads the --auth-file
// (bearer tokens stored as SHA-256, users with bcrypt passwords for basic
// auth, and mutual-TLS certificate subjects, each with its tenants and
// scopes), re-reads it when it changes, and checks every request of a
// listener against it through a Guard: an HTTP middleware and gRPC unary
// and stream interceptors. A request without a valid credential is
// refused as unauthenticated (HTTP 401 with WWW-Authenticate, gRPC
// UNAUTHENTICATED), one whose credential lacks the listener's scope as
// forbidden (403, PERMISSION_DENIED); both are counted in
// scry_auth_failures_total{listener,reason}. The identity of an accepted
// request, with its tenants, is on the request's context (FromContext).
//
// It also holds the client side: a token file whose content is sent as a
// bearer token to collectors (ClientFlags).
//
// No answer, log line or metric label of this package carries a secret:
// neither a token, a password, nor a hash of either.
//
// A nil *Authenticator and a nil *Guard require nothing: with no auth
// file every request is let through, as before authentication existed.
package auth
