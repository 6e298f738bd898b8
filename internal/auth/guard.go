package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/telemetry"
)

// Rules say what a listener's requests need: Default for every route but
// those in Routes, keyed by HTTP path or gRPC full method name
// ("/package.Service/Method"). A request needs one of the scopes listed;
// an empty list (in Routes) means open to all, as the kubelet's probes
// need /healthz and /readyz.
type Rules struct {
	Default []Scope
	Routes  map[string][]Scope
}

// Need returns the scopes route needs, any one of them; none: open.
func (r Rules) Need(route string) []Scope {
	if s, ok := r.Routes[route]; ok {
		return s
	}
	return r.Default
}

// Guard checks the requests of one listener against the Authenticator.
// A nil *Guard lets everything through.
type Guard struct {
	a        *Authenticator
	listener string
	rules    Rules
	warn     *telemetry.Throttle
}

// Guard returns the guard of the listener called name (as in
// scry_auth_failures_total's listener label) applying rules; nil when a is
// nil.
func (a *Authenticator) Guard(name string, rules Rules) *Guard {
	if a == nil {
		return nil
	}
	return &Guard{a: a, listener: name, rules: rules,
		warn: telemetry.NewThrottle(telemetry.Settings{Logger: a.logger, Clock: a.clock}, 10*time.Second)}
}

// refusal is why a request is refused, with what to tell the client.
type refusal struct {
	reason Reason
	msg    string
}

// check decides a request to route with credentials c: the identity (nil
// for an open route) or a refusal.
func (g *Guard) check(route string, c Credentials, remote string) (*Identity, *refusal) {
	need := g.rules.Need(route)
	if len(need) == 0 {
		return nil, nil // open to all: no credential is looked at
	}
	id, reason := g.a.Authenticate(c)
	var r *refusal
	switch {
	case reason == Missing:
		r = &refusal{Missing, "authentication required: send Authorization: Bearer <token>, or basic auth (user and password), or a client certificate the auth file names"}
	case reason == Busy:
		r = &refusal{Busy, "too many password checks under way; retry in a second"}
	case reason == Bad:
		r = &refusal{Bad, "the credential was not accepted"}
	case !slices.ContainsFunc(need, id.Has):
		r = &refusal{Forbidden, fmt.Sprintf("%s has no scope %s, which the %s listener needs here", id, joinScopes(need), g.listener)}
	default:
		return id, nil
	}
	g.a.failed(g.listener, r.reason)
	args := []any{"listener", g.listener, "route", route, "remote", remote}
	if r.reason == Forbidden {
		args = append(args, "identity", id.String())
	}
	g.warn.Warn("request refused: "+string(r.reason)+" credential", args...)
	return nil, r
}

func joinScopes(s []Scope) string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return strings.Join(out, " or ")
}

// Wrap returns h behind the guard: a request is served only with a
// credential that has the scope its path needs, with its identity on the
// request's context. A refused request is answered 401 (with
// WWW-Authenticate, so that a browser asks for a user and password) or
// 403, in plain text. A nil g returns h.
func (g *Guard) Wrap(h http.Handler) http.Handler {
	if g == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := Credentials{Authorization: r.Header.Get("Authorization"), Header: r.Header.Get}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			c.Remote = ap.Addr()
		}
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			c.Cert = r.TLS.VerifiedChains[0][0]
		}
		id, ref := g.check(r.URL.Path, c, r.RemoteAddr)
		if ref != nil && ref.reason == Busy {
			w.Header().Set("Retry-After", "1")
			http.Error(w, ref.msg, http.StatusServiceUnavailable)
			return
		}
		if ref != nil {
			code := http.StatusForbidden
			if ref.reason != Forbidden {
				code = http.StatusUnauthorized
				w.Header().Add("WWW-Authenticate", `Basic realm="scry", charset="UTF-8"`)
				w.Header().Add("WWW-Authenticate", `Bearer realm="scry"`)
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, ref.msg, code)
			return
		}
		if id != nil {
			r = r.WithContext(NewContext(r.Context(), id))
		}
		h.ServeHTTP(w, r)
	})
}

// grpcCheck decides a gRPC call to method.
func (g *Guard) grpcCheck(ctx context.Context, method string) (context.Context, error) {
	var c Credentials
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			c.Authorization = v[0]
		}
		c.Header = func(name string) string {
			if v := md.Get(name); len(v) > 0 {
				return v[0]
			}
			return ""
		}
	}
	remote := ""
	if p, ok := peer.FromContext(ctx); ok {
		if p.Addr != nil {
			remote = p.Addr.String()
			if ap, err := netip.ParseAddrPort(remote); err == nil {
				c.Remote = ap.Addr()
			}
		}
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			c.Cert = verifiedLeaf(info.State.VerifiedChains)
		}
	}
	id, ref := g.check(method, c, remote)
	if ref != nil {
		code := codes.PermissionDenied
		switch ref.reason {
		case Busy:
			code = codes.Unavailable
		case Forbidden:
		default:
			code = codes.Unauthenticated
		}
		return nil, status.Error(code, ref.msg)
	}
	if id != nil {
		ctx = NewContext(ctx, id)
	}
	return ctx, nil
}

func verifiedLeaf(chains [][]*x509.Certificate) *x509.Certificate {
	if len(chains) > 0 && len(chains[0]) > 0 {
		return chains[0][0]
	}
	return nil
}

// ServerOptions returns the gRPC server options that put the guard in
// front of every unary and streaming call; none for a nil g.
func (g *Guard) ServerOptions() []grpc.ServerOption {
	if g == nil {
		return nil
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := g.grpcCheck(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := g.grpcCheck(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &identityStream{ServerStream: ss, ctx: ctx})
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity a request was accepted as, with the
// tenants it may use; false when no auth file is in force or the route is
// open to all.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok && id != nil
}
