package query

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
)

func TestConfigValidate(t *testing.T) {
	valid := []Config{
		{},
		{BasePath: "/"},
		{BasePath: "/jaeger"},
		{BasePath: "/a/b"},
		{DefaultLimit: 50, MaxLimit: 50},
		{MaxLimit: 5}, // the default limit is capped at MaxLimit
		{DefaultLookback: 24 * time.Hour},
	}
	for _, c := range valid {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	invalid := []struct {
		cfg     Config
		mention string
	}{
		{Config{BasePath: "jaeger"}, "base path"},
		{Config{BasePath: "/jaeger/"}, "base path"},
		{Config{BasePath: "/a//b"}, "base path"},
		{Config{BasePath: "/{x}"}, "base path"},
		{Config{DefaultLimit: -1}, "default limit"},
		{Config{MaxLimit: -1}, "max limit"},
		{Config{DefaultLimit: 100, MaxLimit: 10}, "greater than max limit"},
		{Config{DefaultLimit: 2000}, "greater than max limit 1500"},
		{Config{DefaultLookback: -time.Hour}, "lookback"},
	}
	for _, tt := range invalid {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%+v: error %v, want one mentioning %q", tt.cfg, err, tt.mention)
		}
		if _, err := NewHandler(tt.cfg, newEmptyStore(t), telemetry.Nop()); err == nil {
			t.Errorf("%+v: NewHandler accepted it", tt.cfg)
		}
	}
	if _, err := NewHandler(Config{}, nil, telemetry.Nop()); err == nil {
		t.Error("NewHandler accepted a nil reader")
	}
}

func TestUnknownAPIPaths(t *testing.T) {
	s := newServer(t, Config{})
	for _, path := range []string{"/api/nothing", "/api/services/frontend", "/api/traces/" + jaegerA + "/spans", "/api/services/"} {
		e := s.get(t, path).jaeger(t, http.StatusNotFound)
		if len(e.Errors) != 1 || e.Errors[0].Code != 404 || !strings.Contains(e.Errors[0].Msg, path) {
			t.Errorf("%s: errors %+v", path, e.Errors)
		}
	}
	r := s.get(t, "/api/v3/nothing")
	r.checkJSON(t, http.StatusNotFound)
	if e := decode[v3Err](t, r.body); e.Error.HTTPCode != 404 {
		t.Errorf("v3 404 body %s", r.body)
	}
	// Without a UI, other paths are plain 404s.
	if r := s.get(t, "/"); r.status != http.StatusNotFound {
		t.Errorf("/ without a UI: status %d", r.status)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	s := newServer(t, Config{})
	r := s.do(t, http.MethodPost, "/api/services")
	e := r.jaeger(t, http.StatusMethodNotAllowed)
	if len(e.Errors) != 1 || e.Errors[0].Code != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("body %s, Allow %q", r.body, r.header.Get("Allow"))
	}
	r = s.do(t, http.MethodDelete, "/api/v3/traces/"+jaegerA)
	r.checkJSON(t, http.StatusMethodNotAllowed)
	if e := decode[v3Err](t, r.body); e.Error.HTTPCode != 405 {
		t.Errorf("v3 body %s", r.body)
	}
	if r := s.do(t, http.MethodHead, "/api/services"); r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("HEAD: status %d, body %q", r.status, r.body)
	}
}

func TestUIAndBasePath(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ui:"+r.URL.Path)
	})
	s := newServer(t, Config{BasePath: "/jaeger", UI: ui})

	e := s.get(t, "/jaeger/api/services").jaeger(t, http.StatusOK)
	if got := decode[[]string](t, e.Data); len(got) != 4 {
		t.Errorf("services under the base path: %v", got)
	}
	r := s.get(t, "/jaeger/api/v3/services")
	r.checkJSON(t, http.StatusOK)

	for _, path := range []string{"/jaeger/", "/jaeger", "/jaeger/search", "/jaeger/static/app.js"} {
		r := s.get(t, path)
		if r.status != http.StatusOK || string(r.body) != "ui:"+path {
			t.Errorf("%s: status %d body %q, want the UI", path, r.status, r.body)
		}
	}
	// Unknown API paths stay JSON 404s, never the UI's.
	s.get(t, "/jaeger/api/nothing").jaeger(t, http.StatusNotFound)
	// Nothing is served outside the base path.
	for _, path := range []string{"/api/services", "/"} {
		if r := s.get(t, path); r.status != http.StatusNotFound {
			t.Errorf("%s outside the base path: status %d", path, r.status)
		}
	}

	root := newServer(t, Config{UI: ui})
	if r := root.get(t, "/trace/abc"); string(r.body) != "ui:/trace/abc" {
		t.Errorf("UI at the root: %q", r.body)
	}
}

func TestConfiguredLimits(t *testing.T) {
	s := newServer(t, Config{DefaultLimit: 2, MaxLimit: 3, DefaultLookback: 6 * time.Hour})
	// The default lookback of 6h reaches trace D; the default limit is 2.
	if got := search(t, s, "service", "frontend"); !slices.Equal(got, []string{jaegerC, jaegerA}) {
		t.Errorf("default limit: %v", got)
	}
	if got := search(t, s, "service", "frontend", "limit", "3"); !slices.Equal(got, []string{jaegerC, jaegerA, jaegerD}) {
		t.Errorf("limit 3: %v", got)
	}
	e := s.get(t, "/api/traces", "limit", "4").jaeger(t, http.StatusBadRequest)
	if !strings.Contains(e.Errors[0].Msg, "maximum of 3") {
		t.Errorf("limit 4: %v", e.Errors)
	}
}

func TestStorageFailureIsLogged(t *testing.T) {
	s := newServer(t, Config{})
	if err := s.store.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := s.get(t, "/api/services").jaeger(t, http.StatusServiceUnavailable)
	if len(e.Errors) != 1 || e.Errors[0].Code != 503 || !strings.Contains(e.Errors[0].Msg, "store is closed") {
		t.Errorf("errors %+v", e.Errors)
	}
	r := s.get(t, "/api/v3/traces/"+jaegerA)
	r.checkJSON(t, http.StatusServiceUnavailable)

	s.get(t, "/api/traces", "service", "frontend").jaeger(t, http.StatusServiceUnavailable)
	s.get(t, "/api/traces", "traceID", jaegerA).jaeger(t, http.StatusServiceUnavailable)

	log := s.log.String()
	for _, want := range []string{"level=ERROR", "path=/api/services", "status=503", "store is closed", "path=/api/v3/traces/" + jaegerA} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
