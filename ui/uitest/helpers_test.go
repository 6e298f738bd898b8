package uitest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/chromedp/chromedp"
)

// q quotes s as a JavaScript string literal.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func click(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	run(t, ctx, "click "+css, chromedp.Click(chromedp.CSS(css)))
}

// typeInto types text into an input, as a user would.
func typeInto(t *testing.T, ctx context.Context, css, text string) {
	t.Helper()
	run(t, ctx, "type into "+css, chromedp.Focus(chromedp.CSS(css)), chromedp.SendKeys(chromedp.CSS(css), text))
}

// pick chooses an option of a <select>.
func pick(t *testing.T, ctx context.Context, css, value string) {
	t.Helper()
	waitJS(t, ctx, "option "+value+" of "+css,
		`[...(document.querySelector(`+q(css)+`)?.options ?? [])].some(o => o.value === `+q(value)+`)`)
	js[bool](t, ctx, `(() => { const s = document.querySelector(`+q(css)+`); s.value = `+q(value)+
		`; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
}

func count(t *testing.T, ctx context.Context, css string) int {
	t.Helper()
	return js[int](t, ctx, `document.querySelectorAll(`+q(css)+`).length`)
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	waitJS(t, ctx, css, `document.querySelector(`+q(css)+`)`)
	return js[string](t, ctx, `document.querySelector(`+q(css)+`).textContent`)
}

// key sends a key press to the focused element.
func key(t *testing.T, ctx context.Context, keys string) {
	t.Helper()
	run(t, ctx, "press "+keys, chromedp.KeyEvent(keys))
}

// clear empties an input as if the user deleted its text.
func clear(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	js[bool](t, ctx, `(() => { const el = document.querySelector(`+q(css)+`); el.value = '';
		el.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`)
}
