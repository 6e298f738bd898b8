package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scrytrace/scry/internal/auth/authtest"
)

// browserAnswer is what a browser-like request got.
type browserAnswer struct {
	code int
	body string
	hdr  http.Header
}

// browserDo sends method to url with body (nil: none) and the headers
// given as name, value pairs, as a plain client: nothing added.
func browserDo(t *testing.T, method, url string, body []byte, headers ...string) browserAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return browserAnswer{resp.StatusCode, string(b), resp.Header}
}

// fromPage are the headers Chromium sends with a fetch() that a page of
// origin makes to another site.
func fromPage(origin string) []string {
	return []string{"Origin", origin, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty"}
}

// otlpJSON returns an OTLP/JSON export of one small trace of service, and
// the trace and span IDs it holds.
func otlpJSON(t *testing.T, service string) ([]byte, map[string][]string) {
	t.Helper()
	rs, ids := smallBatch(service, 1, 2, "")
	return otlpJSONHexIDs(t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}}), ids
}

// TestBrowserSafety drives the built scry as a browser and as SDKs would:
// by default a page of another site cannot export (403) while SDKs, curl
// and same-origin pages can; with --http-cors-allowed-origins that
// origin's page can, over OTLP/HTTP and Zipkin, after a preflight that
// answers what the OpenTelemetry JS exporter asks, and its spans are
// stored; every other origin stays refused. Every answer of the query and
// Tempo ports carries the CSP (the UI's with no inline script),
// X-Frame-Options, nosniff and Referrer-Policy; intake and admin answers
// nosniff and Referrer-Policy. pprof answers only on the admin port. "*"
// with --auth-file is refused at start.
func TestBrowserSafety(t *testing.T) {
	const app = "https://app.example.com"
	t.Run("CORS off by default", func(t *testing.T) {
		s := startScryWith(t, scryOptions{Tempo: true})
		body, ids := otlpJSON(t, "browser-default")
		a := browserDo(t, "POST", "http://"+s.OTLPHTTP+"/v1/traces", body, append(fromPage(app), "Content-Type", "application/json")...)
		if a.code != http.StatusForbidden || !strings.Contains(a.body, "cross-origin request refused") {
			t.Errorf("cross-site POST with CORS off: %d %q, want 403", a.code, a.body)
		}
		a = browserDo(t, "OPTIONS", "http://"+s.OTLPHTTP+"/v1/traces", nil, append(fromPage(app),
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")...)
		if a.hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight with CORS off allowed: %d %v", a.code, a.hdr)
		}
		// An SDK (no Origin, no Sec-Fetch-Site) and a same-origin page
		// export as before.
		postOK(t, s, "application/json", body)
		s.checkStored(t, ids)
		body2, ids2 := otlpJSON(t, "browser-same-origin")
		a = browserDo(t, "POST", "http://"+s.OTLPHTTP+"/v1/traces", body2,
			"Origin", "http://"+s.OTLPHTTP, "Sec-Fetch-Site", "same-origin", "Content-Type", "application/json")
		if a.code != http.StatusOK {
			t.Errorf("same-origin POST: %d %q", a.code, a.body)
		}
		s.checkStored(t, ids2)

		checkSecurityHeaders(t, s)
		checkPprofOnlyOnAdmin(t, s)
	})

	t.Run("allowed origins", func(t *testing.T) {
		s := startScryWith(t, scryOptions{Flags: []string{"--http-cors-allowed-origins=" + app, "--http-cors-max-age=2h"}, Tempo: true})
		for _, ep := range []struct{ what, url, headers string }{
			{"OTLP/HTTP", "http://" + s.OTLPHTTP + "/v1/traces", "content-type"},
			{"Zipkin", "http://" + s.Zipkin + "/api/v2/spans", "content-type,authorization"},
		} {
			pre := append(fromPage(app), "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", ep.headers)
			a := browserDo(t, "OPTIONS", ep.url, nil, pre...)
			if a.code != http.StatusNoContent || a.hdr.Get("Access-Control-Allow-Origin") != app ||
				a.hdr.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(a.hdr.Get("Access-Control-Allow-Methods"), "POST") ||
				a.hdr.Get("Access-Control-Allow-Headers") != strings.ReplaceAll(ep.headers, ",", ", ") ||
				a.hdr.Get("Access-Control-Max-Age") != "7200" || !slices.Contains(a.hdr.Values("Vary"), "Origin") {
				t.Errorf("%s: preflight of the allowed origin: %d %q, headers %v", ep.what, a.code, a.body, a.hdr)
			}
			pre[1] = "https://evil.example"
			if a := browserDo(t, "OPTIONS", ep.url, nil, pre...); a.code != http.StatusForbidden || a.hdr.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s: preflight of another origin: %d %q, headers %v", ep.what, a.code, a.body, a.hdr)
			}
		}

		body, ids := otlpJSON(t, "browser-allowed")
		a := browserDo(t, "POST", "http://"+s.OTLPHTTP+"/v1/traces", body, append(fromPage(app), "Content-Type", "application/json")...)
		if a.code != http.StatusOK || a.hdr.Get("Access-Control-Allow-Origin") != app || a.hdr.Get("Access-Control-Allow-Credentials") != "true" ||
			!slices.Contains(a.hdr.Values("Vary"), "Origin") || a.hdr.Get("Access-Control-Expose-Headers") != "Retry-After" {
			t.Errorf("allowed origin's export: %d %q, headers %v", a.code, a.body, a.hdr)
		}
		s.checkStored(t, ids)

		evilBody, evilIDs := otlpJSON(t, "browser-evil")
		a = browserDo(t, "POST", "http://"+s.OTLPHTTP+"/v1/traces", evilBody, append(fromPage("https://evil.example"), "Content-Type", "application/json")...)
		if a.code != http.StatusForbidden || a.hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("other origin's export: %d %q, headers %v", a.code, a.body, a.hdr)
		}
		for id := range evilIDs {
			if code, _, _ := s.get(t, "/api/traces/"+id); code != http.StatusNotFound {
				t.Errorf("the refused export's trace %s is stored: GET = %d", id, code)
			}
		}
		// The query API answers the allowed origin's reads for its
		// script, with the CSP still on.
		a = browserDo(t, "GET", "http://"+s.Query+"/api/services", nil, fromPage(app)...)
		if a.code != http.StatusOK || a.hdr.Get("Access-Control-Allow-Origin") != app || a.hdr.Get("Content-Security-Policy") == "" {
			t.Errorf("allowed origin's read of the query API: %d, headers %v", a.code, a.hdr)
		}
		sdkBody, sdkIDs := otlpJSON(t, "browser-sdk")
		postOK(t, s, "application/json", sdkBody)
		s.checkStored(t, sdkIDs)
	})

	t.Run("flags in every binary's help", func(t *testing.T) {
		for _, pkg := range []string{"./cmd/scry", "./cmd/scry-collector", "./cmd/scry-query", "./cmd/scry-agent"} {
			cmd := exec.Command(buildBinary(t, pkg), "--help")
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s --help: %v\n%s", pkg, err, out)
			}
			for _, f := range []string{"--http-cors-allowed-origins", "--http-cors-allowed-headers", "--http-cors-max-age"} {
				if !strings.Contains(string(out), f+" ") {
					t.Errorf("%s --help does not list %s", pkg, f)
				}
			}
		}
	})

	t.Run("* with --auth-file refused at start", func(t *testing.T) {
		file := authtest.Write(t, authtest.Entry{Token: "t", Scopes: []string{"write"}})
		out, err := runScryThen(t, "--http-cors-allowed-origins=*", "--auth-file="+file)
		if err == nil || !strings.Contains(string(out), `--http-cors-allowed-origins="*" cannot be used with --auth-file`) {
			t.Errorf("scry with * and --auth-file: %v, output %q; want a refusal saying why", err, out)
		}
	})
}

// checkSecurityHeaders checks the headers of s's answers: UI, Jaeger API,
// API v3 and Tempo API (on the query port and its own) carry a strict CSP
// and X-Frame-Options; every answer, intake's and admin's too, nosniff
// and Referrer-Policy.
func checkSecurityHeaders(t *testing.T, s *Scry) {
	t.Helper()
	pages := []struct{ what, url string }{
		{"UI", "http://" + s.Query + "/"},
		{"UI deep link", "http://" + s.Query + "/search"},
		{"Jaeger API", "http://" + s.Query + "/api/services"},
		{"API v3", "http://" + s.Query + "/api/v3/services"},
		{"Jaeger API error", "http://" + s.Query + "/api/traces/nothex"},
		{"Tempo API on the query port", "http://" + s.Query + "/api/search?limit=1"},
		{"Tempo API", "http://" + s.Tempo + "/api/search?limit=1"},
		{"Tempo echo", "http://" + s.Tempo + "/api/echo"},
	}
	for _, p := range pages {
		a := browserDo(t, "GET", p.url, nil)
		csp := a.hdr.Get("Content-Security-Policy")
		for _, want := range []string{"default-src", "frame-ancestors 'none'", "base-uri"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", p.what, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q allows inline code", p.what, csp)
		}
		if strings.HasPrefix(p.what, "UI") && (!strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "object-src 'none'")) {
			t.Errorf("%s: CSP %q", p.what, csp)
		}
		if a.hdr.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", p.what, a.hdr.Get("X-Frame-Options"))
		}
		checkNosniff(t, p.what, a)
	}
	for _, p := range []struct{ what, method, url string }{
		{"OTLP/HTTP", "POST", "http://" + s.OTLPHTTP + "/v1/traces"},
		{"Zipkin", "POST", "http://" + s.Zipkin + "/api/v2/spans"},
		{"Jaeger HTTP", "GET", "http://" + s.JaegerHTTP + "/api/sampling?service=a"},
		{"admin", "GET", "http://" + s.Admin + "/metrics"},
		{"admin probe", "GET", "http://" + s.Admin + "/readyz"},
	} {
		checkNosniff(t, p.what, browserDo(t, p.method, p.url, []byte("{}"), "Content-Type", "application/json"))
	}
}

func checkNosniff(t *testing.T, what string, a browserAnswer) {
	t.Helper()
	if a.hdr.Get("X-Content-Type-Options") != "nosniff" || a.hdr.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("%s (%d): X-Content-Type-Options %q, Referrer-Policy %q", what, a.code, a.hdr.Get("X-Content-Type-Options"), a.hdr.Get("Referrer-Policy"))
	}
}

// checkPprofOnlyOnAdmin checks /debug/pprof/ answers on the admin port
// and is 404 on every other HTTP listener.
func checkPprofOnlyOnAdmin(t *testing.T, s *Scry) {
	t.Helper()
	if a := browserDo(t, "GET", "http://"+s.Admin+"/debug/pprof/", nil); a.code != http.StatusOK || !strings.Contains(a.body, "goroutine") {
		t.Errorf("admin port: GET /debug/pprof/ = %d", a.code)
	}
	for name, addr := range map[string]string{"query": s.Query, "Tempo": s.Tempo, "OTLP/HTTP": s.OTLPHTTP, "Jaeger HTTP": s.JaegerHTTP, "Zipkin": s.Zipkin} {
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
			if a := browserDo(t, "GET", "http://"+addr+p, nil); a.code != http.StatusNotFound {
				t.Errorf("%s port: GET %s = %d %q, want 404", name, p, a.code, a.body)
			}
		}
	}
}
