package badger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/storage"
)

// keysOf returns every key of the database.
func keysOf(t *testing.T, s *Store) [][]byte {
	t.Helper()
	var keys [][]byte
	err := s.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestTenantKeys writes the same traces for two tenants and checks the
// dump of the store's keys: every key but the store's format record starts
// with one tenant's prefix, each tenant has the same keys under its own,
// and after a restart each reads back its own data.
func TestTenantKeys(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	ctx := context.Background()
	a, b := storage.WithTenant(ctx, "team-a"), storage.WithTenant(ctx, "team-b")
	spans := testSpans(200, "checkout", time.Now(), 1)
	id := spans[0].TraceID
	for _, tctx := range []context.Context{a, b} {
		if err := s.WriteSpans(tctx, testSpans(200, "checkout", time.Now(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Maintain(ctx); err != nil { // persists dependency counts
		t.Fatal(err)
	}
	for _, sp := range s.allSpaces() {
		if err := sp.sealIndex(ctx, true); err != nil {
			t.Fatal(err)
		}
	}

	pa, pb := tenantSpace("team-a"), tenantSpace("team-b")
	var ka, kb [][]byte
	for _, k := range keysOf(t, s) {
		switch {
		case bytes.HasPrefix(k, pa):
			ka = append(ka, k[len(pa):])
		case bytes.HasPrefix(k, pb):
			kb = append(kb, k[len(pb):])
		case bytes.Equal(k, formatKey):
		default:
			t.Errorf("key %q belongs to no tenant", k)
		}
	}
	kinds := map[byte]bool{}
	for _, k := range ka {
		kinds[k[0]] = true
	}
	for _, p := range []byte{prefixBucket, prefixService, prefixOp, prefixOpSeen, prefixData, prefixIndex, prefixBlock} {
		if !kinds[p] {
			t.Errorf("team-a has no %q keys (its kinds: %q)", p, slices.Sorted(func(yield func(byte) bool) {
				for k := range kinds {
					if !yield(k) {
						return
					}
				}
			}))
		}
	}
	// Keys hold write times, so the two tenants' differ; their kinds and
	// numbers do not.
	kindsOf := func(keys [][]byte) string {
		var b []byte
		for _, k := range keys {
			b = append(b, k[0])
		}
		return string(b)
	}
	if kindsOf(ka) != kindsOf(kb) {
		t.Errorf("the same writes gave team-a keys %q and team-b %q", kindsOf(ka), kindsOf(kb))
	}

	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, nil)
	if got := s.Tenants(); !slices.Equal(got, []string{"team-a", "team-b"}) {
		t.Errorf("tenants after a restart: %q", got)
	}
	for _, tctx := range []context.Context{a, b} {
		got, err := s.GetTrace(tctx, id, storage.TimeHint{})
		if err != nil || len(got) != 10 {
			t.Errorf("GetTrace as %s after a restart: %d spans, %v; want 10", storage.TenantFrom(tctx), len(got), err)
		}
		refs, err := s.FindTraceIDs(tctx, storage.Query{Service: "checkout", Kind: storage.AnyKind, Limit: 100,
			Attributes: []storage.Attribute{{Key: "i", Value: "0"}}})
		if err != nil || len(refs) != 1 || refs[0].TraceID != id {
			t.Errorf("search as %s after a restart: %v, %v; want trace %s", storage.TenantFrom(tctx), refs, err, id)
		}
	}
	if _, err := s.GetTrace(ctx, id, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("GetTrace as the default tenant: %v, want ErrTraceNotFound", err)
	}
}

// TestTenantBadNameMakesNothing: reads and writes for a tenant name that is
// not valid create no key and no file.
func TestTenantBadNameMakesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	before := keysOf(t, s)
	files := func() []string {
		var out []string
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
			out = append(out, p)
			return nil
		})
		return out
	}
	filesBefore := files()
	for _, bad := range []string{"../../etc", "a/b", "x\x00y", "\x7f", string(bytes.Repeat([]byte{'t'}, 151))} {
		ctx := storage.WithTenant(context.Background(), bad)
		if err := s.WriteSpans(ctx, testSpans(10, "svc", time.Now(), 1)); !errors.Is(err, storage.ErrBadTenant) {
			t.Errorf("write as %q: %v, want ErrBadTenant", bad, err)
		}
		if _, err := s.Services(ctx); !errors.Is(err, storage.ErrBadTenant) {
			t.Errorf("Services as %q: %v, want ErrBadTenant", bad, err)
		}
	}
	if after := keysOf(t, s); !slices.EqualFunc(before, after, bytes.Equal) {
		t.Errorf("keys before: %q, after: %q", before, after)
	}
	if after := files(); !slices.Equal(filesBefore, after) {
		t.Errorf("files before: %q, after: %q", filesBefore, after)
	}
	if got := s.Tenants(); len(got) != 0 {
		t.Errorf("tenants: %q, want none", got)
	}
}

// TestTenantRetention: upkeep drops the expired buckets of every tenant,
// including one not used since the store was reopened.
func TestTenantRetention(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(time.Unix(1_800_000_000, 0))
	mod := func(c *Config) { c.Retention, c.MaintenanceInterval = time.Hour, time.Hour }
	open := func() *Store {
		cfg := DefaultConfig()
		cfg.Dir, cfg.NoSync = dir, true
		mod(&cfg)
		s, err := New(cfg, telemetry.Settings{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		return testkit.Start(t, s)
	}
	s := open()
	ctx := context.Background()
	a := storage.WithTenant(ctx, "team-a")
	spans := testSpans(20, "svc", clock.Now(), 1)
	if err := s.WriteSpans(a, spans); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s = open()
	clock.Add(2 * time.Hour)
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	var left int
	for _, k := range keysOf(t, s) {
		if bytes.HasPrefix(k, tenantSpace("team-a")) && k[len(tenantSpace("team-a"))] == prefixData {
			left++
		}
	}
	if left != 0 {
		t.Errorf("%d span keys of team-a left after retention", left)
	}
	if _, err := s.GetTrace(a, spans[0].TraceID, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("GetTrace past retention: %v, want ErrTraceNotFound", err)
	}
}

// TestTenantRetentionOwn: Config.TenantRetention gives a tenant a
// retention of its own; another tenant keeps the store's.
func TestTenantRetentionOwn(t *testing.T) {
	clock := newFakeClock(time.Unix(1_800_000_000, 0))
	cfg := DefaultConfig() // 72h: 6h buckets
	cfg.Dir, cfg.NoSync = t.TempDir(), true
	cfg.TenantRetention = func(tenant string) time.Duration {
		if tenant == "short" {
			return time.Hour
		}
		return 0
	}
	s, err := New(cfg, telemetry.Settings{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s)
	ctx := context.Background()
	short, long := storage.WithTenant(ctx, "short"), storage.WithTenant(ctx, "long")
	spans := testSpans(20, "svc", clock.Now(), 1)
	for _, tctx := range []context.Context{short, long} {
		if err := s.WriteSpans(tctx, testSpans(20, "svc", clock.Now(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(8 * time.Hour) // past 1h plus a 6h bucket
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTrace(short, spans[0].TraceID, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("tenant with 1h retention, 8h later: %v, want ErrTraceNotFound", err)
	}
	if got, err := s.GetTrace(long, spans[0].TraceID, storage.TimeHint{}); err != nil || len(got) != 10 {
		t.Errorf("tenant with the store's 72h retention, 8h later: %d spans, %v", len(got), err)
	}
}
