package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scrytrace/scry/internal/telemetry"
)

// fakeClock is a clock the test moves on.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func hashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

func bcryptOf(t testing.TB, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// writeAuthFile writes content to path with mode 0600.
func writeAuthFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func sampleFile(t testing.TB) string {
	return fmt.Sprintf(`
tokens:
  - name: checkout
    sha256: %s
    tenants: [team-a]
    scopes: [write]
  - sha256: %s
    tenants: ["*"]
    scopes: [read, admin]
users:
  - name: alice
    bcrypt: %s
    tenants: ["*"]
    scopes: [read]
certs:
  - subject: CN=checkout
    tenants: [team-a]
    scopes: [write]
  - subject: spiffe://example.org/ns/prod/sa/billing
    tenants: [team-b]
    scopes: [write]
  - subject: DNS:grafana.example.com
    tenants: ["*"]
    scopes: [read]
`, hashToken("app-token"), hashToken("reader-token"), bcryptOf(t, "wonderland"))
}

func newAuth(t testing.TB, content string, clock telemetry.Clock, logs *logBuffer) (*Authenticator, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.yaml")
	writeAuthFile(t, path, content)
	tel := telemetry.Settings{Clock: clock}
	if logs != nil {
		tel.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	a, err := New(Config{File: path, ReloadInterval: time.Second}, tel)
	if err != nil {
		t.Fatal(err)
	}
	return a, path
}

func TestNoFileRequiresNothing(t *testing.T) {
	a, err := New(Config{}, telemetry.Nop())
	if err != nil || a != nil {
		t.Fatalf("New without a file = %v, %v; want nil, nil", a, err)
	}
	if id, r := a.Authenticate(Credentials{}); id != nil || r != "" {
		t.Errorf("a nil Authenticator refused: %v %q", id, r)
	}
	if g := a.Guard("http", Rules{Default: []Scope{Read}}); g != nil {
		t.Error("a nil Authenticator made a guard")
	}
}

func TestAuthenticate(t *testing.T) {
	a, _ := newAuth(t, sampleFile(t), nil, nil)
	certCN := &x509.Certificate{Subject: pkix.Name{CommonName: "checkout", Organization: []string{"Acme"}}}
	spiffe, _ := url.Parse("spiffe://example.org/ns/prod/sa/billing")
	certURI := &x509.Certificate{Subject: pkix.Name{CommonName: "whatever"}, URIs: []*url.URL{spiffe}}
	certDNS := &x509.Certificate{Subject: pkix.Name{CommonName: "x"}, DNSNames: []string{"other.example.com", "grafana.example.com"}}
	certUnknown := &x509.Certificate{Subject: pkix.Name{CommonName: "intruder"}}
	for _, c := range []struct {
		what   string
		cred   Credentials
		want   string // identity name, "" for a refusal
		scope  Scope
		reason Reason
	}{
		{"app token", Credentials{Authorization: "Bearer app-token"}, "checkout", Write, ""},
		{"scheme in any case", Credentials{Authorization: "bearer app-token"}, "checkout", Write, ""},
		{"unnamed token", Credentials{Authorization: "Bearer reader-token"}, "tokens[1]", Read, ""},
		{"wrong token", Credentials{Authorization: "Bearer app-token2"}, "", "", Bad},
		{"user", Credentials{Authorization: basicAuth("alice", "wonderland")}, "alice", Read, ""},
		{"user again (cached)", Credentials{Authorization: basicAuth("alice", "wonderland")}, "alice", Read, ""},
		{"wrong password after a right one", Credentials{Authorization: basicAuth("alice", "wonderland!")}, "", "", Bad},
		{"unknown user", Credentials{Authorization: basicAuth("bob", "wonderland")}, "", "", Bad},
		{"not base64", Credentials{Authorization: "Basic !!!"}, "", "", Bad},
		{"no colon", Credentials{Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, "", "", Bad},
		{"another scheme", Credentials{Authorization: "Digest abc"}, "", "", Bad},
		{"nothing", Credentials{}, "", "", Missing},
		{"cert by CN", Credentials{Cert: certCN}, "CN=checkout", Write, ""},
		{"cert by URI SAN", Credentials{Cert: certURI}, "spiffe://example.org/ns/prod/sa/billing", Write, ""},
		{"cert by DNS SAN", Credentials{Cert: certDNS}, "DNS:grafana.example.com", Read, ""},
		{"unknown cert", Credentials{Cert: certUnknown}, "", "", Missing},
		{"a bad header is not saved by a good cert", Credentials{Authorization: "Bearer nope", Cert: certCN}, "", "", Bad},
		{"a header wins over the cert", Credentials{Authorization: "Bearer reader-token", Cert: certCN}, "tokens[1]", Read, ""},
	} {
		id, r := a.Authenticate(c.cred)
		if c.want == "" {
			if id != nil || r != c.reason {
				t.Errorf("%s: got %v %q, want refusal %q", c.what, id, r, c.reason)
			}
			continue
		}
		if id == nil || id.Name != c.want || !id.Has(c.scope) {
			t.Errorf("%s: got %v %q, want %s with %s", c.what, id, r, c.want, c.scope)
		}
	}
	id, _ := a.Authenticate(Credentials{Authorization: "Bearer app-token"})
	if !id.AllowsTenant("team-a") || id.AllowsTenant("team-b") || id.Has(Read) {
		t.Errorf("app token: tenants %v scopes %v", id.Tenants, id.Scopes)
	}
	id, _ = a.Authenticate(Credentials{Authorization: basicAuth("alice", "wonderland")})
	if !id.AllowsTenant("anything") {
		t.Error(`"*" does not allow every tenant`)
	}
}

// A $2y$ hash, as htpasswd -B writes it, is accepted; and a password
// changed in the file is refused after the reload, though the old one was
// cached.
func TestPasswords(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	user := func(hash string) string {
		return "users:\n  - name: alice\n    bcrypt: " + hash + "\n    tenants: [\"*\"]\n    scopes: [read]\n"
	}
	y := "$2y$" + strings.TrimPrefix(bcryptOf(t, "old password"), "$2a$")
	a, path := newAuth(t, user(y), clock, nil)
	ok := func(pw string) bool {
		id, _ := a.Authenticate(Credentials{Authorization: basicAuth("alice", pw)})
		return id != nil
	}
	if !ok("old password") || !ok("old password") {
		t.Fatal("a $2y$ hash does not check")
	}
	writeAuthFile(t, path, user(bcryptOf(t, "new password")))
	clock.Add(time.Second)
	if ok("old password") || !ok("new password") {
		t.Error("after the password changed in the file the old one is still accepted, or the new one not")
	}
}

func TestValidation(t *testing.T) {
	good := hashToken("x")
	hash := bcryptOf(t, "pw")
	for _, c := range []struct {
		what, file string
		want       []string // in the error
	}{
		{"empty", "", []string{"holds no tokens, users, certs or proxies"}},
		{"unknown key", "tokens: []\nusers: []\ngroups: []\n", []string{"groups"}},
		{"unknown scope", "tokens:\n- name: app\n  sha256: " + good + "\n  tenants: [a]\n  scopes: [wirte]\n", []string{`tokens[0] ("app")`, `unknown scope "wirte"`}},
		{"no scopes", "tokens:\n- sha256: " + good + "\n  tenants: [a]\n", []string{"tokens[0]", "no scopes"}},
		{"no tenants", "tokens:\n- sha256: " + good + "\n  scopes: [write]\n", []string{"tokens[0]", "no tenants"}},
		{"short hash", "tokens:\n- sha256: 9f86d08\n  tenants: [a]\n  scopes: [write]\n", []string{"tokens[0]", "64 hex digits", "hash-token"}},
		{"write and read", "tokens:\n- sha256: " + good + "\n  tenants: [a]\n  scopes: [write, read]\n", []string{"tokens[0]", "must not read"}},
		{"same token twice", "tokens:\n- sha256: " + good + "\n  tenants: [a]\n  scopes: [write]\n- sha256: " + good + "\n  tenants: [a]\n  scopes: [read]\n", []string{"tokens[1]", "same token as tokens[0]"}},
		{"bad bcrypt", "users:\n- name: alice\n  bcrypt: $2y$10$short\n  tenants: [a]\n  scopes: [read]\n", []string{`users[0] "alice"`, "not a bcrypt hash"}},
		{"plain password as bcrypt", "users:\n- name: bob\n  bcrypt: " + strings.Repeat("p", 60) + "\n  tenants: [a]\n  scopes: [read]\n", []string{`users[0] "bob"`, "not a bcrypt hash"}},
		{"user without name", "users:\n- bcrypt: " + hash + "\n  tenants: [a]\n  scopes: [read]\n", []string{`users[0] ""`, "name must be given"}},
		{"empty subject", "certs:\n- subject: \"\"\n  tenants: [a]\n  scopes: [write]\n", []string{`certs[0] ""`, "subject is empty"}},
		{"two wrong entries", "tokens:\n- sha256: zz\n  tenants: [a]\n  scopes: [write]\nusers:\n- name: carol\n  bcrypt: nope\n  tenants: [a]\n  scopes: [read]\n", []string{"tokens[0]", `users[0] "carol"`}},
	} {
		_, err := parse([]byte(c.file))
		if err == nil {
			t.Errorf("%s: accepted", c.what)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.what, err, w)
			}
		}
		if strings.Contains(err.Error(), hash) || strings.Contains(err.Error(), good) {
			t.Errorf("%s: the error quotes a hash: %v", c.what, err)
		}
	}
}

func TestFileReadableByOthersRefused(t *testing.T) {
	write := func(mode os.FileMode) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "auth.yaml")
		if err := os.WriteFile(path, []byte(sampleFile(t)), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return path
	}
	for _, mode := range []os.FileMode{0o644, 0o604, 0o444} {
		path := write(mode)
		_, err := New(Config{File: path}, telemetry.Nop())
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: %v, want a refusal saying chmod 600", mode, err)
		}
	}
	// Group read by the process's own group (a Kubernetes pod's fsGroup)
	// is accepted; by another group it is not.
	own := write(0o440)
	if err := os.Chown(own, -1, os.Getegid()); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{File: own}, telemetry.Nop()); err != nil {
		t.Errorf("mode 0440, the process's own group: %v, want accepted", err)
	}
	foreign := write(0o640)
	if err := os.Chown(foreign, -1, 54321); err != nil {
		t.Logf("cannot give the file another group (not root?): %v; that case is not checked", err)
	} else if _, err := New(Config{File: foreign}, telemetry.Nop()); err == nil || !strings.Contains(err.Error(), "chmod 600 "+foreign) {
		t.Errorf("mode 0640, a group the process is not in: %v, want a refusal", err)
	}
	path := filepath.Join(t.TempDir(), "missing.yaml")
	if _, err := New(Config{File: path}, telemetry.Nop()); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestReload(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	logs := &logBuffer{}
	a, path := newAuth(t, sampleFile(t), clock, logs)
	ok := func(h string) bool { id, _ := a.Authenticate(Credentials{Authorization: h}); return id != nil }
	if !ok("Bearer app-token") || ok("Bearer new-token") {
		t.Fatal("before the change")
	}
	next := fmt.Sprintf("tokens:\n- name: new\n  sha256: %s\n  tenants: [a]\n  scopes: [write]\n", hashToken("new-token"))
	writeAuthFile(t, path, next)
	if !ok("Bearer app-token") {
		t.Error("the file was read again before the interval")
	}
	clock.Add(time.Second)
	if !ok("Bearer new-token") || ok("Bearer app-token") {
		t.Error("after the interval the new file is not in force")
	}
	if !strings.Contains(logs.String(), "auth file changed") {
		t.Errorf("the change is not logged:\n%s", logs)
	}

	// A bad file keeps the last good one, logged once.
	writeAuthFile(t, path, "tokens:\n- sha256: nothex\n  tenants: [a]\n  scopes: [write]\n")
	for range 3 {
		clock.Add(time.Second)
		if !ok("Bearer new-token") {
			t.Fatal("a bad file replaced the good one")
		}
	}
	if n := strings.Count(logs.String(), "cannot reload the auth file"); n != 1 {
		t.Errorf("the bad file is logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "tokens[0]") || strings.Contains(logs.String(), "new-token") {
		t.Errorf("the log line does not name the entry, or shows a token:\n%s", logs)
	}

	// Readable by others: kept, logged.
	writeAuthFile(t, path, sampleFile(t))
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second)
	if !ok("Bearer new-token") || ok("Bearer app-token") {
		t.Error("a file readable by others was taken")
	}
	if !strings.Contains(logs.String(), "chmod 600") {
		t.Errorf("the mode is not logged:\n%s", logs)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second)
	if !ok("Bearer app-token") {
		t.Error("the file made private again is not taken")
	}
}

func TestNoSecretInLogs(t *testing.T) {
	logs := &logBuffer{}
	a, _ := newAuth(t, sampleFile(t), nil, logs)
	g := a.Guard("otlp-http", Rules{Default: []Scope{Read}})
	for _, h := range []string{"Bearer app-token", "Bearer guessed-secret", basicAuth("alice", "guessed-password"), basicAuth("alice", "wonderland")} {
		g.check("/v1/traces", Credentials{Authorization: h}, "127.0.0.1:1")
	}
	for _, secret := range []string{"app-token", "guessed-secret", "guessed-password", "wonderland", hashToken("app-token"), base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
}

// FuzzAuthenticate: whatever Authorization header a client sends, checking
// it does not panic and accepts only the credentials in the file.
func FuzzAuthenticate(f *testing.F) {
	a, _ := newAuth(f, sampleFile(f), nil, nil)
	for _, s := range []string{"Bearer app-token", "bearer  app-token ", basicAuth("alice", "wonderland"), basicAuth("alice", ""),
		"Basic", "Basic =", "Basic " + base64.StdEncoding.EncodeToString([]byte(":")), "Bearer", "\x00", strings.Repeat("A", 5000)} {
		f.Add(s)
	}
	good := map[string]bool{"Bearer app-token": true, "Bearer reader-token": true, basicAuth("alice", "wonderland"): true}
	f.Fuzz(func(t *testing.T, h string) {
		id, r := a.Authenticate(Credentials{Authorization: h})
		if (id == nil) == (r == "") {
			t.Fatalf("%q: identity %v with reason %q", h, id, r)
		}
		if id == nil {
			return
		}
		// Accepted: it must be one of the credentials, up to the scheme's
		// case and white space.
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		canon := strings.ToUpper(scheme[:1]) + strings.ToLower(scheme[1:]) + " " + strings.TrimSpace(rest)
		if !good[canon] {
			t.Fatalf("%q accepted as %v", h, id)
		}
	})
}

func TestProxies(t *testing.T) {
	content := `
tokens:
  - name: app
    sha256: ` + hashToken("app-token") + `
    tenants: [team-a]
    scopes: [write]
proxies:
  - name: oauth2-proxy
    cidrs: [127.0.0.1/32, "::1/128"]
    user_header: x-forwarded-email
    tenants: ["*"]
    scopes: [read]
`
	a, _ := newAuth(t, content, nil, nil)
	header := func(kv ...string) func(string) string {
		return func(name string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if http.CanonicalHeaderKey(kv[i]) == http.CanonicalHeaderKey(name) {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	local, far := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.7")
	id, r := a.Authenticate(Credentials{Remote: local, Header: header("X-Forwarded-Email", "alice@example.com"),
		Authorization: "Bearer an-oauth-token-scry-does-not-know"})
	if r != "" || id == nil || id.Kind != "proxy user" || id.Name != "alice@example.com" || !id.Has(Read) || id.Has(Write) {
		t.Errorf("through the proxy: %v, %q; want proxy user alice@example.com with read", id, r)
	}
	if id, r := a.Authenticate(Credentials{Remote: far, Header: header("X-Forwarded-Email", "alice@example.com")}); id != nil || r != Missing {
		t.Errorf("the header from an address the proxy entry does not name: %v, %q; want not believed (missing)", id, r)
	}
	if id, r := a.Authenticate(Credentials{Remote: far, Header: header("X-Forwarded-Email", "mallory"), Authorization: "Bearer app-token"}); id == nil || id.Name != "app" || r != "" {
		t.Errorf("an untrusted header beside a token: %v, %q; want the token's identity", id, r)
	}
	if id, r := a.Authenticate(Credentials{Remote: netip.MustParseAddr("::ffff:127.0.0.1"), Header: header("X-Forwarded-Email", "bob")}); id == nil || id.Name != "bob" || r != "" {
		t.Errorf("IPv4 in IPv6 from the proxy: %v, %q", id, r)
	}
	if id, r := a.Authenticate(Credentials{Remote: local, Header: header("X-Forwarded-Email", "eve\r\nx")}); id != nil || r != Bad {
		t.Errorf("a user with control characters: %v, %q; want bad", id, r)
	}
	if id, r := a.Authenticate(Credentials{Remote: local, Header: header()}); id != nil || r != Missing {
		t.Errorf("from the proxy without the header: %v, %q; want missing", id, r)
	}
	for name, bad := range map[string]string{
		"no header": "proxies:\n  - cidrs: [127.0.0.1/32]\n    tenants: ['*']\n    scopes: [read]\n",
		"no origin": "proxies:\n  - user_header: X-User\n    tenants: ['*']\n    scopes: [read]\n",
		"bad cidr":  "proxies:\n  - cidrs: [localhost]\n    user_header: X-User\n    tenants: ['*']\n    scopes: [read]\n",
		"authz hdr": "proxies:\n  - cidrs: [127.0.0.1/32]\n    user_header: Authorization\n    tenants: ['*']\n    scopes: [read]\n",
		"no scopes": "proxies:\n  - cidrs: [127.0.0.1/32]\n    user_header: X-User\n    tenants: ['*']\n",
	} {
		if _, err := parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
}

// TestPasswordFloodBounded: with every bcrypt slot taken, a basic-auth
// request waits a bounded time and is told it was busy, rather than
// queueing behind a flood of attempts.
func TestPasswordFloodBounded(t *testing.T) {
	a, _ := newAuth(t, sampleFile(t), nil, nil)
	a.slotWait = 20 * time.Millisecond
	for range cap(a.bcrypts) {
		a.bcrypts <- struct{}{}
	}
	id, r := a.Authenticate(Credentials{Authorization: basicAuth("alice", "wonderland")})
	if id != nil || r != Busy {
		t.Errorf("with every slot taken: %v, %q; want busy", id, r)
	}
	for range cap(a.bcrypts) {
		<-a.bcrypts
	}
	if id, r := a.Authenticate(Credentials{Authorization: basicAuth("alice", "wonderland")}); id == nil || r != "" {
		t.Errorf("with slots free: %v, %q; want alice", id, r)
	}
}
