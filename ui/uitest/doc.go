// Package uitest holds the browser tests of Scry's web UI: headless Chromium,
// driven with chromedp, against a real HTTP server (query.NewHandler with
// ui.Handler on a memory store seeded with synthetic and hand-made traces)
// listening on 127.0.0.1:0.
//
// The tests skip, saying why, when /usr/bin/chromium (or $SCRY_CHROMIUM) is
// missing or the UI is not built (cd ui/web && npm ci && npm run build),
// unless SCRY_REQUIRE_BROWSER is set (as .ci/run does): then they fail.
// Screenshots go to $SCRY_ARTIFACTS when set, else to a temporary folder.
package uitest
