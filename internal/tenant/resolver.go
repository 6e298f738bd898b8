package tenant

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/scrytrace/scry/internal/auth"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/storage"
)

// Reason is why a request was refused, as in scry_tenant_refusals_total's
// reason label.
type Reason string

// Reasons.
const (
	Missing   Reason = "missing"   // no tenant: 401, UNAUTHENTICATED
	Malformed Reason = "malformed" // not a valid name, or two different ones: 400, INVALID_ARGUMENT
	Forbidden Reason = "forbidden" // not allowed here or for the credential: 403, PERMISSION_DENIED
)

// Refusal is a request refused, with what to tell the client.
type Refusal struct {
	Reason Reason
	Msg    string
}

func (r *Refusal) Error() string { return r.Msg }

// HTTPStatus returns the status code of r's answer.
func (r *Refusal) HTTPStatus() int {
	switch r.Reason {
	case Missing:
		return http.StatusUnauthorized
	case Malformed:
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

// Code returns the gRPC code of r's answer.
func (r *Refusal) Code() codes.Code {
	switch r.Reason {
	case Missing:
		return codes.Unauthenticated
	case Malformed:
		return codes.InvalidArgument
	}
	return codes.PermissionDenied
}

// Rules say which requests of a listener are not tenant-scoped.
type Rules struct {
	// Exempt, if set, says whether the request to route (HTTP path or
	// gRPC full method name) works for no tenant: the tenant headers are
	// not looked at and the request works for the default tenant, as the
	// sampling strategies and the web UI's files do.
	Exempt func(route string) bool
}

// Set makes the resolvers of a binary's listeners, which share the
// configuration and the refusal counter.
type Set struct {
	cfg     Config
	allow   map[string]bool // nil: any valid name
	refused *prometheus.CounterVec
	tel     telemetry.Settings
}

// NewSet validates cfg and registers scry_tenant_refusals_total on
// tel.Registerer.
func NewSet(cfg Config, tel telemetry.Settings) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid tenancy settings: %w", err)
	}
	tel = tel.Complete()
	s := &Set{cfg: cfg, tel: tel}
	if len(cfg.Tenants) > 0 {
		s.allow = make(map[string]bool, len(cfg.Tenants))
		for _, t := range cfg.Tenants {
			s.allow[t] = true
		}
	}
	s.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scry_tenant_refusals_total",
		Help: "Requests refused for their tenant, by listener and reason: missing (none given), malformed (an invalid name, or two different ones), forbidden (not allowed here or for the credential).",
	}, []string{"listener", "reason"})
	if err := tel.Registerer.Register(s.refused); err != nil {
		return nil, fmt.Errorf("cannot register tenancy metrics: %w", err)
	}
	if cfg.Enabled {
		tel.Logger.Info("multi-tenancy on: every write and read works for one tenant", "header", cfg.Header, "also", TempoHeader, "tenants", cfg.Tenants)
	}
	return s, nil
}

// Enabled reports whether tenancy is on; false for a nil s.
func (s *Set) Enabled() bool { return s != nil && s.cfg.Enabled }

// Edge returns the resolver of the tenant-facing listener called name
// (intake, query API), reading the tenant headers; nil (nothing changes)
// when tenancy is off or s is nil.
func (s *Set) Edge(name string, rules Rules) *Resolver {
	if !s.Enabled() {
		return nil
	}
	return s.resolver(name, rules, s.cfg.headers(), false)
}

// Relay returns the resolver of a storage read API, reading RelayKey,
// whatever the tenancy of the binary: scry-query decides the tenant of
// its reads. nil for a nil s.
func (s *Set) Relay(name string) *Resolver {
	if s == nil {
		return nil
	}
	return s.resolver(name, Rules{}, []string{RelayKey}, true)
}

func (s *Set) resolver(name string, rules Rules, headers []string, relay bool) *Resolver {
	r := &Resolver{set: s, listener: name, exempt: rules.Exempt, relay: relay,
		headers: headers, warn: telemetry.NewThrottle(s.tel, 10*time.Second)}
	for _, reason := range []Reason{Missing, Malformed, Forbidden} {
		s.refused.WithLabelValues(name, string(reason))
	}
	return r
}

// Resolver decides the tenant of one listener's requests. Its methods are
// safe for concurrent use; a nil *Resolver lets every request through
// unchanged, for the default tenant.
type Resolver struct {
	set      *Set
	listener string
	headers  []string // the configured one first; gRPC looks them up in lower case
	relay    bool
	exempt   func(string) bool
	warn     *telemetry.Throttle
}

// Resolve decides the tenant of a request whose tenant headers (or
// metadata) have the values values returns for each name, on a ctx that
// carries the request's identity (auth.FromContext) if it has one: the
// tenant, or a refusal. "" is the default tenant, which only a relay
// resolver answers.
func (r *Resolver) Resolve(ctx context.Context, values func(name string) []string) (string, *Refusal) {
	name, from, given := "", "", false
	for _, h := range r.headers {
		for _, v := range values(h) {
			switch {
			case !given:
				name, from, given = v, h, true
			case v == name:
			case h == from:
				return "", &Refusal{Malformed, fmt.Sprintf("the %s header is given more than once with different tenants", h)}
			default:
				return "", &Refusal{Malformed, fmt.Sprintf("the %s and %s headers name different tenants", from, h)}
			}
		}
	}
	if given {
		if err := storage.ValidateTenant(name); err != nil {
			return "", &Refusal{Malformed, fmt.Sprintf("invalid tenant in the %s header: %v", from, err)}
		}
	}
	if id, ok := auth.FromContext(ctx); ok && !slices.Contains(id.Tenants, auth.AnyTenant) {
		switch {
		case given && !id.AllowsTenant(name):
			return "", &Refusal{Forbidden, fmt.Sprintf("%s may not use tenant %q", id, name)}
		case !given && len(id.Tenants) == 1:
			name, given = id.Tenants[0], true
			if err := storage.ValidateTenant(name); err != nil {
				return "", &Refusal{Forbidden, fmt.Sprintf("%s is bound to a tenant that is not a valid name (%v): fix the auth file", id, err)}
			}
		case !given:
			return "", &Refusal{Missing, fmt.Sprintf("%s may use several tenants: say which in the %s header", id, r.headers[0])}
		}
	}
	if !given {
		if r.relay {
			return "", nil
		}
		return "", &Refusal{Missing, fmt.Sprintf("a tenant is required: send the %s header (or %s) with the tenant's name", r.headers[0], TempoHeader)}
	}
	if r.set.allow != nil && !r.set.allow[name] {
		return "", &Refusal{Forbidden, fmt.Sprintf("tenant %q is not one of those this server accepts (--multi-tenancy.tenants)", name)}
	}
	return name, nil
}

// refuse counts and logs ref. No tenant name is in the log line: a valid
// one is in the answer, an invalid one could be anything.
func (r *Resolver) refuse(ref *Refusal, route, remote string) {
	r.set.refused.WithLabelValues(r.listener, string(ref.Reason)).Inc()
	r.warn.Warn("request refused: "+string(ref.Reason)+" tenant", "listener", r.listener, "route", route, "remote", remote)
}

// Wrap returns h behind the resolver: a request is served with its tenant
// on its context (storage.WithTenant), or refused in plain text with 401,
// 400 or 403. Put it behind the auth guard, which puts the identity on the
// context. A nil r returns h.
func (r *Resolver) Wrap(h http.Handler) http.Handler {
	if r == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.exempt != nil && r.exempt(req.URL.Path) {
			h.ServeHTTP(w, req)
			return
		}
		t, ref := r.Resolve(req.Context(), req.Header.Values)
		if ref != nil {
			r.refuse(ref, req.URL.Path, req.RemoteAddr)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, ref.Msg, ref.HTTPStatus())
			return
		}
		h.ServeHTTP(w, req.WithContext(storage.WithTenant(req.Context(), t)))
	})
}

// grpcResolve decides the tenant of a gRPC call to method.
func (r *Resolver) grpcResolve(ctx context.Context, method string) (context.Context, error) {
	if r.exempt != nil && r.exempt(method) {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	t, ref := r.Resolve(ctx, func(name string) []string { return md.Get(name) })
	if ref != nil {
		remote := ""
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			remote = p.Addr.String()
		}
		r.refuse(ref, method, remote)
		return nil, status.Error(ref.Code(), ref.Msg)
	}
	return storage.WithTenant(ctx, t), nil
}

// ServerOptions returns the gRPC server options that resolve the tenant
// of every unary and streaming call; give them after the auth guard's.
// None for a nil r.
func (r *Resolver) ServerOptions() []grpc.ServerOption {
	if r == nil {
		return nil
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := r.grpcResolve(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := r.grpcResolve(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &tenantStream{ServerStream: ss, ctx: ctx})
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}
}

type tenantStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *tenantStream) Context() context.Context { return s.ctx }

// OutgoingContext returns ctx with its tenant (storage.TenantFrom) in the
// outgoing gRPC metadata under RelayKey, for a storage API to read; ctx
// itself for the default tenant.
func OutgoingContext(ctx context.Context) context.Context {
	if t := storage.TenantFrom(ctx); t != "" {
		return metadata.AppendToOutgoingContext(ctx, RelayKey, t)
	}
	return ctx
}

// DialOptions returns the gRPC dial options that send the tenant of every
// call's context under RelayKey (OutgoingContext).
func DialOptions() []grpc.DialOption {
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(OutgoingContext(ctx), method, req, reply, cc, opts...)
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(OutgoingContext(ctx), desc, cc, method, opts...)
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream)}
}
