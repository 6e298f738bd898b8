package badger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrytrace/scry/internal/testkit"
	"github.com/scrytrace/scry/internal/workload"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
)

// TestBackupRestore backs up a store holding sealed blocks, pending
// chunks, two tenants and a log position while it keeps taking writes,
// restores the copy into an empty folder, and checks that the restored
// store answers as the original did when the copy began, takes new
// writes, and that a damaged copy restores nothing.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	ref := testkit.Start(t, memory.New())
	acme := storage.WithTenant(ctx, "acme")
	g := workload.New(workload.Config{Seed: 3})
	start := time.Now().Add(-20 * time.Minute)
	for i := range sealChunks + 40 { // one block sealed, 40 chunks pending
		batch := g.Batch(5, start.Add(time.Duration(i)*time.Second), time.Millisecond)
		for _, st := range []storage.Store{s, ref} {
			if err := st.WriteSpans(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.sealIndex(ctx, true); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		batch := g.Batch(5, start.Add(time.Duration(sealChunks+40+i)*time.Second), time.Millisecond)
		for _, st := range []storage.Store{s, ref} {
			if err := st.WriteSpans(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	tenantSpans := testSpans(20, "acme-svc", time.Now(), 7)
	if err := s.WriteSpans(acme, tenantSpans); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPosition(4242); err != nil {
		t.Fatal(err)
	}

	// Writes go on while the copy is made; those after it began are not
	// in it, and any of them may be.
	var copy bytes.Buffer
	stop := make(chan struct{})
	wrote := make(chan []*model.Span)
	go func() {
		var later []*model.Span
		for i := 0; ; i++ {
			select {
			case <-stop:
				wrote <- later
				return
			default:
			}
			b := testSpans(10, "late-svc", time.Now(), byte(100+i%100))
			if err := s.WriteSpans(ctx, b); err != nil {
				t.Error(err)
			}
			later = append(later, b...)
		}
	}()
	if err := s.Backup(&copy); err != nil {
		t.Fatal(err)
	}
	close(stop)
	late := <-wrote

	dir := t.TempDir()
	if err := Restore(withDir(s.cfg, dir), bytes.NewReader(copy.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	r := openTest(t, dir, nil)
	if pos, err := r.Position(); err != nil || pos != 4242 {
		t.Fatalf("restored position = %d, %v; want 4242", pos, err)
	}
	// The late writes have none of these attributes.
	for _, a := range []storage.Attribute{{Key: "http.response.status_code", Value: "500"}, {Key: "cache.hit", Value: "true"}, {Key: "customer.tier", Value: "enterprise"}} {
		q := storage.Query{Kind: storage.AnyKind, Limit: 1000, Attributes: []storage.Attribute{a}}
		want, err := ref.FindTraceIDs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.FindTraceIDs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("restored store, query %+v: %d traces, want %d", q, len(got), len(want))
		}
	}
	if got, err := r.GetTrace(acme, tenantSpans[0].TraceID, storage.TimeHint{}); err != nil || len(got) != 10 {
		t.Errorf("tenant acme's trace after restore: %d spans, %v; want 10", len(got), err)
	}
	if _, err := r.GetTrace(ctx, tenantSpans[0].TraceID, storage.TimeHint{}); !errors.Is(err, storage.ErrTraceNotFound) {
		t.Errorf("tenant acme's trace read as the default tenant after restore: %v, want not found", err)
	}
	if len(late) == 0 {
		t.Fatal("no write went on during the backup")
	}
	if svcs, _ := r.Services(ctx); len(svcs) == 0 {
		t.Error("no service after restore")
	}

	// The restored store takes writes, which read back.
	fresh := testSpans(10, "after-restore", time.Now(), 201)
	if err := r.WriteSpans(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if got, err := r.GetTrace(ctx, fresh[0].TraceID, storage.TimeHint{}); err != nil || len(got) != 10 {
		t.Errorf("a trace written after restore: %d spans, %v", len(got), err)
	}

	// Into a folder holding a store, cut short, or not a backup at all:
	// an error, and nothing left behind.
	if err := Restore(withDir(s.cfg, dir), bytes.NewReader(copy.Bytes()), nil); err == nil || !strings.Contains(err.Error(), "holds a store") {
		t.Errorf("restore over a store: %v", err)
	}
	for name, b := range map[string][]byte{
		"half":            copy.Bytes()[:copy.Len()/2],
		"all but the end": copy.Bytes()[:copy.Len()-4],
		"foreign":         []byte("PK\x03\x04 a zip file, say"),
	} {
		d := t.TempDir()
		err := Restore(withDir(s.cfg, d), bytes.NewReader(b), nil)
		if err == nil {
			t.Errorf("restore of a %s copy: no error", name)
		}
		if ents, _ := os.ReadDir(d); len(ents) != 0 || HasStore(d) {
			t.Errorf("restore of a %s copy left %d entries", name, len(ents))
		}
		if _, err := os.Stat(d + ".restoring"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("restore of a %s copy left its work folder: %v", name, err)
		}
	}
}

func withDir(c Config, dir string) Config {
	c.Dir = dir
	return c
}
