package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"golang.org/x/crypto/bcrypt"

	"github.com/scrytrace/scry/internal/telemetry"
)

// DefaultReloadInterval is how often the auth file is looked at again by
// default.
const DefaultReloadInterval = 5 * time.Second

// Config says where the auth file is and how often it is looked at again.
type Config struct {
	// File is the path of the auth file; empty: no authentication.
	File string
	// ReloadInterval is how often, at most, the file is looked at again
	// when a request comes (its modification time and size, then its
	// content); 0: never.
	ReloadInterval time.Duration
}

// AddFlags registers --auth-file and --auth-reload-interval on fs, into c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.File, "auth-file", c.File,
		"YAML file of the credentials every listener requires: bearer tokens (as SHA-256), users (bcrypt) and client certificate subjects, each with its tenants and scopes "+
			"(write, read, admin); re-read when it changes; must not be readable by others or by a group this process is not in (empty: no credential required)")
	fs.DurationVar(&c.ReloadInterval, "auth-reload-interval", c.ReloadInterval, "how often --auth-file is looked at again when a request comes; changes apply to the next requests (0: never)")
}

// Authenticator checks credentials against the auth file, re-read when it
// changes: a new file that is valid replaces the old for the next
// requests; one that is not (a typo, a bad hash, a file readable by
// others) is logged as an error and the old one kept until it is right.
// Its methods are safe for concurrent use; a nil *Authenticator lets
// every request through.
type Authenticator struct {
	file     string
	interval time.Duration
	clock    telemetry.Clock
	logger   *slog.Logger
	failures *prometheus.CounterVec
	cacheKey []byte        // HMAC key of the cache of verified passwords
	bcrypts  chan struct{} // bounds the bcrypt comparisons run at once
	slotWait time.Duration // bcryptWait; tests shorten it

	cur     atomic.Pointer[state]
	checked atomic.Int64 // Unix ns of the last look at the file
	mu      sync.Mutex   // held while reloading
	lastErr string       // of the last reload refused (under mu), not to log it again
}

// state is one loaded version of the file.
type state struct {
	c       *compiled
	size    int64
	modTime time.Time
	mode    fs.FileMode
	sum     [32]byte // of the content
	// verified caches, by user name, the HMAC of the last password that
	// bcrypt accepted, so that a browser's every request does not cost a
	// bcrypt comparison (tens of milliseconds).
	verified sync.Map
}

// New reads and validates cfg.File and registers
// scry_auth_failures_total on tel's registry. With no File it returns nil
// (nothing required). The file is refused if it is readable by others, or
// by a group this process is not in (it holds hashes that could be
// attacked offline).
func New(cfg Config, tel telemetry.Settings) (*Authenticator, error) {
	if cfg.File == "" {
		return nil, nil
	}
	if cfg.ReloadInterval < 0 {
		return nil, fmt.Errorf("--auth-reload-interval must not be negative, got %s", cfg.ReloadInterval)
	}
	tel = tel.Complete()
	a := &Authenticator{
		file: cfg.File, interval: cfg.ReloadInterval, clock: tel.Clock, logger: tel.Logger,
		cacheKey: make([]byte, 32), bcrypts: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)), slotWait: bcryptWait,
	}
	_, _ = rand.Read(a.cacheKey)
	st, err := a.load(nil)
	if err != nil {
		return nil, fmt.Errorf("cannot use auth file %s: %w", cfg.File, err)
	}
	a.cur.Store(st)
	a.checked.Store(a.clock.Now().UnixNano())
	a.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scry_auth_failures_total",
		Help: "Requests refused by authentication, by listener and reason: missing (no credential), bad (a credential the auth file does not accept), forbidden (a valid credential without the listener's scope), busy (a password not checked: every bcrypt slot stayed taken for a second; answered 503 / UNAVAILABLE).",
	}, []string{"listener", "reason"})
	if err := tel.Registerer.Register(a.failures); err != nil {
		return nil, fmt.Errorf("cannot register auth metrics: %w", err)
	}
	tel.Logger.Info("auth file loaded: every listener requires a credential", "file", cfg.File,
		"tokens", len(st.c.tokens), "users", len(st.c.users), "certs", len(st.c.certs))
	return a, nil
}

// load reads the file and returns its new state, or nil (and no error)
// when it has not changed since prev (nil: read it in any case).
func (a *Authenticator) load(prev *state) (*state, error) {
	fi, err := os.Stat(a.file)
	if err != nil {
		return nil, fmt.Errorf("cannot read auth file: %w", err)
	}
	if prev != nil && fi.Size() == prev.size && fi.ModTime().Equal(prev.modTime) && fi.Mode() == prev.mode {
		return nil, nil
	}
	if perm := fi.Mode().Perm(); perm&0o004 != 0 || perm&0o040 != 0 && !ownGroup(fi) {
		return nil, fmt.Errorf("it is readable by others, or by a group this process is not in (mode %04o): chmod 600 %s (on Kubernetes: defaultMode: 0400 on the Secret's volume; the group read a pod's fsGroup adds is accepted)", perm, a.file)
	}
	raw, err := os.ReadFile(a.file)
	if err != nil {
		return nil, fmt.Errorf("cannot read auth file: %w", err)
	}
	sum := sha256.Sum256(raw)
	if prev != nil && sum == prev.sum {
		// Touched, not changed: remember the new times, keep the cache.
		prev.size, prev.modTime, prev.mode = fi.Size(), fi.ModTime(), fi.Mode()
		return nil, nil
	}
	c, err := parse(raw)
	if err != nil {
		return nil, err
	}
	return &state{c: c, size: fi.Size(), modTime: fi.ModTime(), mode: fi.Mode(), sum: sum}, nil
}

// current returns the loaded file, looking at the file again first when
// the reload interval has passed (one caller does; the others go on with
// what is loaded).
func (a *Authenticator) current() *state {
	st := a.cur.Load()
	if a.interval <= 0 {
		return st
	}
	now := a.clock.Now()
	if now.UnixNano()-a.checked.Load() < int64(a.interval) || !a.mu.TryLock() {
		return st
	}
	defer a.mu.Unlock()
	a.checked.Store(now.UnixNano())
	st = a.cur.Load()
	next, err := a.load(st)
	switch {
	case err != nil:
		if err.Error() != a.lastErr {
			a.lastErr = err.Error()
			a.logger.Error("cannot reload the auth file; the previous one stays in force until it is right", "file", a.file, "error", err)
		}
	case next != nil:
		a.lastErr = ""
		a.cur.Store(next)
		a.logger.Info("auth file changed; the next requests are checked against it", "file", a.file,
			"tokens", len(next.c.tokens), "users", len(next.c.users), "certs", len(next.c.certs))
		return next
	}
	return st
}

// Reason is why a request was refused, as the reason label of
// scry_auth_failures_total says it.
type Reason string

// The reasons.
const (
	Missing   Reason = "missing"   // no credential the auth file could know
	Bad       Reason = "bad"       // a credential it does not accept
	Forbidden Reason = "forbidden" // a valid one without the scope needed
	// Busy: a password could not be checked because as many bcrypt
	// comparisons as there are slots waited longer than bcryptWait (a
	// flood of basic-auth attempts); the client may retry.
	Busy Reason = "busy"
)

// bcryptWait bounds how long a basic-auth request waits for a bcrypt slot:
// a comparison takes tens of milliseconds, so a second is a queue of tens
// of attempts per slot; past it the request is told to retry rather than
// pile up goroutines behind a flood.
const bcryptWait = time.Second

// Credentials are what a request presents.
type Credentials struct {
	// Authorization is the Authorization header (or gRPC metadata)
	// value: "Bearer <token>" or "Basic <base64 of user:password>".
	Authorization string
	// Cert is the client's verified leaf certificate, if any.
	Cert *x509.Certificate
	// Remote is the address the request came from, if known.
	Remote netip.Addr
	// Header returns the value of a request header (gRPC metadata), for
	// the user header of a trusted proxy; nil: none.
	Header func(name string) string
}

// maxProxyUser bounds the user name a proxy may send.
const maxProxyUser = 256

// Authenticate returns who c is, or why it cannot say. An Authorization
// given decides (a bad one is refused even with a certificate the file
// knows); without one, the certificate does. With a nil a it returns nil
// and no reason.
func (a *Authenticator) Authenticate(c Credentials) (*Identity, Reason) {
	if a == nil {
		return nil, ""
	}
	st := a.current()
	var ci *certInfo
	if c.Cert != nil {
		ci = &certInfo{commonName: c.Cert.Subject.CommonName, dn: c.Cert.Subject.String(), dnsNames: c.Cert.DNSNames}
		for _, u := range c.Cert.URIs {
			ci.uris = append(ci.uris, u.String())
		}
	}
	// A trusted proxy's user decides: the proxy authenticated them, and
	// what it forwards in Authorization (an OAuth token of the user's) is
	// not for Scry to check.
	if c.Header != nil {
		for i := range st.c.proxies {
			p := &st.c.proxies[i]
			u := c.Header(p.header)
			if u == "" || !p.trusts(ci, c.Remote) {
				continue
			}
			if len(u) > maxProxyUser || strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return nil, Bad
			}
			return &Identity{Kind: "proxy user", Name: u, Tenants: p.id.Tenants, Scopes: p.id.Scopes}, ""
		}
	}
	if h := strings.TrimSpace(c.Authorization); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		rest = strings.TrimSpace(rest)
		switch {
		case strings.EqualFold(scheme, "Bearer") && rest != "":
			if id := st.c.token(rest); id != nil {
				return id, ""
			}
		case strings.EqualFold(scheme, "Basic") && rest != "":
			id, busy := a.basic(st, rest)
			if busy {
				return nil, Busy
			}
			if id != nil {
				return id, ""
			}
		}
		return nil, Bad
	}
	if ci != nil {
		for _, e := range st.c.certs {
			if e.match(ci) {
				return e.id, ""
			}
		}
	}
	return nil, Missing
}

// token finds the entry of a bearer token, comparing its SHA-256 with
// every entry's in constant time.
func (c *compiled) token(tok string) *Identity {
	sum := sha256.Sum256([]byte(tok))
	var found *Identity
	for i := range c.tokens {
		if subtle.ConstantTimeCompare(sum[:], c.tokens[i].hash[:]) == 1 {
			found = c.tokens[i].id
		}
	}
	return found
}

// dummyHash is compared against when the user is unknown, so that an
// unknown user takes as long as a wrong password.
var dummyHash = []byte("$2a$10$Oeu7v9lcybTs4c0PKryLk.RDssxM1G1UHnbSNq.ldEAe4hvA5Tq3G")

// basic checks a basic-auth credential (base64 of user:password); busy
// when no bcrypt slot came free within bcryptWait.
func (a *Authenticator) basic(st *state, b64 string) (id *Identity, busy bool) {
	// Go's decoder skips CR and LF; a credential has one spelling.
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || strings.ContainsAny(b64, "\r\n") {
		return nil, false
	}
	name, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, false
	}
	mac := hmac.New(sha256.New, a.cacheKey)
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	sum := mac.Sum(nil)
	u := st.c.users[name]
	if u != nil {
		if v, ok := st.verified.Load(name); ok && hmac.Equal(v.([]byte), sum) {
			return u.id, false
		}
	}
	wait := time.NewTimer(a.slotWait)
	defer wait.Stop()
	select {
	case a.bcrypts <- struct{}{}:
	case <-wait.C:
		return nil, true
	}
	defer func() { <-a.bcrypts }()
	if u == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pass))
		return nil, false
	}
	if v, ok := st.verified.Load(name); ok && hmac.Equal(v.([]byte), sum) {
		return u.id, false // verified by another request while this one waited
	}
	if bcrypt.CompareHashAndPassword(u.hash, []byte(pass)) != nil {
		return nil, false
	}
	st.verified.Store(name, sum)
	return u.id, false
}

// failed counts a refusal.
func (a *Authenticator) failed(listener string, r Reason) {
	a.failures.WithLabelValues(listener, string(r)).Inc()
}

// ownGroup reports whether the file's group is one this process is in
// (its own or a supplementary one, such as a Kubernetes pod's fsGroup):
// then group read lets no one else read it. The kubelet adds group read to
// every file of a Secret volume of a pod with an fsGroup, whatever
// defaultMode says.
func ownGroup(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	gid := int(st.Gid)
	if gid == os.Getegid() {
		return true
	}
	groups, err := os.Getgroups()
	return err == nil && slices.Contains(groups, gid)
}
