// Package ui serves Scry's web app: a single-page application, built from the
// TypeScript sources in web/ into dist/ and embedded in the binary, so the UI
// needs no network beyond the Scry server.
//
// Handler serves the app's files and answers its deep links (/search,
// /trace/<id>, /compare/<a>/<b>, /dependencies, /open) with index.html, into
// which it writes a <base href> for the configured base path. Every answer
// carries a Content-Security-Policy that allows scripts, styles and requests
// only from the server itself, and X-Content-Type-Options: nosniff.
//
// A binary built before the app (dist/ without index.html: the repository
// keeps only dist/.gitkeep) serves a placeholder page that says how to build
// it; everything else in Scry works the same. Build the app with
//
//	cd ui/web && npm ci && npm run build
//
// and see web/README.md for its layout and tests.
package ui
