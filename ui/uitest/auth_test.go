package uitest

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/scrytrace/scry/internal/auth/authtest"
	"github.com/scrytrace/scry/internal/testbin"
)

// TestBasicAuthPrompt: with an --auth-file, the UI's page answers a
// browser 401 with a Basic challenge of realm "scry", which Chromium turns
// into its user-and-password prompt (answered here through the DevTools
// protocol, as a person would type). Cancelled, the page says
// authentication is required; with alice's password the page loads and
// the page's own API requests carry the credentials the browser keeps,
// without a second prompt. It needs Chromium, not the built UI (the
// placeholder page is behind the same guard).
func TestBasicAuthPrompt(t *testing.T) {
	if _, err := os.Stat(chromiumPath()); err != nil {
		t.Skipf("needs Chromium at %s: %v", chromiumPath(), err)
	}
	file := authtest.Write(t, authtest.Entry{User: "alice", Password: "wonder land", Scopes: []string{"read"}})
	bin, _, err := testbin.TryBuild("./cmd/scry")
	if err != nil {
		t.Fatal(err)
	}
	s, err := startScryWith(bin, t.TempDir(), false, "--auth-file="+file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	actx := newBrowser(t)

	var (
		mu         sync.Mutex
		challenges []*fetch.AuthChallenge
		answer     = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
		tab        context.Context
	)
	call := func(f func(ctx context.Context, tg *chromedp.Target) error) {
		go func() { _ = chromedp.Do(tab, chromedp.Func(f)) }()
	}
	listen := func(ev any) {
		switch ev := ev.(type) {
		case *fetch.EventRequestPaused:
			call(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				return err
			})
		case *fetch.EventAuthRequired:
			mu.Lock()
			challenges = append(challenges, ev.AuthChallenge)
			a := *answer
			mu.Unlock()
			call(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: &a})
				return err
			})
		}
	}
	tabCtx, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(listen))
	defer cancelTab()
	ctx, cancel := context.WithTimeout(tabCtx, 60*time.Second)
	defer cancel()
	tab = ctx
	handleAuth := true
	run(t, ctx, "enable request interception", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handleAuth})
		return err
	}))

	base := "http://" + s.query
	run(t, ctx, "open the UI, cancel the prompt", chromedp.Navigate(base+"/"))
	if body := js[string](t, ctx, `document.body.innerText`); !strings.Contains(body, "authentication required") {
		t.Errorf("after the prompt was cancelled the page shows %q, want the 401's text", body)
	}
	mu.Lock()
	if len(challenges) != 1 || challenges[0].Scheme != "basic" || challenges[0].Realm != "scry" {
		t.Errorf("challenges %+v, want one basic, realm scry", challenges)
	}
	answer = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: "alice", Password: "wonder land"}
	mu.Unlock()

	run(t, ctx, "open the UI, answer the prompt", chromedp.Navigate(base+"/"))
	if body := js[string](t, ctx, `document.body.innerText`); strings.Contains(body, "authentication required") {
		t.Errorf("with alice's password the page still shows %q", body)
	}
	status := js[float64](t, ctx, `(() => { const x = new XMLHttpRequest(); x.open('GET', '/api/services', false); x.send(); return x.status })()`)
	if status != 200 {
		t.Errorf("the page's own API request: %v, want 200", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(challenges) != 2 {
		t.Errorf("%d prompts, want 2 (cancelled, answered): the page's API request asked again", len(challenges))
	}
}
