package badger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/storagetest"
)

// newTest returns a store in dir, not started, with NoSync and mod's
// changes to DefaultConfig; it is shut down when t ends.
func newTest(t *testing.T, dir string, mod func(*Config)) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir, cfg.NoSync = dir, true
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, telemetry.Nop())
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return s
}

// openTest is newTest, started.
func openTest(t *testing.T, dir string, mod func(*Config)) *Store {
	t.Helper()
	return testkit.Start(t, newTest(t, dir, mod))
}

// startErr is the error of starting a new store in dir.
func startErr(t *testing.T, dir string) error {
	t.Helper()
	s := newTest(t, dir, nil)
	err := s.Start(t.Context())
	if err == nil {
		s.Shutdown(t.Context())
	}
	return err
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return newTest(t, t.TempDir(), nil)
	})
}

func TestConformanceTenants(t *testing.T) {
	storagetest.RunTenants(t, func(t *testing.T) storage.Store {
		return newTest(t, t.TempDir(), nil)
	})
	t.Run("Sealed", func(t *testing.T) {
		storagetest.RunTenants(t, func(t *testing.T) storage.Store {
			return sealingStore{newTest(t, t.TempDir(), nil)}
		})
	})
}

// TestConformanceSealed runs the suite on a store that seals its index
// after every write, so that searches with attribute conditions are
// answered from sealed blocks.
func TestConformanceSealed(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return sealingStore{newTest(t, t.TempDir(), nil)}
	})
}

// sealingStore seals the index after every write.
type sealingStore struct{ *Store }

func (s sealingStore) WriteSpans(ctx context.Context, spans []*model.Span) error {
	err := s.Store.WriteSpans(ctx, spans)
	sp, serr := s.space(ctx)
	if serr == nil {
		serr = sp.sealIndex(ctx, true)
	}
	if serr != nil && err == nil {
		err = serr
	}
	return err
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(DefaultConfig(), telemetry.Nop()); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("DefaultConfig without a folder: got %v, want an error about the data directory", err)
	}
	bad := map[string]func(*Config){
		"retention":                     func(c *Config) { c.Retention = 0 },
		"memtable":                      func(c *Config) { c.MemTableSize = 1 << 20 },
		"retention size":                func(c *Config) { c.RetentionSize = -1 },
		"size check interval":           func(c *Config) { c.RetentionSize, c.SizeCheckInterval = 1, 0 },
		"negative":                      func(c *Config) { c.SlowThreshold = -time.Second },
		"errors 1h0m0s is shorter":      func(c *Config) { c.RetentionErrors = time.Hour },
		"slow traces 1h0m0s is shorter": func(c *Config) { c.RetentionSlow = time.Hour },
		"no slow threshold":             func(c *Config) { c.RetentionSlow = 100 * time.Hour },
		"at least 36s":                  func(c *Config) { c.Retention, c.RetentionErrors = 24*time.Second, time.Hour },
		"maintenance interval":          func(c *Config) { c.MaintenanceInterval = 0 },
		"minimum free disk":             func(c *Config) { c.MinFreeDisk = -1 },
	}
	for mention, mod := range bad {
		cfg := DefaultConfig()
		cfg.Dir = t.TempDir()
		mod(&cfg)
		if _, err := New(cfg, telemetry.Nop()); err == nil || !strings.Contains(err.Error(), mention) {
			t.Errorf("%+v: got %v, want an error mentioning %q", cfg, err, mention)
		}
	}
}

func TestNewCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := newTest(t, dir, nil)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the folder exists before Start (%v)", err)
	}
	testkit.Start(t, s)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("after Start: %v", err)
	}
}

// testSpans makes n spans in traces of 10, all of service svc, starting at base.
func testSpans(n int, svc string, base time.Time, seed byte) []*model.Span {
	res := &model.Resource{Attributes: []model.KeyValue{{Key: "service.name", Value: model.StringValue(svc)}}}
	scope := &model.Scope{Name: "test"}
	spans := make([]*model.Span, n)
	for i := range spans {
		sp := &model.Span{Resource: res, Scope: scope, Name: fmt.Sprintf("op-%d", i%3)}
		sp.TraceID[0], sp.TraceID[1], sp.TraceID[2] = seed, byte(i/10>>8), byte(i/10)
		sp.SpanID[0], sp.SpanID[1], sp.SpanID[7] = byte(i>>8), byte(i), 1
		sp.StartTime = uint64(base.UnixNano()) + uint64(i)*1000
		sp.EndTime = sp.StartTime + 5000
		sp.Attributes = []model.KeyValue{
			{Key: "i", Value: model.IntValue(int64(i))},
			{Key: "payload", Value: model.StringValue(strings.Repeat(fmt.Sprint(i), 20))},
		}
		spans[i] = sp
	}
	return spans
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	spans := testSpans(100, "svc", time.Now(), 1)
	id := spans[0].TraceID
	if err := s.WriteSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	if _, err := s.GetTrace(context.Background(), id, storage.TimeHint{}); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("read after shutdown: got %v, want ErrClosed", err)
	}
	s = openTest(t, dir, nil)
	got, err := s.GetTrace(context.Background(), id, storage.TimeHint{})
	if err != nil || len(got) != 10 {
		t.Fatalf("after reopen: %d spans, %v", len(got), err)
	}
	svcs, _ := s.Services(context.Background())
	if len(svcs) != 1 || svcs[0] != "svc" {
		t.Fatalf("services after reopen: %v", svcs)
	}
	ops, _ := s.Operations(context.Background(), "svc", storage.AnyKind)
	if len(ops) != 3 {
		t.Fatalf("operations after reopen: %v", ops)
	}
}

func TestOpenRefusesUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(txn *badger.Txn) error { return txn.Set(formatKey, []byte("scry-badger-99")) })
	db.Close()
	err = startErr(t, dir)
	if err == nil || !strings.Contains(err.Error(), "unknown store format") {
		t.Fatalf("got %v, want an unknown-format error", err)
	}
}

func TestOpenRefusesForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("jaeger-key"), []byte("x")) })
	db.Close()
	err = startErr(t, dir)
	if err == nil || !strings.Contains(err.Error(), "not a Scry store") {
		t.Fatalf("got %v, want a not-a-Scry-store error", err)
	}
}

func TestOpenDamagedStoreFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, nil)
	if err := s.WriteSpans(context.Background(), testSpans(50, "svc", time.Now(), 1)); err != nil {
		t.Fatal(err)
	}
	s.Shutdown(context.Background())
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("this is not a manifest at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := startErr(t, dir)
	if err == nil || !strings.Contains(err.Error(), "cannot open store") {
		t.Fatalf("got %v, want a clear open error", err)
	}
}

func TestRetentionDeletesFromDisk(t *testing.T) {
	var now atomic.Int64
	start := time.Now()
	now.Store(start.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	cfg := DefaultConfig()
	cfg.Dir, cfg.NoSync = t.TempDir(), true
	cfg.Retention = 12 * time.Second // one-second buckets
	cfg.MaintenanceInterval = time.Hour
	s, err := New(cfg, telemetry.Settings{Clock: clockFunc(clock)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s)
	ctx := context.Background()
	old := testSpans(20000, "old", start, 1)
	if err := s.WriteSpans(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	full := s.DiskSize()

	now.Store(start.Add(30 * time.Second).UnixNano())
	fresh := testSpans(10, "fresh", clock(), 2)
	if err := s.WriteSpans(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	// Past retention, reads no longer see the old spans even before upkeep.
	if _, err := s.GetTrace(ctx, old[0].TraceID, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Fatalf("expired trace: got %v, want ErrTraceNotFound", err)
	}
	if svcs, _ := s.Services(ctx); len(svcs) != 1 || svcs[0] != "fresh" {
		t.Fatalf("services after expiry: %v", svcs)
	}
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	after := s.DiskSize()
	if after > full/2 {
		t.Fatalf("disk after dropping expired data: %d bytes, before: %d", after, full)
	}
	if _, err := s.GetTrace(ctx, fresh[0].TraceID, storage.TimeHint{}); err != nil {
		t.Fatalf("fresh trace: %v", err)
	}
}

// clockFunc is a telemetry.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// TestBuilderArenasReleased checks that Badger's pool of table-builder
// arenas is emptied as soon as a table is built (see releaseBuilderArenas):
// Badger alone keeps the arena in it for two seconds or more.
func TestBuilderArenasReleased(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	ch, ok := builderPool(s.bdb)
	if !ok {
		t.Fatal("Badger's builder pool is not where releaseBuilderArenas looks for it")
	}
	if err := s.WriteSpans(context.Background(), testSpans(1000, "svc", time.Now(), 1)); err != nil {
		t.Fatal(err)
	}
	// Dropping a prefix that has data makes Badger flush the memtable into
	// a table first.
	if err := s.bdb.Update(func(txn *badger.Txn) error { return txn.Set([]byte("~test"), nil) }); err != nil {
		t.Fatal(err)
	}
	if err := s.bdb.DropPrefix([]byte("~test")); err != nil {
		t.Fatal(err)
	}
	if len(s.bdb.Tables()) == 0 {
		t.Fatal("no table was built")
	}
	testkit.EventuallyWithin(t, time.Second, "the pooled arenas freed once a table was built", func() bool { return len(ch) == 0 })
}
