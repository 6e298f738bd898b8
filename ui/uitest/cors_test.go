package uitest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrytrace/scry/internal/testbin"
)

// TestCrossOriginExportFromPage: a web app's page exports spans to scry's
// OTLP/HTTP listener with fetch(), as the OpenTelemetry JS SDK does in a
// browser. With its origin in --http-cors-allowed-origins, Chromium's
// preflight is answered and the export succeeds, its answer readable by
// the page; the same page served from another origin (localhost instead
// of 127.0.0.1) is blocked by Chromium, and its spans are not stored. It
// needs Chromium, not the built UI.
func TestCrossOriginExportFromPage(t *testing.T) {
	if _, err := os.Stat(chromiumPath()); err != nil {
		t.Skipf("needs Chromium at %s: %v", chromiumPath(), err)
	}
	// The web app: a blank page on a port of its own, so another origin.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<!doctype html><title>web app</title><p>web app</p>")
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = app.Serve(ln) }()
	t.Cleanup(func() { _ = app.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	allowed := fmt.Sprintf("http://127.0.0.1:%d", port)
	other := fmt.Sprintf("http://localhost:%d", port)

	bin, _, err := testbin.TryBuild("./cmd/scry")
	if err != nil {
		t.Fatal(err)
	}
	s, err := startScryWith(bin, t.TempDir(), true, "--http-cors-allowed-origins="+allowed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	actx := newBrowser(t)
	tabCtx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(tabCtx, 60*time.Second)
	defer cancel()

	// export sends one span of trace id from the page at origin, and
	// returns the status and body the page could read, or "blocked: "
	// and the error fetch() failed with.
	export := func(origin, id string) string {
		run(t, ctx, "open the web app at "+origin, chromedp.Navigate(origin+"/"))
		now := time.Now().UnixNano()
		body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web-app"}}]},`+
			`"scopeSpans":[{"spans":[{"traceId":"%s","spanId":"00000000000000a1","name":"click","kind":1,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`,
			id, now-int64(time.Millisecond), now)
		expr := fmt.Sprintf(`fetch('http://%s/v1/traces', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: %q})`+
			`.then(async r => r.status + ' ' + await r.text(), e => 'blocked: ' + e.name)`, s.otlpHTTP, body)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("fetch from %s: %v", origin, err)
		}
		return got
	}
	status := func(id string) int {
		resp, err := http.Get("http://" + s.query + "/api/traces/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	const allowedID, otherID = "5c0000000000000000000000000000a1", "5c0000000000000000000000000000b2"
	if got := export(allowed, allowedID); !strings.HasPrefix(got, "200 ") {
		t.Errorf("export from the allowed origin %s: %q, want 200 and a readable answer", allowed, got)
	}
	// scry answers an export once its spans are committed.
	if code := status(allowedID); code != http.StatusOK {
		t.Errorf("the allowed origin's trace: GET = %d, want 200", code)
	}
	if got := export(other, otherID); got != "blocked: TypeError" {
		t.Errorf("export from %s, not allowed: %q, want blocked by the browser", other, got)
	}
	if code := status(otherID); code != http.StatusNotFound {
		t.Errorf("the blocked export's trace: GET = %d, want 404", code)
	}
}
