package uitest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestStrictCSPEnforced: the app's page comes with a Content-Security-Policy
// that allows no inline script or style and no framing, and Chromium
// enforces it: a script or a style attribute injected into the page (as an
// XSS would) does not run and is reported as a violation, while the app
// itself, loaded under that policy, reports none (every tab fails its
// test on any other violation).
func TestStrictCSPEnforced(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/search")
	csp, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(location.href).then(r => r.headers.get('content-security-policy'))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the page's CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("the page's CSP %q allows unsafe code", csp)
	}

	ran := js[bool](t, ctx, `(() => {
		const s = document.createElement('script');
		s.textContent = 'window.__injected = true';
		document.head.appendChild(s);
		const p = document.createElement('p');
		p.id = 'injected-style';
		p.setAttribute('style', 'display: none');
		document.body.appendChild(p);
		return !!window.__injected || getComputedStyle(p).display === 'none';
	})()`)
	if ran {
		t.Error("an injected inline script or style attribute took effect")
	}
	waitJS(t, ctx, "the injections to be reported as CSP violations",
		`window.__problems.some(p => p.includes('script-src')) && window.__problems.some(p => p.includes('style-src'))`)
	// Those violations were the test's own; any other fails the test.
	js[bool](t, ctx, `(window.__problems = window.__problems.filter(p => !p.includes('script-src-elem inline') && !p.includes('style-src-attr inline')), true)`)
}
