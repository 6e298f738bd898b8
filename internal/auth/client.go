package auth

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
)

// TokenFile is a bearer token read from a file, as a Kubernetes Secret
// mounts one: read again, at most every DefaultReloadInterval, when a
// request is about to be sent, so that a rotated token is used without a
// restart. Surrounding white space is ignored. Safe for concurrent use.
type TokenFile struct {
	path string

	mu      sync.Mutex
	token   string
	checked time.Time
}

// NewTokenFile reads the token in path; an empty file is an error.
func NewTokenFile(path string) (*TokenFile, error) {
	f := &TokenFile{path: path}
	tok, err := f.read()
	if err != nil {
		return nil, err
	}
	f.token, f.checked = tok, time.Now()
	return f, nil
}

func (f *TokenFile) read() (string, error) {
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("cannot read token file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", f.path)
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("token file %s holds more than one line", f.path)
	}
	return tok, nil
}

// Token returns the token, read again if the interval has passed; a file
// that cannot be read then keeps the token read before.
func (f *TokenFile) Token() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= DefaultReloadInterval {
		f.checked = now
		if tok, err := f.read(); err == nil {
			f.token = tok
		}
	}
	return f.token
}

// Authorization returns the Authorization header value, "Bearer <token>".
func (f *TokenFile) Authorization() string { return "Bearer " + f.Token() }

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (f *TokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": f.Authorization()}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. It
// says no, so that a token can go to a collector on loopback in plain
// text; ClientFlags refuses plain text to any other address.
func (f *TokenFile) RequireTransportSecurity() bool { return false }

// RoundTripper returns base (nil: http.DefaultTransport) sending the token
// with every request.
func (f *TokenFile) RoundTripper(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper{f: f, base: base}
}

type roundTripper struct {
	f    *TokenFile
	base http.RoundTripper
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", rt.f.Authorization())
	return rt.base.RoundTrip(r)
}

// ClientFlags are the credential a binary sends on one kind of connection,
// --<prefix>-auth-token-file, beside its --<prefix>-tls-* flags: to
// collectors ("collector"), to storage APIs ("storage"), to tracegen's
// endpoint ("endpoint").
type ClientFlags struct {
	Prefix    string
	TokenFile string
	// TLSHint says how to turn TLS on, in help and errors; default
	// "--<prefix>-tls-ca-file (or --<prefix>-tls-enabled)".
	TLSHint string
}

func (f *ClientFlags) tlsHint() string {
	if f.TLSHint != "" {
		return f.TLSHint
	}
	return "--" + f.Prefix + "-tls-ca-file (or --" + f.Prefix + "-tls-enabled)"
}

// Add registers the flag on fs; what names the servers in help.
func (f *ClientFlags) Add(fs *pflag.FlagSet, what string) {
	fs.StringVar(&f.TokenFile, f.Prefix+"-auth-token-file", "",
		"file holding the bearer token sent to "+what+", for their --auth-file; re-read when it changes; needs TLS ("+f.tlsHint()+") unless every address is loopback")
}

// Token reads the token file; nil without one. tlsOn says whether the
// connections speak TLS: without it, a token is refused unless every one
// of addrs (host:port) is loopback, since it would cross the network in
// plain text.
func (f *ClientFlags) Token(ctx context.Context, tlsOn bool, addrs []string, isLoopback func(context.Context, string) bool) (*TokenFile, error) {
	if f.TokenFile == "" {
		return nil, nil
	}
	if !tlsOn {
		for _, a := range addrs {
			if !isLoopback(ctx, a) {
				return nil, fmt.Errorf("--%s-auth-token-file would send the token in plain text to %s, which is not loopback: turn TLS on with %s", f.Prefix, a, f.tlsHint())
			}
		}
	}
	tf, err := NewTokenFile(f.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("invalid --%s-auth-token-file: %w", f.Prefix, err)
	}
	return tf, nil
}

// DialOption returns the gRPC option sending the token with every call;
// nil for a nil f.
func (f *TokenFile) DialOption() grpc.DialOption {
	if f == nil {
		return nil
	}
	return grpc.WithPerRPCCredentials(f)
}
