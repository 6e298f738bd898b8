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
	valid := []func(*Config){
		nil,
		func(c *Config) { c.BasePath = "/" },
		func(c *Config) { c.BasePath = "/jaeger" },
		func(c *Config) { c.BasePath = "/a/b" },
		func(c *Config) { c.DefaultLimit, c.MaxLimit = 50, 50 },
		func(c *Config) { c.DefaultLookback = 24 * time.Hour },
	}
	for _, mod := range valid {
		c := DefaultConfig()
		if mod != nil {
			mod(&c)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	invalid := []struct {
		mod     func(*Config)
		mention string
	}{
		{func(c *Config) { c.BasePath = "jaeger" }, "base path"},
		{func(c *Config) { c.BasePath = "/jaeger/" }, "base path"},
		{func(c *Config) { c.BasePath = "/a//b" }, "base path"},
		{func(c *Config) { c.BasePath = "/{x}" }, "base path"},
		{func(c *Config) { c.DefaultLimit = 0 }, "default limit"},
		{func(c *Config) { c.DefaultLimit = -1 }, "default limit"},
		{func(c *Config) { c.MaxLimit = 0 }, "max limit"},
		{func(c *Config) { c.DefaultLimit, c.MaxLimit = 100, 10 }, "greater than max limit"},
		{func(c *Config) { c.DefaultLimit = 2000 }, "greater than max limit 1500"},
		{func(c *Config) { c.DefaultLookback = 0 }, "lookback"},
		{func(c *Config) { c.DefaultLookback = -time.Hour }, "lookback"},
	}
	for _, tt := range invalid {
		c := DefaultConfig()
		tt.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%+v: error %v, want one mentioning %q", c, err, tt.mention)
		}
		if _, err := NewHandler(c, newEmptyStore(t), telemetry.Nop()); err == nil {
			t.Errorf("%+v: NewHandler accepted it", c)
		}
	}
	if _, err := NewHandler(DefaultConfig(), nil, telemetry.Nop()); err == nil {
		t.Error("NewHandler accepted a nil reader")
	}
}

func TestUnknownAPIPaths(t *testing.T) {
	s := newServer(t, nil)
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
	s := newServer(t, nil)
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
	s := newServer(t, func(c *Config) { c.BasePath, c.UI = "/jaeger", ui })

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

	root := newServer(t, func(c *Config) { c.UI = ui })
	if r := root.get(t, "/trace/abc"); string(r.body) != "ui:/trace/abc" {
		t.Errorf("UI at the root: %q", r.body)
	}
}

func TestConfiguredLimits(t *testing.T) {
	s := newServer(t, func(c *Config) { c.DefaultLimit, c.MaxLimit, c.DefaultLookback = 2, 3, 6*time.Hour })
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
	s := newServer(t, nil)
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
