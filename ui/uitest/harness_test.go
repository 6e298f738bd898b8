package uitest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/ui"
)

// env is the server and browser that every test shares; tests open their
// own tabs.
type env struct {
	baseURL   string // server URL with the base path, no trailing slash
	fixtures  *fixtures
	browser   context.Context
	artifacts string
	startup   string // how long building, starting and seeding scry took
}

var (
	shared     *env
	sharedErr  error
	sharedSkip string
	once       sync.Once
	cleanups   []func()
	server     *scry // the scry process, once started
)

func TestMain(m *testing.M) {
	code := m.Run()
	if server != nil {
		if err := server.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "scry did not stop cleanly: %v\n", err)
			code = 1
		}
		if code != 0 {
			fmt.Fprintf(os.Stderr, "output of scry:\n%s\n", server.Output())
		}
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	testbin.Cleanup()
	os.Exit(code)
}

func chromiumPath() string {
	if p := os.Getenv("SCRY_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// setup starts the shared server and browser once, or says why the browser
// tests cannot run.
func setup(t *testing.T) *env {
	t.Helper()
	once.Do(func() {
		if _, err := os.Stat(chromiumPath()); err != nil {
			sharedSkip = fmt.Sprintf("browser tests need Chromium at %s (apt-get install chromium, or set SCRY_CHROMIUM): %v", chromiumPath(), err)
			return
		}
		if !ui.Built() {
			sharedSkip = "browser tests need the built UI: cd ui/web && npm ci && npm run build"
			return
		}
		shared, sharedErr = start("/scry")
		if sharedErr == nil {
			t.Log(shared.startup)
		}
	})
	if sharedSkip != "" {
		if os.Getenv("SCRY_REQUIRE_BROWSER") != "" {
			t.Fatal(sharedSkip + " (SCRY_REQUIRE_BROWSER is set, as in CI)")
		}
		t.Skip(sharedSkip)
	}
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// start builds and starts scry with the API and UI under basePath, seeds
// it over OTLP, and starts Chromium.
func start(basePath string) (*env, error) {
	e := &env{}
	tmp, err := os.MkdirTemp("", "scry-uitest-")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(tmp) })
	t0 := time.Now()
	bin, _, err := testbin.TryBuild("./cmd/scry") // embeds ui/dist as it is now
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	s, err := startScry(bin, filepath.Join(tmp, "data"), basePath)
	if err != nil {
		return nil, err
	}
	server = s // TestMain stops it
	t2 := time.Now()
	fx, groups := fixtureSpans(t2)
	if err := s.send(context.Background(), groups); err != nil {
		return nil, fmt.Errorf("cannot seed scry: %w", err)
	}
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	e.startup = fmt.Sprintf("scry built in %v, ready in %v, %d spans sent in %d OTLP/gRPC exports in %v",
		t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), n, len(groups), time.Since(t2).Round(time.Millisecond))
	e.fixtures = fx
	e.baseURL = "http://" + s.query + basePath

	e.artifacts = os.Getenv("SCRY_ARTIFACTS")
	if e.artifacts == "" {
		dir, err := os.MkdirTemp("", "scry-ui-artifacts-")
		if err != nil {
			return nil, err
		}
		e.artifacts = dir
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	}
	if err := os.MkdirAll(e.artifacts, 0o755); err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "scry-chromium-")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	cleanups = append(cleanups, cancelAlloc, cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		return nil, fmt.Errorf("cannot start Chromium: %w", err)
	}
	e.browser = bctx
	return e, nil
}

// newBrowser starts a Chromium of its own, with a fresh profile (no
// credentials or state shared with the suite's browser), and returns its
// allocator context; it is closed when t ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath()), chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "p")))
	t.Cleanup(cancel)
	return actx
}

// cspProbe runs before the app in every page: it records CSP violations
// and errors, so a test sees what the console alone would not show.
const cspProbe = `window.__problems = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__problems.push('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`

// tab opens a new tab for one test. When the test ends it fails the test if
// the page threw, logged an error or violated the Content-Security-Policy,
// and closes the tab.
func (e *env) tab(t *testing.T) context.Context {
	t.Helper()
	var mu sync.Mutex
	var problems []string
	listen := func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			p = "console.error: " + strings.Join(parts, " ")
		case *runtime.EventExceptionThrown:
			p = "exception: " + (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error()
		default:
			return
		}
		mu.Lock()
		problems = append(problems, p)
		mu.Unlock()
	}
	tabCtx, cancel := chromedp.NewContext(e.browser, chromedp.WithListener(listen))
	if err := chromedp.Do(tabCtx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe})
		return err
	})); err != nil {
		cancel()
		t.Fatalf("cannot open a tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tabCtx, 120*time.Second)
	t.Cleanup(func() {
		var inPage []string
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__problems || []`)); err == nil {
			inPage = v
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range append(problems, inPage...) {
			t.Errorf("the page reported %s", p)
		}
		cancelTimeout()
		cancel()
	})
	return ctx
}

// run runs actions, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: timed out", what)
		}
		t.Fatalf("%s: %v", what, err)
	}
}

// open loads a page of the app (a path below the base path) and waits for
// the app to render.
func (e *env) open(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	run(t, ctx, "open "+path, chromedp.Navigate(e.baseURL+path))
	waitJS(t, ctx, "the app to start", `document.querySelector('.topbar')`)
}

// shot saves a screenshot of the page as <name>.png among the artifacts.
func (e *env) shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("cannot take screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(e.artifacts, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Errorf("cannot save screenshot: %v", err)
		return
	}
	t.Logf("screenshot %s", p)
}

// js evaluates a JavaScript expression.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// clickUntil clicks sel until cond holds, polling cond for a while after
// each click: on a loaded machine a click can land while the page is
// still re-rendering the element, and then does nothing.
func clickUntil(t *testing.T, ctx context.Context, what, sel, cond string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		run(t, ctx, what, chromedp.Click(chromedp.CSS(sel)))
		held := testkit.Poll(15*time.Second, func() bool {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
			return err == nil && ok
		})
		if held {
			return
		}
		if attempt == 3 {
			t.Fatalf("%s: after 3 clicks on %s, %s stayed false", what, sel, cond)
		}
	}
}

// waitJS polls a JavaScript condition until it is true, failing the test
// after a deadline.
func waitJS(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	testkit.EventuallyNoError(t, 20*time.Second, what, func() error {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && !ok {
			err = fmt.Errorf("%s stayed false", cond)
		}
		return err
	})
}
