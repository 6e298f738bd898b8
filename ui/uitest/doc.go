// Package uitest holds the browser tests of Scry's web UI: headless Chromium,
// driven with chromedp, against the real scry binary. The tests build
// ./cmd/scry (which embeds the built UI), start it on free loopback ports
// with its own data folder and --base-path /scry, wait for its admin
// /readyz, and seed it over OTLP/gRPC with synthetic traces (the workload
// generator) and hand-made ones: two variants of a checkout, a trace of
// hostile strings, a trace of 10,000 spans and a mesh of 50 services.
//
// The tests skip, saying why, when /usr/bin/chromium (or $SCRY_CHROMIUM) is
// missing or the UI is not built (cd ui/web && npm ci && npm run build),
// unless SCRY_REQUIRE_BROWSER is set (as .ci/run does): then they fail.
// Screenshots go to $SCRY_ARTIFACTS when set, else to a temporary folder.
// When a test fails, scry's output is printed after the run.
package uitest
