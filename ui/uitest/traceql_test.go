package uitest

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The TraceQL box of the search page, against the Tempo API of the same
// server: a query finds traces with their matched spans, a query that does
// not parse is marked at its column, names and values complete from the
// data sent, and a span's "find traces like this" runs a query for it.

// traceQLMode opens the search page in TraceQL mode with the box focused.
func traceQLMode(t *testing.T, e *env) context.Context {
	t.Helper()
	ctx := e.tab(t)
	e.open(t, ctx, "/search")
	click(t, ctx, "#mode-traceql")
	waitJS(t, ctx, "the TraceQL box", `document.querySelector('#tql-query')`)
	click(t, ctx, "#tql-query")
	return ctx
}

func TestTraceQLSearchShowsMatchedSpans(t *testing.T) {
	e := setup(t)
	ctx := traceQLMode(t, e)
	typeInto(t, ctx, "#tql-query", `{ resource.service.name = "payment" && status = error }`)
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the two checkout traces", `document.querySelectorAll('.result').length === 2`)
	if url := js[string](t, ctx, `location.search`); !strings.Contains(url, "mode=traceql") || !strings.Contains(url, "q=%7B") {
		t.Errorf("search URL %s does not keep the TraceQL query", url)
	}
	// Each trace: its root, how many of its spans matched, and which.
	for id, want := range map[string][]string{
		e.fixtures.checkoutA: {"1 of 6 spans matched", "payment", "Charge", "60ms"},
		e.fixtures.checkoutB: {"1 of 7 spans matched", "payment", "Charge", "85ms"},
	} {
		sel := `.result[data-trace-id="` + id + `"]`
		if got := text(t, ctx, sel+" .result-title"); !strings.Contains(got, "frontend: GET /checkout") {
			t.Errorf("trace %s is shown as %q, want its root frontend: GET /checkout", id, got)
		}
		if got := text(t, ctx, sel+" .match-count"); got != want[0] {
			t.Errorf("trace %s: %q, want %q", id, got, want[0])
		}
		if n := count(t, ctx, sel+" .matched-span"); n != 1 {
			t.Errorf("trace %s lists %d matched spans, want 1", id, n)
		}
		span := text(t, ctx, sel+" .matched-span")
		for _, w := range want[1:] {
			if !strings.Contains(span, w) {
				t.Errorf("trace %s: matched span %q lacks %q", id, span, w)
			}
		}
	}
	e.shot(t, ctx, "traceql-results")

	// A matched span opens its trace with the span selected.
	click(t, ctx, `.result[data-trace-id="`+e.fixtures.checkoutA+`"] .matched-span a`)
	waitJS(t, ctx, "the trace with the payment span selected", `location.pathname.endsWith(`+q("/trace/"+e.fixtures.checkoutA)+`) &&
		document.querySelector('.detail .op')?.textContent === 'Charge'`)
	if got := js[string](t, ctx, `location.search`); !strings.Contains(got, "span="+e.fixtures.payA) {
		t.Errorf("trace URL query %s does not select span %s", got, e.fixtures.payA)
	}
}

func TestTraceQLParseErrorAtItsColumn(t *testing.T) {
	e := setup(t)
	ctx := traceQLMode(t, e)
	const bad = `{ span.payment.method = }` // the } is at column 25
	typeInto(t, ctx, "#tql-query", bad)
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the parse error under the box", `document.querySelector('.tql-error')`)
	if got := text(t, ctx, ".tql-error .field-error"); !strings.HasPrefix(got, "line 1, col 25: ") {
		t.Errorf("error under the box = %q, want it to start with line 1, col 25", got)
	}
	// The caret line repeats the query with a ^ under column 25.
	caret := strings.Split(text(t, ctx, ".tql-caret"), "\n")
	if len(caret) != 2 || caret[0] != bad || caret[1] != strings.Repeat(" ", 24)+"^" {
		t.Errorf("caret lines = %q, want the query and a ^ under column 25", caret)
	}
	// In the box, the } is marked and the caret put before it.
	if got := text(t, ctx, ".tql-mark"); got != "}" {
		t.Errorf("marked text = %q, want }", got)
	}
	if got := js[int](t, ctx, `document.querySelector('#tql-query').selectionStart`); got != 24 {
		t.Errorf("caret at %d, want 24 (before the })", got)
	}
	// The mark lies under the } of the text area: the mirror lines up.
	if got := js[bool](t, ctx, `(() => {
		const ta = document.querySelector('#tql-query'), m = document.querySelector('.tql-mark').getBoundingClientRect();
		const r = ta.getBoundingClientRect();
		return m.top >= r.top && m.bottom <= r.bottom && m.left > r.left + r.width * 0.3 && m.right < r.right;
	})()`); !got {
		t.Error("the mark is not inside the box, right of its start")
	}
	if got := js[string](t, ctx, `document.querySelector('#tql-query').getAttribute('aria-invalid')`); got != "true" {
		t.Errorf("aria-invalid = %q, want true", got)
	}
	if got := text(t, ctx, ".results .error-box"); !strings.Contains(got, "line 1, col 25") {
		t.Errorf("results say %q, want the parse error", got)
	}
	e.shot(t, ctx, "traceql-parse-error")

	// Fixing the query (typed where the caret was put) takes the marks
	// away and runs.
	typeInto(t, ctx, "#tql-query", `"card" `)
	waitJS(t, ctx, "no error marks", `!document.querySelector('.tql-error') && !document.querySelector('.tql-mark')`)
	if got := js[string](t, ctx, `document.querySelector('#tql-query').value`); got != `{ span.payment.method = "card" }` {
		t.Errorf("query = %q, want the value typed before the }", got)
	}
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the card payments", `document.querySelectorAll('.result').length === 2`)
}

func TestTraceQLCompletesNamesAndValues(t *testing.T) {
	e := setup(t)
	ctx := traceQLMode(t, e)
	// After "{ span.payment.m", the attribute the fixture's payment spans carry.
	typeInto(t, ctx, "#tql-query", `{ span.payment.m`)
	waitJS(t, ctx, "span.payment.method offered", `[...document.querySelectorAll('#tql-suggest [role=option] .tql-label')].map(o => o.textContent).join() === 'span.payment.method'`)
	e.shot(t, ctx, "traceql-complete-name")
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the name taken", `document.querySelector('#tql-query').value === '{ span.payment.method '`)
	if got := js[bool](t, ctx, `document.querySelector('#tql-suggest').hidden`); !got {
		t.Error("the list stays open after a name was taken")
	}

	// After "=", its values, typed: "card" as a string.
	typeInto(t, ctx, "#tql-query", `= `)
	waitJS(t, ctx, `"card" offered`, `[...document.querySelectorAll('#tql-suggest [role=option] .tql-label')].some(o => o.textContent === '"card"')`)
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the value taken", `document.querySelector('#tql-query').value === '{ span.payment.method = "card" '`)

	// A bare { offers every scope and the intrinsics, narrowed as typed.
	typeInto(t, ctx, "#tql-query", `&& `)
	waitJS(t, ctx, "names offered after &&", `[...document.querySelectorAll('#tql-suggest [role=option] .tql-label')].some(o => o.textContent === 'resource.service.name') &&
		[...document.querySelectorAll('#tql-suggest [role=option] .tql-label')].some(o => o.textContent === 'status')`)
	typeInto(t, ctx, "#tql-query", `resource.`)
	waitJS(t, ctx, "resource names only", `(() => {
		const l = [...document.querySelectorAll('#tql-suggest [role=option] .tql-label')].map(o => o.textContent);
		return l.length > 0 && l.every(x => x.startsWith('resource.')) && l.includes('resource.host.name');
	})()`)
	typeInto(t, ctx, "#tql-query", `service`)
	waitJS(t, ctx, "resource.service.name first", `document.querySelector('#tql-suggest [role=option] .tql-label')?.textContent === 'resource.service.name'`)
	key(t, ctx, kb.Tab)
	// The values come from the spans the query so far matches (it is sent
	// as q): card payments are made by the payment service alone.
	typeInto(t, ctx, "#tql-query", `= "`)
	waitJS(t, ctx, "only payment offered", `[...document.querySelectorAll('#tql-suggest [role=option] .tql-label')].map(o => o.textContent).join() === '"payment"'`)
	key(t, ctx, kb.Enter)
	typeInto(t, ctx, "#tql-query", `}`)
	if got := js[string](t, ctx, `document.querySelector('#tql-query').value`); got != `{ span.payment.method = "card" && resource.service.name = "payment" }` {
		t.Errorf("query = %q", got)
	}
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the two checkout traces", `document.querySelectorAll('.result').length === 2 && document.querySelectorAll('.matched-span').length === 2`)
}

func TestFindTracesLikeThis(t *testing.T) {
	e := setup(t)
	ctx := e.tab(t)
	e.open(t, ctx, "/trace/"+e.fixtures.checkoutA+"?span="+e.fixtures.payA)
	waitJS(t, ctx, "the payment span's detail", `document.querySelector('.detail .op')?.textContent === 'Charge'`)
	click(t, ctx, "#find-like-this")
	want := `{ resource.service.name = "payment" && name = "Charge" }`
	waitJS(t, ctx, "the TraceQL box filled", `document.querySelector('#tql-query')?.value === `+q(want))
	waitJS(t, ctx, "the trace found", `document.querySelector('.result[data-trace-id="`+e.fixtures.checkoutA+`"] .matched-span')`)
	if got := text(t, ctx, `.result[data-trace-id="`+e.fixtures.checkoutA+`"] .matched-span`); !strings.Contains(got, "Charge") {
		t.Errorf("matched span = %q, want Charge", got)
	}
	if got := js[string](t, ctx, `document.querySelector('#mode-traceql').getAttribute('aria-selected')`); got != "true" {
		t.Errorf("the TraceQL tab is not selected (aria-selected %q)", got)
	}
	// The trace is 10 minutes old (more if the tests ran long): the
	// shortest lookback that reaches it.
	if got := js[string](t, ctx, `location.search`); !strings.Contains(got, "lookback=15m") && !strings.Contains(got, "lookback=30m") {
		t.Errorf("search %s, want the shortest lookback that reaches the trace", got)
	}
	e.shot(t, ctx, "traceql-like-this")
}

// TestTraceQLMultiLineError marks an error on the second line of a query
// written over two (Shift+Enter adds a line).
func TestTraceQLMultiLineError(t *testing.T) {
	e := setup(t)
	ctx := traceQLMode(t, e)
	typeInto(t, ctx, "#tql-query", `{ name = "Charge" }`)
	run(t, ctx, "Shift+Enter", chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift)))
	typeInto(t, ctx, "#tql-query", `>> { kind = }`)
	if got := js[string](t, ctx, `document.querySelector('#tql-query').value`); got != "{ name = \"Charge\" }\n>> { kind = }" {
		t.Fatalf("query = %q, want two lines", got)
	}
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the parse error", `document.querySelector('.tql-error')`)
	if got := text(t, ctx, ".tql-error .field-error"); !strings.HasPrefix(got, "line 2, col 13: ") {
		t.Errorf("error = %q, want line 2, col 13", got)
	}
	caret := strings.Split(text(t, ctx, ".tql-caret"), "\n")
	if len(caret) != 2 || caret[0] != ">> { kind = }" || caret[1] != strings.Repeat(" ", 12)+"^" {
		t.Errorf("caret lines = %q, want the second line and a ^ under column 13", caret)
	}
	if got := text(t, ctx, ".tql-mark"); got != "}" {
		t.Errorf("marked text = %q, want }", got)
	}
	// The mark is on the box's second line, below the first.
	if got := js[bool](t, ctx, `(() => {
		const ta = document.querySelector('#tql-query').getBoundingClientRect(), m = document.querySelector('.tql-mark').getBoundingClientRect();
		return m.top > ta.top + 18 && m.bottom < ta.top + 60;
	})()`); !got {
		t.Error("the mark is not on the second line of the box")
	}
}

// TestTraceQLHostileNames: names and values from the hostile trace are
// offered and shown as text, never run.
func TestTraceQLHostileNames(t *testing.T) {
	e := setup(t)
	ctx := traceQLMode(t, e)
	typeInto(t, ctx, "#tql-query", `{ span.`)
	waitJS(t, ctx, "the hostile attribute name offered", `[...document.querySelectorAll('#tql-suggest [role=option] .tql-label')].some(o => o.textContent.includes('onmouseover'))`)
	// Taken, it is quoted so that TraceQL reads it.
	js[bool](t, ctx, `(() => {
		const o = [...document.querySelectorAll('#tql-suggest [role=option]')].find(o => o.textContent.includes('onmouseover'));
		o.dispatchEvent(new MouseEvent('mousedown', {bubbles: true, cancelable: true}));
		return true;
	})()`)
	want := `{ span.` + strings.ReplaceAll(`"`+strings.ReplaceAll(xssKey, `"`, `\"`)+`"`, "\n", "") + ` `
	waitJS(t, ctx, "the quoted name", `document.querySelector('#tql-query').value === `+q(want))
	typeInto(t, ctx, "#tql-query", `= `)
	waitJS(t, ctx, "its value offered", `[...document.querySelectorAll('#tql-suggest [role=option] .tql-label')].some(o => o.textContent.includes(`+q(`svg onload`)+`))`)
	key(t, ctx, kb.Enter)
	typeInto(t, ctx, "#tql-query", `}`)
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the hostile trace", `document.querySelectorAll('.result').length === 1 &&
		document.querySelector('.result').dataset.traceId === `+q(e.fixtures.hostile))
	if got := text(t, ctx, ".matched-span"); !strings.Contains(got, xssScript) || !strings.Contains(got, xssImg) {
		t.Errorf("matched span = %q, want its name and service as text", got)
	}
	if v := js[string](t, ctx, `String(window.__pwned)`); v != "undefined" {
		t.Fatalf("a hostile string ran as script (window.__pwned = %s)", v)
	}
}

// TestTraceQLErrorInLongQuery: the box scrolls to an error below its fold,
// and the mark scrolls with it.
func TestTraceQLErrorInLongQuery(t *testing.T) {
	e := setup(t)
	ctx := traceQLMode(t, e)
	lines := []string{"{ name = \"Charge\" }"}
	for range 12 {
		lines = append(lines, `  && { span.payment.method = "card" && resource.service.name = "payment" && status = error }`)
	}
	lines = append(lines, "  && { kind = }")
	query := strings.Join(lines, "\n")
	js[bool](t, ctx, `(() => { const el = document.querySelector('#tql-query'); el.value = `+q(query)+`;
		el.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`)
	key(t, ctx, kb.Enter)
	waitJS(t, ctx, "the parse error", `document.querySelector('.tql-error')`)
	if got := text(t, ctx, ".tql-error .field-error"); !strings.HasPrefix(got, "line 14, col 15: ") {
		t.Errorf("error = %q, want line 14, col 15", got)
	}
	waitJS(t, ctx, "the mark in view in the scrolled box", `(() => {
		const el = document.querySelector('#tql-query'), ta = el.getBoundingClientRect(), m = document.querySelector('.tql-mark').getBoundingClientRect();
		return el.scrollTop > 0 && m.top >= ta.top && m.bottom <= ta.bottom && m.left > ta.left;
	})()`)
	e.shot(t, ctx, "traceql-long-error")
}
