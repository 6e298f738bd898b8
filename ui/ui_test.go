package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	h := Handler("")
	for _, p := range []string{"/", "/search?service=a", "/trace/abc", "/assets/missing.js", "/favicon.svg"} {
		res := get(t, h, http.MethodGet, p)
		if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy = %q, want script-src 'self'", p, got)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", p, got)
		}
	}
}

func TestDeepLinksServeIndex(t *testing.T) {
	h := Handler("")
	for _, p := range []string{"/", "/search", "/search?service=x&lookback=1h", "/trace/0af7651916cd43dd8448eb211c80319c",
		"/compare/a1/b2", "/dependencies", "/open"} {
		res := get(t, h, http.MethodGet, p)
		b := body(t, res)
		if res.StatusCode != http.StatusOK || !strings.Contains(b, "<html") {
			t.Errorf("GET %s = %d, want index.html", p, res.StatusCode)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control = %q, want no-cache", p, got)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type = %q", p, ct)
		}
	}
}

func TestBasePath(t *testing.T) {
	h := Handler("/scry")
	res := get(t, h, http.MethodGet, "/scry/trace/abc")
	b := body(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /scry/trace/abc = %d", res.StatusCode)
	}
	if Built() && !strings.Contains(b, `<base href="/scry/">`) {
		t.Errorf("index.html under /scry has no <base href=\"/scry/\">:\n%s", b)
	}
	if res := get(t, h, http.MethodGet, "/other"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other outside the base path = %d, want 404", res.StatusCode)
	}
}

func TestBasePathIsEscaped(t *testing.T) {
	if !Built() {
		t.Skip("the UI is not built (cd ui/web && npm ci && npm run build)")
	}
	b := body(t, get(t, Handler(`/a"><script>x</script>`), http.MethodGet, `/a"><script>x</script>/`))
	if strings.Contains(b, "<script>x") {
		t.Errorf("base path written into index.html unescaped:\n%s", b)
	}
}

func TestMissingFilesAre404(t *testing.T) {
	h := Handler("")
	for _, p := range []string{"/assets/nope.js", "/robots.txt"} {
		if res := get(t, h, http.MethodGet, p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, res.StatusCode)
		}
	}
}

// pprof's paths are not routes of the app: they are 404 (served on the
// admin port only), with a base path too, rather than the app's page.
func TestDebugPathsAre404(t *testing.T) {
	for base, paths := range map[string][]string{
		"":      {"/debug", "/debug/pprof/", "/debug/pprof/heap"},
		"/scry": {"/scry/debug/pprof/", "/scry/debug/pprof/goroutine"},
	} {
		h := Handler(base)
		for _, p := range paths {
			if res := get(t, h, http.MethodGet, p); res.StatusCode != http.StatusNotFound {
				t.Errorf("base %q: GET %s = %d, want 404", base, p, res.StatusCode)
			}
		}
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	res := get(t, Handler(""), http.MethodPost, "/search")
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /search = %d (Allow %q), want 405 with Allow: GET, HEAD", res.StatusCode, res.Header.Get("Allow"))
	}
	res = get(t, Handler(""), http.MethodHead, "/search")
	if res.StatusCode != http.StatusOK || body(t, res) != "" {
		t.Errorf("HEAD /search = %d with a body", res.StatusCode)
	}
}

func TestPlaceholderWhenNotBuilt(t *testing.T) {
	if Built() {
		t.Skip("the UI is built; the placeholder is not served")
	}
	b := body(t, get(t, Handler(""), http.MethodGet, "/"))
	if !strings.Contains(b, "npm run build") {
		t.Errorf("placeholder page does not say how to build the UI:\n%s", b)
	}
}

func TestAssetsCachedAndCompressed(t *testing.T) {
	if !Built() {
		t.Skip("the UI is not built (cd ui/web && npm ci && npm run build)")
	}
	h := Handler("").(*handler)
	var asset string
	for name := range h.files {
		if strings.HasPrefix(name, "assets/") && strings.HasSuffix(name, ".js") {
			asset = name
		}
	}
	if asset == "" {
		t.Fatal("the built UI has no assets/*.js")
	}
	res := get(t, h, http.MethodGet, "/"+asset, "Accept-Encoding", "gzip, br")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /%s = %d", asset, res.StatusCode)
	}
	if got := res.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
		t.Errorf("Cache-Control of a hashed asset = %q, want a long immutable cache", got)
	}
	if got := res.Header.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("Content-Encoding = %q, want gzip", got)
	}
	if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/javascript") {
		t.Errorf("Content-Type = %q", got)
	}
	res = get(t, h, http.MethodGet, "/"+asset, "Accept-Encoding", "gzip;q=0")
	if res.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip sent although the client refused it")
	}
}
