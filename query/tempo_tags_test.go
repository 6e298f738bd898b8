package query

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestTempoTags(t *testing.T) {
	s := newTempoServer(t, 150, nil)
	r := s.query.get(t, "/api/search/tags")
	r.checkJSON(t, http.StatusOK)
	names := decode[struct {
		TagNames []string `json:"tagNames"`
	}](t, r.body).TagNames
	for _, want := range []string{"db.system", "host.name", "http.method", "http.status_code", "retry", "service.name"} {
		if !slices.Contains(names, want) {
			t.Errorf("/api/search/tags: %v lacks %s", names, want)
		}
	}
	if slices.Contains(names, "rows") {
		t.Errorf("/api/search/tags: %v has the event attribute rows", names)
	}

	type scopes struct {
		Scopes []struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		} `json:"scopes"`
	}
	byScope := func(sc scopes) map[string][]string {
		m := map[string][]string{}
		for _, s := range sc.Scopes {
			m[s.Name] = s.Tags
		}
		return m
	}
	r = s.query.get(t, "/api/v2/search/tags", "start", secs(now.Add(-time.Hour)), "end", secs(now))
	r.checkJSON(t, http.StatusOK)
	all := byScope(decode[scopes](t, r.body))
	if !slices.Equal(all["span"], []string{"db.system", "http.method", "http.status_code", "retry"}) {
		t.Errorf("span scope %v", all["span"])
	}
	if !slices.Equal(all["resource"], []string{"host.name", "service.name"}) {
		t.Errorf("resource scope %v", all["resource"])
	}
	if !slices.Equal(all["event"], []string{"rows"}) {
		t.Errorf("event scope %v", all["event"])
	}
	if !slices.Contains(all["intrinsic"], "status") || !slices.Contains(all["intrinsic"], "trace:rootService") {
		t.Errorf("intrinsic scope %v", all["intrinsic"])
	}
	r = s.query.get(t, "/api/v2/search/tags", "scope", "resource")
	if one := decode[scopes](t, r.body); len(one.Scopes) != 1 || one.Scopes[0].Name != "resource" {
		t.Errorf("scope=resource: %s", r.body)
	}
	// With q, the names of the spans it answers.
	r = s.query.get(t, "/api/v2/search/tags", "scope", "span", "q", `{ name = "db" }`)
	if got := byScope(decode[scopes](t, r.body))["span"]; !slices.Equal(got, []string{"db.system"}) {
		t.Errorf(`q={ name = "db" }: span tags %v, want [db.system]`, got)
	}
	if r := s.query.get(t, "/api/v2/search/tags", "scope", "spam"); r.status != http.StatusBadRequest {
		t.Errorf("scope=spam: %d, want 400", r.status)
	}
}

func TestTempoTagValues(t *testing.T) {
	s := newTempoServer(t, 150, nil)
	values := func(path string, params ...string) []string {
		t.Helper()
		r := s.query.get(t, path, params...)
		r.checkJSON(t, http.StatusOK)
		return decode[struct {
			TagValues []string `json:"tagValues"`
		}](t, r.body).TagValues
	}
	if got := values("/api/search/tag/service.name/values"); !slices.Equal(got, []string{"svc-0", "svc-1", "svc-2", "svc-3"}) {
		t.Errorf("service.name values %v", got)
	}
	if got := values("/api/search/tag/http.status_code/values"); !slices.Equal(got, []string{"200", "500"}) {
		t.Errorf("http.status_code values %v", got)
	}
	if got := values("/api/search/tag/status.code/values"); len(got) != 3 {
		t.Errorf("status.code values %v", got)
	}

	type typed struct {
		TagValues []tempoTagValue `json:"tagValues"`
	}
	v2 := func(tag string, params ...string) []tempoTagValue {
		t.Helper()
		r := s.query.get(t, "/api/v2/search/tag/"+tag+"/values", params...)
		r.checkJSON(t, http.StatusOK)
		return decode[typed](t, r.body).TagValues
	}
	str := func(vs ...string) []tempoTagValue {
		out := make([]tempoTagValue, len(vs))
		for i, v := range vs {
			out[i] = tempoTagValue{Type: "string", Value: v}
		}
		return out
	}
	if got := v2("resource.service.name"); !slices.Equal(got, str("svc-0", "svc-1", "svc-2", "svc-3")) {
		t.Errorf("resource.service.name: %v", got)
	}
	if got := v2("span.http.status_code"); !slices.Equal(got, []tempoTagValue{{"int", "200"}, {"int", "500"}}) {
		t.Errorf("span.http.status_code: %v", got)
	}
	if got := v2("span.retry"); !slices.Equal(got, []tempoTagValue{{"bool", "false"}, {"bool", "true"}}) {
		t.Errorf("span.retry: %v", got)
	}
	if got := v2("name"); !slices.Equal(got, str("call svc-0", "call svc-1", "call svc-2", "call svc-3", "db", "op-0", "op-1", "op-2")) {
		t.Errorf("name: %v", got)
	}
	if got := v2("status"); len(got) != 3 || got[0].Type != "keyword" {
		t.Errorf("status: %v", got)
	}
	// Filtered by q: the names svc-1's spans have; the callers of svc-1
	// are svc-0's.
	if got := v2("name", "q", `{ resource.service.name = "svc-1" }`); !slices.Equal(got, str("call svc-2", "db", "op-0", "op-1", "op-2")) {
		t.Errorf(`name with q={ resource.service.name = "svc-1" }: %v`, got)
	}
	if got := v2("resource.service.name", "q", `{ name = "db" } && { resource.service.name = "svc-0" }`); !slices.Equal(got, str("svc-0", "svc-1")) {
		t.Errorf("resource.service.name with a spanset && q: %v", got)
	}
	// A q that does not parse yet (being typed) is left out.
	if got := v2("resource.service.name", "q", `{ resource.service.name = "svc-1" && }`); len(got) != 4 {
		t.Errorf("with an unfinished q: %v, want all four services", got)
	}
	if got := v2("event.rows", "q", `{ resource.service.name = "svc-1" }`); len(got) == 0 || got[0].Type != "int" {
		t.Errorf("event.rows: %v", got)
	}
	if r := s.query.get(t, "/api/v2/search/tag/{x}/values"); r.status != http.StatusBadRequest {
		t.Errorf("tag {x}: %d, want 400", r.status)
	}
}
