package uitest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

func TestSearchAndOpenTrace(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/search")
	pick(t, ctx, "#f-service", "frontend")
	pick(t, ctx, "#f-operation", "GET /checkout\x00server")
	click(t, ctx, "#find-traces")
	waitJS(t, ctx, "two checkout traces", `document.querySelectorAll('.result').length === 2`)
	if got := count(t, ctx, ".scatter circle.point"); got != 2 {
		t.Errorf("scatter plot has %d points, want 2", got)
	}
	if got := text(t, ctx, ".result .result-title"); !strings.Contains(got, "frontend: GET /checkout") {
		t.Errorf("first result is %q, want the root service and operation", got)
	}
	if got := text(t, ctx, ".result .badge.error"); got != "1 error" {
		t.Errorf("error badge = %q, want 1 error", got)
	}
	// The URL is a deep link: reloading it shows the same search.
	url := js[string](t, ctx, `location.href`)
	if !strings.Contains(url, "/scry/search?") || !strings.Contains(url, "service=frontend") {
		t.Errorf("search URL = %s, want /scry/search?service=frontend...", url)
	}
	e.shot(t, ctx, "search-service")

	// Longest first puts variant B (slower payment) on top.
	pick(t, ctx, "#sort-order", "longest")
	waitJS(t, ctx, "longest first", `document.querySelector('.result').dataset.traceId === `+q(e.fixtures.checkoutB))

	click(t, ctx, ".result .result-title")
	waitJS(t, ctx, "the trace page", `document.querySelectorAll('.timeline .row').length > 0`)
	facts := text(t, ctx, ".trace-facts")
	for _, want := range []string{"Spans7", "Services6", "Errors1", "Depth4"} {
		if !strings.Contains(strings.ReplaceAll(facts, " ", ""), want) {
			t.Errorf("trace header %q lacks %s", facts, want)
		}
	}
	if !strings.HasSuffix(js[string](t, ctx, `location.pathname`), "/scry/trace/"+e.fixtures.checkoutB) {
		t.Errorf("trace URL is %s", js[string](t, ctx, `location.pathname`))
	}
}

// TestSearchBySpanKind searches for an operation of one kind: payment's
// Charge is a client span in one checkout trace and a server span in the
// other.
func TestSearchBySpanKind(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/search")
	pick(t, ctx, "#f-service", "payment")
	pick(t, ctx, "#f-operation", "Charge\x00server")
	click(t, ctx, "#find-traces")
	waitJS(t, ctx, "the trace with a server Charge", `document.querySelectorAll('.result').length === 1 &&
		document.querySelector('.result').dataset.traceId === `+q(e.fixtures.checkoutB))
	if url := js[string](t, ctx, `location.search`); !strings.Contains(url, "spanKind=server") {
		t.Errorf("search URL %s does not keep the kind", url)
	}
	pick(t, ctx, "#f-operation", "Charge\x00client")
	click(t, ctx, "#find-traces")
	waitJS(t, ctx, "the trace with a client Charge", `document.querySelectorAll('.result').length === 1 &&
		document.querySelector('.result').dataset.traceId === `+q(e.fixtures.checkoutA))
	// All operations: both traces.
	pick(t, ctx, "#f-operation", "")
	click(t, ctx, "#find-traces")
	waitJS(t, ctx, "both traces", `document.querySelectorAll('.result').length === 2`)
}

func TestSearchWithoutServiceByAttributes(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/search")
	typeInto(t, ctx, "#f-attrs", `payment.method=card`)
	typeInto(t, ctx, "#f-min", "50ms")
	click(t, ctx, "#find-traces")
	waitJS(t, ctx, "results", `document.querySelector('.results-bar h2')?.textContent === '2 traces'`)

	// Malformed attributes are refused in the form, with a message.
	clear(t, ctx, "#f-attrs")
	typeInto(t, ctx, "#f-attrs", `msg="unterminated`)
	click(t, ctx, "#find-traces")
	if got := text(t, ctx, ".search-form .field-error"); !strings.Contains(got, "unterminated") {
		t.Errorf("form error = %q, want it to name the unterminated quote", got)
	}
}

func TestOpenTraceIDs(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/search")
	typeInto(t, ctx, "#trace-ids", e.fixtures.checkoutA+" "+e.fixtures.mesh+", 0123456789abcdef")
	run(t, ctx, "submit IDs", chromedp.KeyEvent(kb.Enter))
	waitJS(t, ctx, "two traces and a not-found error", `document.querySelectorAll('.result').length === 2 && document.querySelector('.error-box')`)
	if got := text(t, ctx, ".error-box"); !strings.Contains(got, "0123456789abcdef") {
		t.Errorf("missing trace reported as %q", got)
	}
	// One ID opens the trace directly.
	e.open(t, ctx, "/search")
	typeInto(t, ctx, "#trace-ids", e.fixtures.mesh)
	run(t, ctx, "submit ID", chromedp.KeyEvent(kb.Enter))
	waitJS(t, ctx, "the mesh trace", `location.pathname.endsWith(`+q("/trace/"+e.fixtures.mesh)+`) && document.querySelector('.timeline .row')`)
}

func TestTimelineCollapseExpand(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/trace/"+e.fixtures.checkoutA)
	waitJS(t, ctx, "all rows", `document.querySelectorAll('.timeline .row').length === 6`)
	// Collapse the checkout span: only frontend and checkout stay.
	click(t, ctx, `.row[aria-level="2"] .toggle`)
	waitJS(t, ctx, "collapsed", `document.querySelectorAll('.timeline .row').length === 2`)
	if got := text(t, ctx, `.row[aria-level="2"] .hidden-count`); got != "4" {
		t.Errorf("collapsed row says %q spans hidden, want 4", got)
	}
	click(t, ctx, "#expand-all")
	waitJS(t, ctx, "expanded", `document.querySelectorAll('.timeline .row').length === 6`)
	click(t, ctx, "#collapse-all")
	waitJS(t, ctx, "only the root", `document.querySelectorAll('.timeline .row').length === 1`)
	pick(t, ctx, "#expand-depth", "2")
	waitJS(t, ctx, "two levels", `document.querySelectorAll('.timeline .row').length === 2`)
	pick(t, ctx, "#expand-depth", "3")
	waitJS(t, ctx, "three levels", `document.querySelectorAll('.timeline .row').length === 5`)
	// The critical path is drawn on the bars.
	if n := count(t, ctx, ".bar .crit"); n == 0 {
		t.Error("no critical path sections on the timeline")
	}
	click(t, ctx, "#expand-all")
	e.shot(t, ctx, "timeline")
}

func TestSpanDetail(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/trace/"+e.fixtures.checkoutA)
	waitJS(t, ctx, "rows", `document.querySelectorAll('.timeline .row').length === 6`)
	click(t, ctx, `.row.has-error`)
	waitJS(t, ctx, "the detail", `document.querySelector('.detail')`)
	d := text(t, ctx, ".detail")
	for _, want := range []string{"payment", "Charge", "ERROR", "card declined", "client", "payment.method", "card",
		"payment.amount", "42.5", "host.name", "exception", "+40ms", "CardDeclined", "uitest", "1.0.0",
		e.fixtures.checkoutA} {
		if !strings.Contains(d, want) {
			t.Errorf("span detail lacks %q:\n%s", want, d)
		}
	}
	if n := count(t, ctx, ".detail .copy"); n < 4 {
		t.Errorf("span detail has %d copy buttons, want them for IDs and values", n)
	}
	// The selected span is in the URL, so the link can be shared.
	waitJS(t, ctx, "the selected span in the URL", `location.search.includes('span=0000000000000301')`)
	e.shot(t, ctx, "span-detail")
	// The parent link selects the parent; the link to another trace opens it.
	click(t, ctx, ".detail .facts .linkish")
	waitJS(t, ctx, "parent selected", `document.querySelector('.detail h2').textContent === 'PlaceOrder'`)
	click(t, ctx, `.row.has-error`)
	click(t, ctx, ".detail .links a")
	waitJS(t, ctx, "the linked trace", `location.pathname.endsWith(`+q(e.fixtures.checkoutB)+`) && document.querySelector('.row.selected')`)
	if got := text(t, ctx, ".row.selected .op"); got != "GET /checkout" {
		t.Errorf("linked span selected is %q, want the root of the other trace", got)
	}
	key(t, ctx, kb.Escape)
}

func TestFindAndKeyboard(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/trace/"+e.fixtures.checkoutB)
	waitJS(t, ctx, "rows", `document.querySelectorAll('.timeline .row').length === 7`)
	// "/" focuses find.
	run(t, ctx, "focus the page", chromedp.Click(chromedp.CSS(".trace-facts")))
	key(t, ctx, "/")
	waitJS(t, ctx, "find focused", `document.activeElement?.id === 'find-in-trace'`)
	clear(t, ctx, "#find-in-trace")
	key(t, ctx, "postgres")
	waitJS(t, ctx, "two matches", `document.querySelector('#find-count').textContent === '1 of 2'`)
	if n := count(t, ctx, ".row.match"); n != 2 {
		t.Errorf("%d rows marked as matches, want 2", n)
	}
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "second match", `document.querySelector('#find-count').textContent === '2 of 2'`)
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "back to the first match", `document.querySelector('#find-count').textContent === '1 of 2'`)
	// A match inside a collapsed span is revealed.
	click(t, ctx, "#collapse-all")
	clear(t, ctx, "#find-in-trace")
	typeInto(t, ctx, "#find-in-trace", "authorize")
	waitJS(t, ctx, "bank row revealed", `document.querySelector('.row.current .svc')?.textContent === 'bank'`)
	e.shot(t, ctx, "find")

	// Keyboard: arrows move the selection, left collapses, right expands.
	click(t, ctx, "#expand-all")
	run(t, ctx, "focus the timeline", chromedp.Focus(chromedp.CSS(".timeline")))
	key(t, ctx, kb.ArrowDown)
	waitJS(t, ctx, "root selected", `document.querySelector('.row.selected')?.getAttribute('aria-level') === '1'`)
	key(t, ctx, kb.ArrowDown)
	waitJS(t, ctx, "checkout selected", `document.querySelector('.row.selected .svc')?.textContent === 'checkout'`)
	key(t, ctx, kb.ArrowLeft)
	waitJS(t, ctx, "collapsed by keyboard", `document.querySelectorAll('.timeline .row').length === 2`)
	key(t, ctx, kb.ArrowRight)
	waitJS(t, ctx, "expanded by keyboard", `document.querySelectorAll('.timeline .row').length === 7`)
	key(t, ctx, kb.End)
	waitJS(t, ctx, "last row selected", `document.querySelector('.row.selected .svc')?.textContent === 'postgres'`)
	key(t, ctx, kb.Escape)
	waitJS(t, ctx, "detail closed", `!document.querySelector('.detail')`)
}

func TestOtherViews(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/trace/"+e.fixtures.checkoutA+"?view=table")
	waitJS(t, ctx, "statistics", `document.querySelectorAll('table.stats tbody tr').length === 6`)
	if got := text(t, ctx, "table.stats thead"); !strings.Contains(got, "Self time") || !strings.Contains(got, "Average") {
		t.Errorf("statistics columns are %q", got)
	}
	e.shot(t, ctx, "statistics")
	click(t, ctx, "#tab-flame")
	waitJS(t, ctx, "flamegraph", `document.querySelectorAll('.flame-box').length === 6`)
	click(t, ctx, `.flame-box[data-span-id]`)
	waitJS(t, ctx, "detail from the flamegraph", `document.querySelector('.detail')`)
	e.shot(t, ctx, "flamegraph")
	if got := count(t, ctx, "#download-json"); got != 1 {
		t.Errorf("no Download JSON button")
	}
}

func TestCompare(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/search?service=frontend&lookback=1h")
	waitJS(t, ctx, "results", `document.querySelectorAll('.result').length === 2`)
	click(t, ctx, `.result[data-trace-id=`+q(e.fixtures.checkoutA)+`] .pick`)
	click(t, ctx, `.result[data-trace-id=`+q(e.fixtures.checkoutB)+`] .pick`)
	click(t, ctx, "#compare-selected")
	waitJS(t, ctx, "the comparison", `document.querySelectorAll('table.cmp tbody tr').length > 0`)
	sum := text(t, ctx, "#compare-summary")
	for _, want := range []string{"4 same", "1 only in A", "1 only in B", "1 count differs"} {
		if !strings.Contains(sum, want) {
			t.Errorf("comparison summary %q lacks %q", sum, want)
		}
	}
	if got := text(t, ctx, "tr.diff-only-a"); !strings.Contains(got, "cart") {
		t.Errorf("only-in-A row is %q, want the cart call", got)
	}
	if got := text(t, ctx, "tr.diff-only-b"); !strings.Contains(got, "fraud") {
		t.Errorf("only-in-B row is %q, want the fraud check", got)
	}
	if got := text(t, ctx, "tr.diff-changed"); !strings.Contains(got, "postgres") {
		t.Errorf("changed row is %q, want the postgres calls", got)
	}
	e.shot(t, ctx, "compare")
}

func TestDependencies(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/dependencies")
	waitJS(t, ctx, "the graph", `document.querySelectorAll('.dep-graph .node').length > 50`)
	n := count(t, ctx, ".dep-graph .node")
	// 8 workload services, 6 checkout services, 50 mesh services, the big
	// trace's 11 and the hostile trace's 2.
	if n < 70 {
		t.Errorf("graph has %d services, want every service that calls or is called", n)
	}
	overlaps := js[int](t, ctx, `(() => {
		const r = [...document.querySelectorAll('.dep-graph .node rect:first-child')].map(x => x.getBoundingClientRect());
		let n = 0;
		for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++)
			if (r[i].left < r[j].right && r[j].left < r[i].right && r[i].top < r[j].bottom && r[j].top < r[i].bottom) n++;
		return n; })()`)
	if overlaps > 0 {
		t.Errorf("%d pairs of service boxes overlap", overlaps)
	}
	click(t, ctx, `.dep-graph .node[data-service="edge-gateway"]`)
	waitJS(t, ctx, "focus", `document.querySelector('.dep-graph .node.focus')`)
	if dim := count(t, ctx, ".dep-graph .node.dim"); dim < 50 {
		t.Errorf("%d services dimmed when edge-gateway is focused, want those not next to it", dim)
	}
	e.shot(t, ctx, "dependencies")
}

func TestThemeAndTimeZone(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/trace/"+e.fixtures.checkoutA)
	waitJS(t, ctx, "rows", `document.querySelector('.timeline .row')`)
	pick(t, ctx, ".topbar select", "utc")
	waitJS(t, ctx, "UTC times", `document.querySelector('.trace-facts').textContent.includes('UTC')`)
	pick(t, ctx, ".topbar .setting:last-child select", "dark")
	waitJS(t, ctx, "dark theme", `document.documentElement.dataset.theme === 'dark'`)
	bg := js[string](t, ctx, `getComputedStyle(document.body).backgroundColor`)
	if bg != "rgb(13, 17, 23)" {
		t.Errorf("dark background is %s", bg)
	}
	click(t, ctx, ".row.has-error")
	e.shot(t, ctx, "dark")
	// The choice is kept for the next page.
	e.open(t, ctx, "/search")
	waitJS(t, ctx, "dark kept", `document.documentElement.dataset.theme === 'dark'`)
	pick(t, ctx, ".topbar .setting:last-child select", "system")
	pick(t, ctx, ".topbar select", "local")
}

func TestBigTrace(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	t0 := time.Now()
	e.open(t, ctx, "/trace/"+e.fixtures.big)
	waitJS(t, ctx, "rows", `document.querySelectorAll('.timeline .row').length > 10`)
	t.Logf("a %d-span trace opened in %v (fetch, build, first render)", e.fixtures.bigSpans, time.Since(t0))
	if got := text(t, ctx, ".trace-facts"); !strings.Contains(got, fmt.Sprint(e.fixtures.bigSpans)) {
		t.Errorf("header %q does not count %d spans", got, e.fixtures.bigSpans)
	}
	rows := count(t, ctx, ".timeline .row")
	if rows > 200 {
		t.Errorf("%d rows in the DOM for %d spans, want only a window of them", rows, e.fixtures.bigSpans)
	}
	height := js[int](t, ctx, `document.querySelector('.timeline .rows').offsetHeight`)
	if height < 26*e.fixtures.bigSpans {
		t.Errorf("scroll height %d is too small for %d rows", height, e.fixtures.bigSpans)
	}
	// Scroll to the middle and the end: the rows there are rendered, and
	// the DOM still holds only a window.
	for _, frac := range []string{"0.5", "1"} {
		js[bool](t, ctx, `(() => { const el = document.querySelector('.timeline'); el.scrollTop = (el.scrollHeight - el.clientHeight) * `+frac+`; return true; })()`)
		waitJS(t, ctx, "rows at "+frac, `(() => { const el = document.querySelector('.timeline');
			const r = [...el.querySelectorAll('.row')].map(x => x.getBoundingClientRect());
			const box = el.getBoundingClientRect();
			return r.some(x => x.top >= box.top + 20 && x.bottom <= box.bottom); })()`)
		if n := count(t, ctx, ".timeline .row"); n > 200 {
			t.Errorf("%d rows in the DOM after scrolling, want a window", n)
		}
	}
	e.shot(t, ctx, "big-trace-end")
	// Collapse all and expand all stay quick (timed in the page).
	ms := js[float64](t, ctx, `(() => { window.__t = performance.now(); document.querySelector('#collapse-all').click(); return 0; })()`)
	waitJS(t, ctx, "collapsed", `document.querySelectorAll('.timeline .row').length === 1`)
	ms = js[float64](t, ctx, `performance.now() - window.__t`)
	js[float64](t, ctx, `(() => { window.__t = performance.now(); document.querySelector('#expand-all').click(); return 0; })()`)
	waitJS(t, ctx, "expanded", `document.querySelectorAll('.timeline .row').length > 10`)
	t.Logf("collapse all took %.0f ms, expand all %.0f ms (upper bounds: polling)", ms, js[float64](t, ctx, `performance.now() - window.__t`))
	// Find walks to a deep match.
	typeInto(t, ctx, "#find-in-trace", "op-36 step 3")
	waitJS(t, ctx, "matches", `/of \d+/.test(document.querySelector('#find-count').textContent)`)
	e.open(t, ctx, "/trace/"+e.fixtures.big)
	waitJS(t, ctx, "rows", `document.querySelector('.timeline .row')`)
	e.shot(t, ctx, "big-trace")
}

func TestHostileStringsStayText(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	pwned := func(where string) {
		t.Helper()
		if v := js[string](t, ctx, `String(window.__pwned)`); v != "undefined" {
			t.Fatalf("%s: a hostile string ran as script (window.__pwned = %s)", where, v)
		}
		if n := count(t, ctx, `img[src="x"], svg[onload], b[onmouseover], #app script`); n != 0 {
			t.Fatalf("%s: %d elements were created from hostile strings", where, n)
		}
	}
	// Search results list the hostile trace's root service and operation.
	e.open(t, ctx, "/search?lookback=1h&limit=100")
	waitJS(t, ctx, "results", `document.querySelector('.result[data-trace-id=`+q(e.fixtures.hostile)+`]')`)
	if got := text(t, ctx, `.result[data-trace-id=`+q(e.fixtures.hostile)+`] .result-title`); !strings.Contains(got, xssImg) || !strings.Contains(got, xssScript) {
		t.Errorf("hostile result title is %q, want the names as text", got)
	}
	clickUntil(t, ctx, "open the hostile trace from its point", `.scatter circle[data-trace-id=`+q(e.fixtures.hostile)+`]`, `document.querySelector('.timeline .row')`)
	pwned("search and scatter")

	// The timeline, the span detail (attributes, resource, events, status).
	click(t, ctx, `.row[aria-level="1"]`)
	waitJS(t, ctx, "detail", `document.querySelector('.detail')`)
	d := text(t, ctx, ".detail")
	for _, want := range []string{xssImg, xssScript, xssAttr, xssKey, "javascript:window.__pwned='href'",
		`</script><script>window.__pwned='json'</script>`} {
		if !strings.Contains(d, want) {
			t.Errorf("span detail does not show %q as text", want)
		}
	}
	if n := count(t, ctx, `.detail a[href^="javascript"]`); n != 0 {
		t.Errorf("%d javascript: links in the span detail", n)
	}
	e.shot(t, ctx, "hostile")
	pwned("span detail")
	typeInto(t, ctx, "#find-in-trace", "<script>")
	waitJS(t, ctx, "find", `document.querySelector('#find-count').textContent.includes('of')`)
	click(t, ctx, "#tab-table")
	waitJS(t, ctx, "statistics", `document.querySelector('table.stats tbody tr')`)
	click(t, ctx, "#tab-flame")
	waitJS(t, ctx, "flamegraph", `document.querySelector('.flame-box')`)
	pwned("statistics and flamegraph")

	// The dependency graph names the hostile service as text.
	e.open(t, ctx, "/dependencies")
	waitJS(t, ctx, "graph", `document.querySelector('.dep-graph .node')`)
	if n := js[int](t, ctx, `[...document.querySelectorAll('.dep-graph .node')].filter(n => n.dataset.service === `+q(xssImg)+`).length`); n != 1 {
		t.Errorf("hostile service appears %d times in the graph, want once as text", n)
	}
	pwned("dependencies")

	// A hostile trace file opened in the browser.
	e.open(t, ctx, "/open")
	path := writeFile(t, "hostile.json", hostileOTLP)
	run(t, ctx, "choose the file", chromedp.SetUploadFiles(chromedp.CSS("#trace-file"), []string{path}))
	waitJS(t, ctx, "the file's trace", `document.querySelector('.timeline .row')`)
	click(t, ctx, `.row[aria-level="1"]`)
	waitJS(t, ctx, "detail", `document.querySelector('.detail')`)
	if d := text(t, ctx, ".detail"); !strings.Contains(d, `<img src=x onerror=window.__pwned='file'>`) {
		t.Errorf("hostile file attribute not shown as text: %s", d)
	}
	pwned("trace file")
}

func TestOpenFile(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/open")
	path := writeFile(t, "otlp.json", sampleOTLP)
	run(t, ctx, "choose the file", chromedp.SetUploadFiles(chromedp.CSS("#trace-file"), []string{path}))
	waitJS(t, ctx, "the trace", `document.querySelectorAll('.timeline .row').length === 3`)
	if got := text(t, ctx, ".trace-title h1"); got != "shop: GET /cart" {
		t.Errorf("file trace title = %q", got)
	}
	if got := text(t, ctx, ".file-badge"); !strings.Contains(got, "otlp.json") {
		t.Errorf("file badge = %q", got)
	}
	e.shot(t, ctx, "open-file")

	// A Jaeger JSON file (as Download JSON writes it) with two traces lists both.
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch('api/traces?traceID=`+e.fixtures.checkoutA+
		`&traceID=`+e.fixtures.checkoutB+`').then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("cannot fetch two traces as Jaeger JSON: %v", err)
	}
	e.open(t, ctx, "/open")
	path = writeFile(t, "jaeger.json", body)
	run(t, ctx, "choose the file", chromedp.SetUploadFiles(chromedp.CSS("#trace-file"), []string{path}))
	waitJS(t, ctx, "two traces", `document.querySelectorAll('.result').length === 2`)
	click(t, ctx, ".result .result-title")
	waitJS(t, ctx, "a trace", `document.querySelectorAll('.timeline .row').length >= 6`)

	// A file that is neither is refused with a message.
	e.open(t, ctx, "/open")
	path = writeFile(t, "bad.json", `{"hello": "world"}`)
	run(t, ctx, "choose the file", chromedp.SetUploadFiles(chromedp.CSS("#trace-file"), []string{path}))
	if got := text(t, ctx, ".error-box"); !strings.Contains(got, "no spans") {
		t.Errorf("bad file error = %q", got)
	}
}

func TestMinimapSelectsTimeRange(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/trace/"+e.fixtures.checkoutA)
	waitJS(t, ctx, "rows", `document.querySelectorAll('.timeline .row').length === 6`)
	// Drag across the second half of the minimap.
	js[bool](t, ctx, `(() => {
		const m = document.querySelector('.minimap'), r = m.getBoundingClientRect(), y = r.top + r.height / 2;
		const ev = (type, f) => new PointerEvent(type, {clientX: r.left + r.width * f, clientY: y, button: 0, bubbles: true});
		m.dispatchEvent(ev('pointerdown', 0.5));
		window.dispatchEvent(ev('pointermove', 0.7));
		window.dispatchEvent(ev('pointerup', 1));
		return true; })()`)
	waitJS(t, ctx, "zoomed in", `document.querySelector('.mm-reset')`)
	// The ruler now starts at half the trace (60ms of 120ms).
	if got := text(t, ctx, ".ruler-track .tick"); got != "60ms" {
		t.Errorf("first tick after zooming to the second half is %q, want 60ms", got)
	}
	// The cart call (8-23ms) is outside the view: its row has no bar.
	if n := js[int](t, ctx, `[...document.querySelectorAll('.row')].filter(r => r.querySelector('.svc').textContent === 'cart' && r.querySelector('.bar')).length`); n != 0 {
		t.Error("a span outside the selected range still has a bar")
	}
	e.shot(t, ctx, "minimap-zoom")
	click(t, ctx, ".mm-reset")
	waitJS(t, ctx, "whole trace", `!document.querySelector('.mm-reset') && document.querySelector('.ruler-track .tick').textContent === '0'`)
}
