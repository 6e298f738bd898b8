package limits

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const sample = `
defaults:
  ingestion_rate_bytes: 1MiB
  max_attributes_per_span: 8
  retention: 24h
  max_search_limit: 100
tenants:
  team-a:
    ingestion_rate_bytes: 10MiB
    ingestion_burst_bytes: 20MiB
    max_bytes_per_trace: 1MB
    retention: 168h
`

func TestParse(t *testing.T) {
	def, tenants, err := parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{IngestionRateBytes: 1 << 20, IngestionBurstBytes: 1 << 20, MaxAttributesPerSpan: 8, Retention: 24 * time.Hour, MaxSearchLimit: 100}
	if def != want {
		t.Errorf("defaults: got %v\nwant %v", def, want)
	}
	a := tenants["team-a"]
	wantA := Limits{IngestionRateBytes: 10 << 20, IngestionBurstBytes: 20 << 20, MaxBytesPerTrace: 1_000_000,
		MaxAttributesPerSpan: 8, Retention: 168 * time.Hour, MaxSearchLimit: 100}
	if a != wantA {
		t.Errorf("team-a (its own values over the defaults): got %v\nwant %v", a, wantA)
	}
	for name, bad := range map[string]string{
		"unknown key":     "defaults:\n  ingestion_rate: 1MiB\n",
		"bad size":        "defaults:\n  ingestion_rate_bytes: lots\n",
		"negative count":  "defaults:\n  max_links_per_span: -1\n",
		"bad duration":    "defaults:\n  retention: forever\n",
		"short retention": "defaults:\n  retention: 10ms\n",
		"bad tenant":      "tenants:\n  ../x:\n    retention: 1h\n",
		"not yaml":        "defaults: [",
	} {
		if _, _, err := parse([]byte(bad)); err == nil {
			t.Errorf("%s: parsed %q without an error", name, bad)
		}
	}
}

func TestOverridesReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limits.yaml")
	writeFile(t, path, sample)
	c := newClock()
	o, err := New(Config{File: path, ReloadInterval: 10 * time.Second}, telemetry.Settings{Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.For("team-b").IngestionRateBytes; got != 1<<20 {
		t.Errorf("team-b, not in the file, gets the defaults: rate %d", got)
	}
	writeFile(t, path, "defaults:\n  ingestion_rate_bytes: 2MiB\n")
	os.Chtimes(path, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	if got := o.For("").IngestionRateBytes; got != 1<<20 {
		t.Errorf("before the reload interval: rate %d, want the old 1MiB", got)
	}
	c.Add(11 * time.Second)
	if got := o.For("").IngestionRateBytes; got != 2<<20 {
		t.Errorf("after the reload interval: rate %d, want the new 2MiB", got)
	}
	if got := o.For("team-a").IngestionRateBytes; got != 2<<20 {
		t.Errorf("team-a is gone from the file: rate %d, want the defaults", got)
	}
	writeFile(t, path, "defaults:\n  ingestion_rate_bytes: nonsense\n")
	os.Chtimes(path, time.Now().Add(2*time.Minute), time.Now().Add(2*time.Minute))
	c.Add(11 * time.Second)
	if got := o.For("").IngestionRateBytes; got != 2<<20 {
		t.Errorf("a broken file keeps the previous limits: rate %d", got)
	}
	if _, err := New(Config{File: filepath.Join(t.TempDir(), "missing.yaml")}, telemetry.Nop()); err == nil {
		t.Error("a missing file was accepted at start")
	}
	var none *Overrides
	if none.For("x") != (Limits{}) || none.Retention("x") != 0 {
		t.Error("a nil Overrides has limits")
	}
}

func TestRate(t *testing.T) {
	r := NewRate()
	l := Limits{IngestionRateBytes: 1000, IngestionBurstBytes: 3000}
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := r.Take("a", l, 1000, now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := r.Take("a", l, 1000, now)
	if ok || wait < time.Second {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused with a wait", ok, wait)
	}
	if ok, _ := r.Take("b", l, 1000, now); !ok {
		t.Error("tenant b refused because tenant a is over its rate")
	}
	if ok, _ := r.Take("a", l, 1000, now.Add(1100*time.Millisecond)); !ok {
		t.Error("a second later, a second of rate was refused")
	}
	if ok, _ := r.Take("c", l, 5000, now); !ok {
		t.Error("a request over the burst is let through on a full bucket")
	}
	if ok, _ := r.Take("c", l, 1, now.Add(time.Second)); ok {
		t.Error("after a request over the burst, the bucket is in debt")
	}
	if ok, _ := r.Take("d", Limits{}, 1<<30, now); !ok {
		t.Error("no rate limit refused a request")
	}
}

func TestTruncate(t *testing.T) {
	kv := func(k, v string) model.KeyValue { return model.KeyValue{Key: k, Value: model.StringValue(v)} }
	sp := &model.Span{
		Attributes:             []model.KeyValue{kv("a", "0123456789"), kv("b", "héllo wörld"), kv("c", "x"), kv("d", "y")},
		DroppedAttributesCount: 1,
		Events:                 []model.Event{{Name: "e1", Attributes: []model.KeyValue{kv("k1", "v"), kv("k2", "v"), kv("k3", "v")}}, {Name: "e2"}, {Name: "e3"}},
		Links:                  []model.Link{{}, {}},
	}
	sp.Attributes = append(sp.Attributes, model.KeyValue{Key: "arr", Value: model.Value{Type: model.ValueArray, Array: []model.Value{model.StringValue("long string")}}})
	got := Truncate([]*model.Span{sp}, Limits{MaxAttributesPerSpan: 3, MaxEventsPerSpan: 2, MaxLinksPerSpan: 1, MaxAttributeValueLength: 5})
	if want := (Truncated{Attributes: 2, Events: 1, Links: 1, Values: 2}); got != want {
		t.Errorf("counts: got %+v, want %+v", got, want)
	}
	if len(sp.Attributes) != 3 || sp.DroppedAttributesCount != 3 {
		t.Errorf("attributes: %d kept, dropped count %d; want 3 and 1+2", len(sp.Attributes), sp.DroppedAttributesCount)
	}
	if sp.Attributes[0].Value.Str != "01234" {
		t.Errorf("value cut to 5 bytes: %q", sp.Attributes[0].Value.Str)
	}
	if v := sp.Attributes[1].Value.Str; v != "héll" { // é is two bytes: h é l l is five
		t.Errorf("value cut on a UTF-8 boundary: %q, want %q", v, "héll")
	}
	if len(sp.Events) != 2 || sp.DroppedEventsCount != 1 || len(sp.Links) != 1 || sp.DroppedLinksCount != 1 {
		t.Errorf("events %d (dropped %d), links %d (dropped %d)", len(sp.Events), sp.DroppedEventsCount, len(sp.Links), sp.DroppedLinksCount)
	}
	// Event attributes are held to the same count (3 kept of 3: none cut).
	if len(sp.Events[0].Attributes) != 3 || sp.Events[0].DroppedAttributesCount != 0 {
		t.Errorf("event attributes: %d, dropped %d", len(sp.Events[0].Attributes), sp.Events[0].DroppedAttributesCount)
	}
	if got := Truncate([]*model.Span{sp}, Limits{}); got.Any() {
		t.Errorf("no limits cut %+v", got)
	}
}

func TestTraceSizes(t *testing.T) {
	ts := NewTraceSizes(time.Minute, 100)
	now := time.Unix(1000, 0)
	span := func(trace byte) *model.Span { sp := &model.Span{}; sp.TraceID[0] = trace; return sp }
	// 3 spans in 300 bytes: 100 each.
	keep, errs := ts.Admit("a", []*model.Span{span(1), span(1), span(2)}, 300, 250, now)
	if len(keep) != 3 || len(errs) != 0 {
		t.Fatalf("within the max: kept %d, %v", len(keep), errs)
	}
	keep, errs = ts.Admit("a", []*model.Span{span(1), span(2)}, 200, 250, now)
	if len(keep) != 1 || keep[0].TraceID[0] != 2 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "max of 250 bytes") {
		t.Fatalf("trace 1 at 300 of 250: kept %d, %v", len(keep), errs)
	}
	if keep, _ := ts.Admit("b", []*model.Span{span(1)}, 100, 250, now); len(keep) != 1 {
		t.Error("tenant b's trace 1 refused for tenant a's")
	}
	if keep, _ := ts.Admit("a", []*model.Span{span(1)}, 10, 250, now.Add(30*time.Second)); len(keep) != 0 {
		t.Error("a trace over its max took more spans")
	}
	// Two windows later the trace is forgotten.
	ts.Admit("a", []*model.Span{span(8)}, 1, 250, now.Add(61*time.Second))
	ts.Admit("a", []*model.Span{span(9)}, 1, 250, now.Add(122*time.Second))
	if keep, _ := ts.Admit("a", []*model.Span{span(1)}, 10, 250, now.Add(123*time.Second)); len(keep) != 1 {
		t.Error("a trace not seen for two windows is still held")
	}
}

func TestReaderNarrowsSearches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limits.yaml")
	writeFile(t, path, "defaults:\n  max_search_limit: 5\n  max_search_lookback: 1h\ntenants:\n  big:\n    max_search_limit: 50\n")
	c := newClock()
	o, err := New(Config{File: path}, telemetry.Settings{Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	var seen storage.Query
	r := NewReader(recordingReader{q: &seen}, o, c)
	ctx, w := storage.WithWarnings(context.Background())
	if _, err := r.FindTraceIDs(ctx, storage.Query{Limit: 20, Kind: storage.AnyKind}); err != nil {
		t.Fatal(err)
	}
	hourAgo := uint64(c.Now().Add(-time.Hour).UnixNano())
	if seen.Limit != 5 || seen.StartMin != hourAgo {
		t.Errorf("searched with limit %d from %d, want 5 from %d", seen.Limit, seen.StartMin, hourAgo)
	}
	if len(w.List()) != 2 {
		t.Errorf("warnings: %q, want one for the limit and one for the window", w.List())
	}
	if _, err := r.FindTraceIDs(storage.WithTenant(context.Background(), "big"), storage.Query{Limit: 20, Kind: storage.AnyKind, StartMin: hourAgo + 1}); err != nil {
		t.Fatal(err)
	}
	if seen.Limit != 20 || seen.StartMin != hourAgo+1 {
		t.Errorf("within the limits: searched with limit %d from %d", seen.Limit, seen.StartMin)
	}
}

// recordingReader records the query it is asked.
type recordingReader struct {
	storage.Reader
	q *storage.Query
}

func (r recordingReader) FindTraceIDs(_ context.Context, q storage.Query) ([]storage.TraceRef, error) {
	*r.q = q
	return nil, nil
}
