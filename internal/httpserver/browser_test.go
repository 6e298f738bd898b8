package httpserver

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/browser"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
)

// listeners starts a server for each of the OTLP/HTTP, query and admin
// listeners built from args, each answering "served <method> <path>", and
// returns their base URLs by listener name.
func listeners(t *testing.T, args ...string) map[string]string {
	t.Helper()
	flags := tlsconf.NewServerFlags(tlsconf.OTLPHTTP, tlsconf.HTTP, tlsconf.Admin)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags.Add(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	srv, err := flags.Build(telemetry.Nop())
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "served "+r.Method+" "+r.URL.Path)
	})
	urls := map[string]string{}
	for _, n := range flags.Names() {
		s := New(n, "127.0.0.1:0", h, srv.For(n), telemetry.Nop())
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
		urls[n] = "http://" + s.Addr().String()
	}
	return urls
}

type answer struct {
	code int
	body string
	hdr  http.Header
}

// do sends method to url with the headers given as name, value pairs.
func do(t *testing.T, method, url string, headers ...string) answer {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

// crossSite are the headers a browser sends with a request that a page of
// origin makes to another site.
func crossSite(origin string) []string {
	return []string{"Origin", origin, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors", "Content-Type", "application/json"}
}

// preflight are the headers of a browser's CORS preflight from origin for
// a POST carrying headers.
func preflight(origin, headers string) []string {
	return []string{"Origin", origin, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", headers}
}

// Without --http-cors-allowed-origins: non-browser clients (no Origin, no
// Sec-Fetch-Site) and same-origin pages post as before; a page of another
// site cannot post (403, saying why), whether its browser sends
// Sec-Fetch-Site or only an Origin that is not the Host; reads stay open;
// no answer carries a CORS header, a preflight reaches the handler
// unanswered by CORS; every answer has nosniff and Referrer-Policy, the
// query port's a CSP and X-Frame-Options; /debug/ is 404 but on the admin
// port.
func TestBrowserSafetyDefault(t *testing.T) {
	urls := listeners(t)
	otlp := urls[tlsconf.OTLPHTTP] + "/v1/traces"
	for _, c := range []struct {
		what    string
		method  string
		headers []string
		code    int
		body    string
	}{
		{"an SDK, curl or agent", "POST", []string{"Content-Type", "application/x-protobuf"}, 200, "served POST"},
		{"a same-origin page", "POST", []string{"Origin", urls[tlsconf.OTLPHTTP], "Sec-Fetch-Site", "same-origin"}, 200, "served POST"},
		{"a typed URL (Sec-Fetch-Site none)", "POST", []string{"Sec-Fetch-Site", "none"}, 200, "served POST"},
		{"an old browser on the same host", "POST", []string{"Origin", urls[tlsconf.OTLPHTTP]}, 200, "served POST"},
		{"a page of another site", "POST", crossSite("https://evil.example"), 403, "cross-origin request refused"},
		{"a page of a sibling subdomain", "POST", []string{"Origin", "https://app.example.com", "Sec-Fetch-Site", "same-site"}, 403, "cross-origin request refused"},
		{"an old browser on another site", "POST", []string{"Origin", "https://evil.example"}, 403, "Origin does not match Host"},
		{"a cross-site read", "GET", crossSite("https://evil.example"), 200, "served GET"},
		{"a preflight, CORS off", "OPTIONS", preflight("https://app.example.com", "content-type"), 200, "served OPTIONS"},
	} {
		a := do(t, c.method, otlp, c.headers...)
		if a.code != c.code || !strings.Contains(a.body, c.body) {
			t.Errorf("%s: %s = %d %q, want %d %q", c.what, c.method, a.code, a.body, c.code, c.body)
		}
		for k := range a.hdr {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: CORS is off but the answer has %s: %q", c.what, k, a.hdr.Get(k))
			}
		}
	}
	for name, url := range urls {
		a := do(t, "GET", url+"/api/services")
		if a.hdr.Get("X-Content-Type-Options") != "nosniff" || a.hdr.Get("Referrer-Policy") != browser.ReferrerPolicy {
			t.Errorf("%s: nosniff %q, Referrer-Policy %q", name, a.hdr.Get("X-Content-Type-Options"), a.hdr.Get("Referrer-Policy"))
		}
		csp, xfo := a.hdr.Get("Content-Security-Policy"), a.hdr.Get("X-Frame-Options")
		if name == tlsconf.HTTP {
			if csp != browser.AppPolicy || xfo != "DENY" {
				t.Errorf("query port: CSP %q, X-Frame-Options %q", csp, xfo)
			}
		} else if csp != "" || xfo != "" {
			t.Errorf("%s: CSP %q, X-Frame-Options %q on a port that serves no page", name, csp, xfo)
		}
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug"} {
			a := do(t, "GET", url+p)
			if name == tlsconf.Admin {
				if a.code != 200 {
					t.Errorf("admin port: GET %s = %d %q", p, a.code, a.body)
				}
			} else if a.code != 404 || !strings.Contains(a.body, "admin port") {
				t.Errorf("%s: GET %s = %d %q, want 404", name, p, a.code, a.body)
			}
		}
	}
}

// With --http-cors-allowed-origins, a listener that takes CORS answers
// the allowed origin's preflight (204: origin, credentials, methods, the
// headers asked for, max age, Vary) and refuses others' (403, saying
// why), including a header not allowed, until --http-cors-allowed-headers
// allows it; the allowed origin's POST passes the cross-site check and
// its answer lets the script read it; another origin's is refused. The
// admin port takes no CORS: the origin is not trusted there.
func TestBrowserSafetyCORS(t *testing.T) {
	const app = "https://app.example.com"
	urls := listeners(t, "--http-cors-allowed-origins=https://App.example.com:443,http://localhost:3000", "--http-cors-allowed-headers=X-Custom")
	otlp := urls[tlsconf.OTLPHTTP] + "/v1/traces"

	a := do(t, "OPTIONS", otlp, preflight(app, "content-type,authorization,x-tenant,x-custom")...)
	want := map[string]string{
		"Access-Control-Allow-Origin":      app,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, HEAD, POST",
		"Access-Control-Allow-Headers":     "content-type, authorization, x-tenant, x-custom",
		"Access-Control-Max-Age":           "600",
		"X-Content-Type-Options":           "nosniff",
	}
	if a.code != http.StatusNoContent {
		t.Errorf("allowed preflight: %d %q, want 204", a.code, a.body)
	}
	for k, v := range want {
		if got := a.hdr.Get(k); got != v {
			t.Errorf("allowed preflight: %s = %q, want %q", k, got, v)
		}
	}
	if v := a.hdr.Values("Vary"); !slices.Contains(v, "Origin") || !slices.Contains(v, "Access-Control-Request-Headers") {
		t.Errorf("allowed preflight: Vary %q", v)
	}
	if a := do(t, "OPTIONS", otlp, preflight("http://localhost:3000", "content-type")...); a.code != 204 || a.hdr.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("second origin's preflight: %d %q", a.code, a.hdr.Get("Access-Control-Allow-Origin"))
	}

	for _, c := range []struct {
		what, origin, headers, body string
	}{
		{"another origin", "https://evil.example", "content-type", `origin "https://evil.example" is not in --http-cors-allowed-origins`},
		{"the origin on another port", "https://app.example.com:8443", "content-type", "not in --http-cors-allowed-origins"},
		{"a header not allowed", app, "content-type,x-secret", `request header "x-secret" is not allowed`},
	} {
		a := do(t, "OPTIONS", otlp, preflight(c.origin, c.headers)...)
		if a.code != 403 || !strings.Contains(a.body, c.body) || a.hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight of %s: %d %q, ACAO %q; want 403 %q", c.what, a.code, a.body, a.hdr.Get("Access-Control-Allow-Origin"), c.body)
		}
	}

	a = do(t, "POST", otlp, crossSite(app)...)
	if a.code != 200 || a.hdr.Get("Access-Control-Allow-Origin") != app || a.hdr.Get("Access-Control-Allow-Credentials") != "true" ||
		a.hdr.Get("Access-Control-Expose-Headers") != "Retry-After" || !slices.Contains(a.hdr.Values("Vary"), "Origin") {
		t.Errorf("allowed origin's POST: %d %q, headers %v", a.code, a.body, a.hdr)
	}
	if a := do(t, "POST", otlp, crossSite("https://evil.example")...); a.code != 403 || a.hdr.Get("Access-Control-Allow-Origin") != "" ||
		!strings.Contains(a.body, "only the origins in --http-cors-allowed-origins") {
		t.Errorf("other origin's POST: %d %q, ACAO %q", a.code, a.body, a.hdr.Get("Access-Control-Allow-Origin"))
	}
	if a := do(t, "POST", otlp, "Content-Type", "application/x-protobuf"); a.code != 200 || a.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("non-browser POST: %d %q, ACAO %q", a.code, a.body, a.hdr.Get("Access-Control-Allow-Origin"))
	}
	if a := do(t, "GET", urls[tlsconf.HTTP]+"/api/services", crossSite(app)...); a.code != 200 || a.hdr.Get("Access-Control-Allow-Origin") != app ||
		a.hdr.Get("Content-Security-Policy") != browser.AppPolicy {
		t.Errorf("allowed origin's read of the query API: %d, headers %v", a.code, a.hdr)
	}

	adm := urls[tlsconf.Admin] + "/debug/pprof/symbol"
	if a := do(t, "POST", adm, crossSite(app)...); a.code != 403 || a.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("allowed origin's POST to the admin port: %d %q, ACAO %q, want 403", a.code, a.body, a.hdr.Get("Access-Control-Allow-Origin"))
	}
	if a := do(t, "OPTIONS", adm, preflight(app, "content-type")...); a.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight to the admin port allowed: %v", a.hdr)
	}
}

// "*" lets any page post without credentials: the preflight allows "*"
// and no credentials, a cross-site POST passes. With --auth-file it is
// refused at start, and so are origins that are not exact.
func TestBrowserSafetyAnyOrigin(t *testing.T) {
	urls := listeners(t, "--http-cors-allowed-origins=*")
	otlp := urls[tlsconf.OTLPHTTP] + "/v1/traces"
	a := do(t, "OPTIONS", otlp, preflight("https://anywhere.example", "content-type")...)
	if a.code != 204 || a.hdr.Get("Access-Control-Allow-Origin") != "*" || a.hdr.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight with *: %d, headers %v", a.code, a.hdr)
	}
	if a := do(t, "POST", otlp, crossSite("https://anywhere.example")...); a.code != 200 || a.hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("cross-site POST with *: %d %q, headers %v", a.code, a.body, a.hdr)
	}
	if a := do(t, "POST", urls[tlsconf.Admin]+"/debug/pprof/symbol", crossSite("https://anywhere.example")...); a.code != 403 {
		t.Errorf("cross-site POST to the admin port with *: %d %q, want 403", a.code, a.body)
	}

	file := authtest.Write(t, authtest.Entry{Token: "t", Scopes: []string{"write"}})
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--http-cors-allowed-origins=*", "--auth-file=" + file}, `"*" cannot be used with --auth-file`},
		{[]string{"--http-cors-allowed-origins=https://app.example.com/"}, "nothing after it"},
		{[]string{"--http-cors-allowed-origins=https://*.example.com"}, "wildcards are not allowed"},
		{[]string{"--http-cors-allowed-origins=app.example.com"}, "must start with http:// or https://"},
		{[]string{"--http-cors-allowed-origins=*,https://app.example.com"}, "give it alone"},
		{[]string{"--http-cors-allowed-headers=X-A"}, "--http-cors-allowed-origins is empty"},
		{[]string{"--http-cors-allowed-origins=https://a.example", "--http-cors-allowed-headers=bad header"}, "not a header name"},
	} {
		flags := tlsconf.NewServerFlags(tlsconf.OTLPHTTP)
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		flags.Add(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if _, err := flags.Build(telemetry.Nop()); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: error %v, want %q", c.args, err, c.err)
		}
	}
}

// With --auth-file and CORS, a preflight (which never carries
// credentials) is answered without one, and a refusal for a missing
// credential carries the CORS headers, so that the page's script sees
// the 401 rather than a network error.
func TestBrowserSafetyWithAuth(t *testing.T) {
	const app = "https://app.example.com"
	file := authtest.Write(t, authtest.Entry{Token: "write-token", Scopes: []string{"write"}})
	urls := listeners(t, "--auth-file="+file, "--http-cors-allowed-origins="+app)
	otlp := urls[tlsconf.OTLPHTTP] + "/v1/traces"
	if a := do(t, "OPTIONS", otlp, preflight(app, "authorization,content-type")...); a.code != 204 || a.hdr.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("preflight with auth on: %d %q, headers %v", a.code, a.body, a.hdr)
	}
	if a := do(t, "POST", otlp, crossSite(app)...); a.code != 401 || a.hdr.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("POST without credential: %d %q, headers %v", a.code, a.body, a.hdr)
	}
	if a := do(t, "POST", otlp, append(crossSite(app), "Authorization", authtest.Bearer("write-token"))...); a.code != 200 || a.hdr.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("POST with credential: %d %q, headers %v", a.code, a.body, a.hdr)
	}
}
