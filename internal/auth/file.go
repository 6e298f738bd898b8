package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"
)

// Scope is what a credential may do.
type Scope string

// The scopes, as the auth file spells them.
const (
	// Write is intake: OTLP, Jaeger, Zipkin (and reading sampling
	// strategies, which SDKs fetch with the credentials they write with).
	Write Scope = "write"
	// Read is the query API and UI, and the storage read API between
	// scry-query and collectors.
	Read Scope = "read"
	// Admin is the admin port: metrics and profiles.
	Admin Scope = "admin"
)

var scopes = []Scope{Write, Read, Admin}

// AnyTenant in an entry's tenants means every tenant.
const AnyTenant = "*"

// File is the auth file as written: YAML (or JSON) with these keys.
type File struct {
	// Tokens are bearer tokens (Authorization: Bearer <token>).
	Tokens []TokenEntry `json:"tokens"`
	// Users are people and tools that send basic auth.
	Users []UserEntry `json:"users"`
	// Certs are client certificates (of a listener with mutual TLS).
	Certs []CertEntry `json:"certs"`
	// Proxies are reverse proxies that authenticate people themselves
	// (oauth2-proxy, Pomerium, an ingress with OIDC) and name the user in a
	// header.
	Proxies []ProxyEntry `json:"proxies"`
}

// ProxyEntry is a reverse proxy trusted to name the user of a request in
// UserHeader. It is known by its client certificate (Subject, as in
// CertEntry; the listener needs mutual TLS) or by the addresses it
// connects from (CIDRs, e.g. 127.0.0.1/32 for a sidecar); a request from
// anywhere else that carries the header is not believed. Every user it
// names gets its tenants and scopes.
type ProxyEntry struct {
	// Name names the proxy in logs and answers; default "proxies[<i>]".
	Name       string   `json:"name"`
	Subject    string   `json:"subject"`
	CIDRs      []string `json:"cidrs"`
	UserHeader string   `json:"user_header"`
	Tenants    []string `json:"tenants"`
	Scopes     []Scope  `json:"scopes"`
}

// TokenEntry is a bearer token, stored as its hex SHA-256.
type TokenEntry struct {
	// Name names the token in logs and answers; default "tokens[<i>]".
	Name    string   `json:"name"`
	SHA256  string   `json:"sha256"`
	Tenants []string `json:"tenants"`
	Scopes  []Scope  `json:"scopes"`
}

// UserEntry is a user with a bcrypt hash of their password.
type UserEntry struct {
	Name    string   `json:"name"`
	Bcrypt  string   `json:"bcrypt"`
	Tenants []string `json:"tenants"`
	Scopes  []Scope  `json:"scopes"`
}

// CertEntry is the subject of a client certificate: "CN=<common name>",
// a DNS name or URI among its subject alternative names ("DNS:" and "URI:"
// prefixes are optional), or a whole distinguished name as Go prints it
// ("CN=checkout,O=Acme").
type CertEntry struct {
	Subject string   `json:"subject"`
	Tenants []string `json:"tenants"`
	Scopes  []Scope  `json:"scopes"`
}

// Identity is who a request was accepted as.
type Identity struct {
	// Kind is "token", "user", "cert" or, for a user a proxy named,
	// "proxy user".
	Kind string
	// Name is the token's name, the user's name or the certificate
	// subject of the entry, or the user a proxy named: never a secret.
	Name string
	// Tenants are the tenants the credential may use; AnyTenant: all.
	Tenants []string
	// Scopes are what it may do.
	Scopes []Scope
}

// Has reports whether the identity has scope s.
func (id *Identity) Has(s Scope) bool { return id != nil && slices.Contains(id.Scopes, s) }

// AllowsTenant reports whether the identity may use tenant t.
func (id *Identity) AllowsTenant(t string) bool {
	return id != nil && (slices.Contains(id.Tenants, AnyTenant) || slices.Contains(id.Tenants, t))
}

// String returns kind and name, e.g. `user "alice"`, for answers and logs.
func (id *Identity) String() string { return fmt.Sprintf("%s %q", id.Kind, id.Name) }

// compiled is a parsed, validated auth file.
type compiled struct {
	tokens  []token
	users   map[string]*user
	certs   []cert
	proxies []proxy
}

type proxy struct {
	name   string
	match  func(c *certInfo) bool // nil: not known by a certificate
	nets   []netip.Prefix
	header string // canonical
	id     *Identity
}

// trusts reports whether p is the proxy a request came through.
func (p *proxy) trusts(ci *certInfo, remote netip.Addr) bool {
	if p.match != nil && ci != nil && p.match(ci) {
		return true
	}
	if remote.IsValid() {
		remote = remote.Unmap()
		for _, n := range p.nets {
			if n.Contains(remote) {
				return true
			}
		}
	}
	return false
}

type token struct {
	hash [32]byte
	id   *Identity
}

type user struct {
	hash []byte
	id   *Identity
}

type cert struct {
	match func(c *certInfo) bool
	id    *Identity
}

// parse reads and validates an auth file's content. An error names every
// entry that is wrong (tokens by index or name, users and certs by name
// and subject) and never quotes a hash.
func parse(raw []byte) (*compiled, error) {
	var f File
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return nil, fmt.Errorf("cannot parse: %w", err)
	}
	if len(f.Tokens)+len(f.Users)+len(f.Certs)+len(f.Proxies) == 0 {
		return nil, errors.New("holds no tokens, users, certs or proxies: nothing could be let in (remove --auth-file to require no credential)")
	}
	c := &compiled{users: map[string]*user{}}
	var errs []error
	seenHash := map[[32]byte]string{}
	for i, e := range f.Tokens {
		name := e.Name
		if name == "" {
			name = fmt.Sprintf("tokens[%d]", i)
		}
		where := fmt.Sprintf("tokens[%d]", i)
		if e.Name != "" {
			where += fmt.Sprintf(" (%q)", e.Name)
		}
		id, err := identity("token", name, e.Tenants, e.Scopes)
		if err == nil && id.Has(Write) && id.Has(Read) {
			err = errors.New("scopes write and read together: a token that may write must not read, so that a token leaked from an app does not expose traces; give the reader its own token")
		}
		var h [32]byte
		if raw, herr := hex.DecodeString(strings.TrimSpace(e.SHA256)); herr != nil || len(raw) != 32 {
			err = errors.Join(err, errors.New("sha256 is not 64 hex digits: give the hex SHA-256 of the token (printf %s \"$TOKEN\" | scry auth hash-token)"))
		} else {
			copy(h[:], raw)
			if other, dup := seenHash[h]; dup {
				err = errors.Join(err, fmt.Errorf("the same token as %s", other))
			}
			seenHash[h] = where
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		c.tokens = append(c.tokens, token{hash: h, id: id})
	}
	for i, e := range f.Users {
		where := fmt.Sprintf("users[%d] %q", i, e.Name)
		id, err := identity("user", e.Name, e.Tenants, e.Scopes)
		if e.Name == "" || strings.ContainsAny(e.Name, ":\r\n") {
			err = errors.Join(err, errors.New("name must be given, without ':' (basic auth sends user:password)"))
		}
		if _, dup := c.users[e.Name]; dup {
			err = errors.Join(err, errors.New("a second entry of the same user"))
		}
		hash := []byte(strings.TrimSpace(e.Bcrypt))
		if berr := checkBcrypt(hash); berr != nil {
			err = errors.Join(err, berr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		c.users[e.Name] = &user{hash: hash, id: id}
	}
	for i, e := range f.Certs {
		where := fmt.Sprintf("certs[%d] %q", i, e.Subject)
		id, err := identity("cert", e.Subject, e.Tenants, e.Scopes)
		m, merr := subjectMatcher(e.Subject)
		if merr != nil {
			err = errors.Join(err, merr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		c.certs = append(c.certs, cert{match: m, id: id})
	}
	for i, e := range f.Proxies {
		name := e.Name
		if name == "" {
			name = fmt.Sprintf("proxies[%d]", i)
		}
		where := fmt.Sprintf("proxies[%d] %q", i, name)
		id, err := identity("proxy", name, e.Tenants, e.Scopes)
		p := proxy{name: name, header: textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(e.UserHeader)), id: id}
		if p.header == "" || strings.ContainsAny(p.header, " :\r\n") {
			err = errors.Join(err, errors.New("user_header must name the header the proxy sets to the user, e.g. X-Forwarded-Email"))
		} else if p.header == "Authorization" {
			err = errors.Join(err, errors.New("user_header cannot be Authorization"))
		}
		if e.Subject == "" && len(e.CIDRs) == 0 {
			err = errors.Join(err, errors.New("neither subject nor cidrs: say how the proxy is known, by its client certificate or the addresses it connects from"))
		}
		if e.Subject != "" {
			m, merr := subjectMatcher(e.Subject)
			err = errors.Join(err, merr)
			p.match = m
		}
		for _, cidr := range e.CIDRs {
			n, perr := netip.ParsePrefix(strings.TrimSpace(cidr))
			if perr != nil {
				err = errors.Join(err, fmt.Errorf("cidrs: %q is not an address range such as 10.0.0.0/8 or 127.0.0.1/32", cidr))
				continue
			}
			p.nets = append(p.nets, n.Masked())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		c.proxies = append(c.proxies, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// identity checks an entry's tenants and scopes.
func identity(kind, name string, tenants []string, sc []Scope) (*Identity, error) {
	var errs []error
	if len(sc) == 0 {
		errs = append(errs, errors.New("no scopes: give at least one of write, read, admin"))
	}
	for _, s := range sc {
		if !slices.Contains(scopes, s) {
			errs = append(errs, fmt.Errorf("unknown scope %q: the scopes are write, read and admin", s))
		}
	}
	if len(tenants) == 0 {
		errs = append(errs, errors.New(`no tenants: list the tenants it may use, or ["*"] for any`))
	}
	for _, t := range tenants {
		if t == "" {
			errs = append(errs, errors.New("an empty tenant name"))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Identity{Kind: kind, Name: name, Tenants: slices.Clone(tenants), Scopes: slices.Compact(slices.Sorted(slices.Values(sc)))}, nil
}

// checkBcrypt reports whether hash is a bcrypt hash this package can
// check, without saying what it holds.
func checkBcrypt(hash []byte) error {
	bad := errors.New("bcrypt is not a bcrypt hash: want 60 characters starting $2a$, $2b$ or $2y$ and the cost (scry auth hash-password prints one)")
	if len(hash) != 60 || !(bytes.HasPrefix(hash, []byte("$2a$")) || bytes.HasPrefix(hash, []byte("$2b$")) || bytes.HasPrefix(hash, []byte("$2y$"))) {
		return bad
	}
	if _, err := bcrypt.Cost(hash); err != nil {
		return bad
	}
	const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for _, b := range hash[7:] {
		if !strings.ContainsRune(alphabet, rune(b)) {
			return bad
		}
	}
	return nil
}

// certInfo is what a subject is matched against: the verified leaf
// certificate of the client.
type certInfo struct {
	commonName string
	dn         string
	dnsNames   []string
	uris       []string
}

// subjectMatcher returns the test of a CertEntry's subject.
func subjectMatcher(s string) (func(*certInfo) bool, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New("subject is empty: give CN=<common name>, a DNS name or a URI of the certificate")
	case strings.HasPrefix(s, "CN=") && !strings.Contains(s, ","):
		cn := strings.TrimPrefix(s, "CN=")
		return func(c *certInfo) bool { return c.commonName == cn }, nil
	case strings.HasPrefix(s, "DNS:"):
		name := strings.TrimPrefix(s, "DNS:")
		return func(c *certInfo) bool { return slices.Contains(c.dnsNames, name) }, nil
	case strings.HasPrefix(s, "URI:") || strings.Contains(s, "://"):
		u := strings.TrimPrefix(s, "URI:")
		if _, err := url.Parse(u); err != nil {
			return nil, fmt.Errorf("subject is not a valid URI: %w", err)
		}
		return func(c *certInfo) bool { return slices.Contains(c.uris, u) }, nil
	case strings.Contains(s, "="):
		return func(c *certInfo) bool { return c.dn == s }, nil
	}
	return func(c *certInfo) bool { return slices.Contains(c.dnsNames, s) }, nil
}

// HashToken returns the hex SHA-256 of a token, as an auth file's
// tokens[].sha256 holds it.
func HashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// HashPassword returns the bcrypt hash of a password (cost 10, Go's
// default), as an auth file's users[].bcrypt holds it.
func HashPassword(pw []byte) (string, error) {
	h, err := bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("cannot hash the password: %w", err)
	}
	return string(h), nil
}
