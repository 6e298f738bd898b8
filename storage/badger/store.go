package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/klauspost/compress/zstd"

	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
)

// FormatVersion is the on-disk format this package writes and reads.
const FormatVersion = "scry-badger-3"

// legacyFormat is the format read as it is and upgraded in place at open
// (FORMAT.md, "Stores written as scry-badger-2").
const legacyFormat = "scry-badger-2"

// Key prefixes; FORMAT.md describes each.
const (
	prefixMeta    = 0x00
	prefixBucket  = 'b'
	prefixService = 'S'
	prefixOp      = 'O'
	prefixOpSeen  = 'u'
	prefixData    = 'd'
	prefixIndex   = 'i'
	prefixDeps    = 'g'
	prefixPending = 'p'
	prefixBlock   = 'k'
)

var (
	formatKey = []byte{prefixMeta, 'f', 'o', 'r', 'm', 'a', 't'}
	legacyKey = []byte{prefixMeta, 'l', 'e', 'g', 'a', 'c', 'y'}
)

// Defaults of Config (see DefaultConfig).
const (
	DefaultRetention           = 72 * time.Hour
	DefaultMemTableSize        = 32 << 20
	DefaultMaintenanceInterval = time.Minute
	DefaultPageReleaseInterval = 250 * time.Millisecond
)

// Config configures a Store. Start from DefaultConfig and set Dir.
type Config struct {
	// Dir is the folder that holds the Badger files. It is created if missing.
	Dir string
	// Retention is how long spans are kept, counted from their start time.
	// Data older than Retention plus one bucket width (Retention/12, at least
	// one second) is deleted from disk. Default 72h.
	Retention time.Duration
	// MemTableSize bounds each of Badger's two memtables (at least 8 MiB).
	// Default 32 MiB: 16 MiB lowered peak memory at 60k spans/s by ~25 MB
	// but doubled the p99 export latency at 20k spans/s.
	MemTableSize int64
	// NoSync skips fsync on writes: a crash of the machine (not just the
	// process) may lose the last writes. For benchmarks and tests only.
	NoSync bool
	// MaintenanceInterval is how often expired buckets are dropped, value-log
	// garbage is collected and dependency counts are flushed. Default 1 min.
	MaintenanceInterval time.Duration
	// PageReleaseInterval is how often the pages of Badger's table files
	// are unmapped from the process (they stay in the kernel's page cache;
	// see releaseTablePages), so that its resident memory does not grow
	// with the data written. Default 250 ms; zero or negative: never. Linux
	// only.
	PageReleaseInterval time.Duration
}

// DefaultConfig returns the defaults named on Config's fields, with no Dir.
func DefaultConfig() Config {
	return Config{
		Retention:           DefaultRetention,
		MemTableSize:        DefaultMemTableSize,
		MaintenanceInterval: DefaultMaintenanceInterval,
		PageReleaseInterval: DefaultPageReleaseInterval,
	}
}

// Validate reports what is wrong with the configuration.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("data directory is not set")
	}
	if c.Retention < time.Second {
		return fmt.Errorf("retention %v is shorter than one second", c.Retention)
	}
	if c.MemTableSize < 8<<20 {
		// Badger needs a value (up to 1 MiB) to fit in 15% of a memtable.
		return fmt.Errorf("memtable size %d is below 8 MiB", c.MemTableSize)
	}
	if c.MaintenanceInterval <= 0 {
		return fmt.Errorf("maintenance interval %v is not positive", c.MaintenanceInterval)
	}
	return nil
}

// bucketWidth is the span of start times one bucket covers.
func (c *Config) bucketWidth() uint32 {
	w := c.Retention / 12
	w = min(max(w, time.Second), 24*time.Hour)
	return uint32(w / time.Second)
}

// Store is the Badger-backed storage.Store. It is safe for concurrent use.
type Store struct {
	cfg      Config
	db       *badger.DB // set by Start
	log      *slog.Logger
	clock    telemetry.Clock
	width    uint32
	tableDir string // cfg.Dir, absolute, symbolic links resolved

	// life is held shared by every call that uses db and exclusively by
	// Start and Shutdown when they change closed, so Shutdown waits for
	// calls in progress.
	life   sync.RWMutex
	closed bool // calls fail: true before Start and after Shutdown

	startMu sync.Mutex // serialises Start and Shutdown
	shut    bool       // Shutdown was called; guarded by startMu

	mu      sync.RWMutex      // guards the dictionaries and bucket list below
	buckets map[uint32]uint32 // bucket start (Unix s) -> width (s)
	svcByID []string
	svcIDs  map[string]uint32
	ops     []opInfo          // by op ID
	opIDs   map[opKey]uint32  // (service, kind, name) -> op ID
	opSeen  map[uint32]bitset // bucket -> op IDs seen in it
	dicts   [2]blobDict       // resources, scopes
	deps    *depTracker

	writeMu sync.Mutex // serialises dictionary and marker updates

	encoders sync.Pool // *encoder, reused across writes
	zenc     *zstd.Encoder
	zdec     *zstd.Decoder

	stop context.CancelFunc // stops maintain
	done chan struct{}      // closed when maintain has returned

	idx sealedIndex // sealed blocks and pending chunks (seal.go)
	// legacyChunks makes writes use the scry-badger-2 chunk version (16-bit
	// hashes, no pending markers); tests use it to build old stores.
	legacyChunks bool
}

type opKey struct {
	svc  uint32
	kind model.SpanKind
	name string
}

type opInfo struct {
	svc  uint32
	kind model.SpanKind
	name string
}

var _ storage.Store = (*Store)(nil)

// New returns a Store for cfg, logging to tel.Logger and reading
// tel.Clock. It only checks cfg: Start opens the store.
func New(cfg Config, tel telemetry.Settings) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid badger store config: %w", err)
	}
	tel = tel.Complete()
	return &Store{cfg: cfg, log: tel.Logger, clock: tel.Clock, width: cfg.bucketWidth(), closed: true}, nil
}

// Start opens or creates the store in its folder and starts its upkeep
// (see Maintain). It fails with a clear error, rather than crashing, if the
// folder holds a damaged store, another program's data, or a store in a
// format this version does not know. Opening reads only the dictionaries
// and bucket list, not the spans, so it takes about the same time whatever
// the store's size. A second Start fails; after Shutdown Start fails with
// storage.ErrClosed.
func (s *Store) Start(context.Context) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.shut {
		return storage.ErrClosed
	}
	if s.db != nil {
		return errors.New("cannot start store: already started")
	}
	if err := s.open(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	s.life.Lock()
	s.closed = false
	s.life.Unlock()
	go s.maintain(ctx)
	return nil
}

// open opens Badger and loads the dictionaries. On failure it leaves
// nothing open.
func (s *Store) open() error {
	cfg := s.cfg
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("cannot create data directory: %w", err)
	}
	opts := badger.DefaultOptions(cfg.Dir).
		WithLogger(badgerLogger{s.log}).
		WithMetricsEnabled(false).
		WithDetectConflicts(false).
		WithSyncWrites(!cfg.NoSync).
		WithMemTableSize(cfg.MemTableSize).
		WithNumMemtables(2).
		// Two level-0 tables per compaction rather than Badger's five:
		// each compaction's new tables stay mapped until it ends, and
		// smaller ones cut peak memory at 60k spans/s by ~70 MB (for ~8%
		// of peak ingest and a few ms of p99 export latency).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(12).
		WithNumCompactors(2).
		// No block or index cache: Badger reads uncompressed, unencrypted
		// tables straight from their memory maps, and its caches (256 MiB
		// of blocks by default) would only add copies.
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		// Span groups are zstd-compressed already; Snappy over the
		// tables saved ~4% of disk and cost ~15% of ingest throughput.
		WithCompression(options.None).
		WithValueThreshold(1 << 20).
		WithValueLogFileSize(256 << 20).
		WithNumGoroutines(2)
	zenc, zdec, err := newZstd()
	if err != nil {
		return err
	}
	db, err := openBadger(opts)
	if err != nil {
		zenc.Close()
		zdec.Close()
		return fmt.Errorf("cannot open store in %s: %w", cfg.Dir, err)
	}
	if !releaseBuilderArenas(db) {
		s.log.Warn("cannot reach Badger's table-builder arena pool; it will keep up to eight arenas")
	}
	s.db, s.zenc, s.zdec = db, zenc, zdec
	s.tableDir = resolvedDir(cfg.Dir)
	s.buckets = map[uint32]uint32{}
	s.svcByID, s.svcIDs = nil, map[string]uint32{}
	s.ops, s.opIDs = nil, map[opKey]uint32{}
	s.opSeen = map[uint32]bitset{}
	s.dicts = [2]blobDict{}
	s.encoders.New = func() any { return newEncoder() }
	s.deps = newDepTracker()
	s.idx.reset()
	err = s.checkFormat()
	if err == nil {
		err = s.load()
	}
	if err == nil {
		err = s.loadIndex()
	}
	if err != nil {
		s.closeCodecs()
		db.Close()
		s.db = nil
		return fmt.Errorf("cannot open store in %s: %w", cfg.Dir, err)
	}
	return nil
}

// resolvedDir returns dir as the kernel names it in /proc/self/maps.
func resolvedDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return dir
}

// openBadger turns a panic inside Badger on a damaged folder into an error.
func openBadger(opts badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged store: %v", r)
		}
	}()
	return badger.Open(opts)
}

// checkFormat writes the format version into a new store and checks it in an
// existing one.
func (s *Store) checkFormat() error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			it := txn.NewIterator(badger.IteratorOptions{})
			it.Rewind()
			empty := !it.Valid()
			it.Close()
			if !empty {
				return errors.New("the folder holds a Badger database that is not a Scry store (no format version)")
			}
			if s.legacyChunks {
				return txn.Set(formatKey, []byte(legacyFormat))
			}
			return txn.Set(formatKey, []byte(FormatVersion))
		}
		if err != nil {
			return fmt.Errorf("cannot read format version: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("cannot read format version: %w", err)
		}
		if string(v) == legacyFormat && !s.legacyChunks {
			return s.upgradeLegacy(txn)
		}
		if string(v) != FormatVersion && !(s.legacyChunks && string(v) == legacyFormat) {
			return fmt.Errorf("unknown store format %q (this version reads %q and %q)", v, FormatVersion, legacyFormat)
		}
		return nil
	})
}

// load reads the bucket list and the dictionaries.
func (s *Store) load() error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Seek([]byte{prefixBucket}); it.ValidForPrefix([]byte{prefixBucket}); it.Next() {
			k := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil || len(k) != 5 || len(v) != 4 {
				return fmt.Errorf("damaged bucket record %x", k)
			}
			s.buckets[binary.BigEndian.Uint32(k[1:])] = binary.BigEndian.Uint32(v)
		}
		for it.Seek([]byte{prefixService}); it.ValidForPrefix([]byte{prefixService}); it.Next() {
			k := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil || len(k) != 5 {
				return fmt.Errorf("damaged service record %x", k)
			}
			id := binary.BigEndian.Uint32(k[1:])
			if id != uint32(len(s.svcByID)) {
				return fmt.Errorf("damaged service dictionary: id %d out of sequence", id)
			}
			s.svcByID = append(s.svcByID, string(v))
			s.svcIDs[string(v)] = id
		}
		for it.Seek([]byte{prefixOp}); it.ValidForPrefix([]byte{prefixOp}); it.Next() {
			k := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil || len(k) != 5 {
				return fmt.Errorf("damaged operation record %x", k)
			}
			id := binary.BigEndian.Uint32(k[1:])
			op, ok := decodeOp(v)
			if !ok || id != uint32(len(s.ops)) || op.svc >= uint32(len(s.svcByID)) {
				return fmt.Errorf("damaged operation dictionary at id %d", id)
			}
			s.ops = append(s.ops, op)
			s.opIDs[opKey(op)] = id
		}
		if err := s.loadDicts(it); err != nil {
			return err
		}
		for it.Seek([]byte{prefixOpSeen}); it.ValidForPrefix([]byte{prefixOpSeen}); it.Next() {
			k := it.Item().Key()
			if len(k) != 9 {
				return fmt.Errorf("damaged operation marker %x", k)
			}
			b := binary.BigEndian.Uint32(k[1:])
			bs := s.opSeen[b]
			bs.set(binary.BigEndian.Uint32(k[5:]))
			s.opSeen[b] = bs
		}
		return nil
	})
}

func encodeOp(op opInfo) []byte {
	b := binary.AppendUvarint(nil, uint64(op.svc))
	b = binary.AppendVarint(b, int64(op.kind))
	return append(b, op.name...)
}

func decodeOp(b []byte) (opInfo, bool) {
	svc, n := binary.Uvarint(b)
	if n <= 0 || svc > 1<<32-1 {
		return opInfo{}, false
	}
	b = b[n:]
	kind, n := binary.Varint(b)
	if n <= 0 {
		return opInfo{}, false
	}
	return opInfo{svc: uint32(svc), kind: model.SpanKind(kind), name: string(b[n:])}, true
}

// Shutdown stops the store's upkeep, waits for the calls in progress,
// persists pending dependency counts and closes Badger. A round of upkeep
// under way stops at its next step; if it has not stopped when ctx ends,
// Shutdown returns ctx's error and Badger is closed once it has. Shutdown
// is safe to call twice and before Start.
func (s *Store) Shutdown(ctx context.Context) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.shut {
		return nil
	}
	s.shut = true
	if s.db == nil {
		return nil
	}
	s.stop()
	s.life.Lock()
	s.closed = true
	s.life.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		select {
		case <-s.done:
		default:
			go func() {
				<-s.done
				if err := s.close(); err != nil {
					s.log.Error("cannot close store", "err", err)
				}
			}()
			return fmt.Errorf("cannot shut down store: its upkeep has not stopped: %w", ctx.Err())
		}
	}
	return s.close()
}

// close persists pending dependency counts and closes Badger, once nothing
// else uses it.
func (s *Store) close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.flushDeps()
	s.closeCodecs()
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("cannot close store: %w", cerr)
	}
	return err
}

func (s *Store) closeCodecs() {
	s.zenc.Close()
	s.zdec.Close()
}

// liveBuckets returns the buckets not yet past retention, newest first.
func (s *Store) liveBuckets() []uint32 {
	cutoff := s.expiryCutoff()
	s.mu.RLock()
	out := make([]uint32, 0, len(s.buckets))
	for b, w := range s.buckets {
		if uint64(b)+uint64(w) > cutoff {
			out = append(out, b)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i] > out[j] })
	return out
}

// expiryCutoff is the Unix second before which buckets have expired.
func (s *Store) expiryCutoff() uint64 {
	c := s.clock.Now().Add(-s.cfg.Retention).Unix()
	return uint64(max(c, 0))
}

// maintain runs the periodic work until ctx ends (Shutdown).
func (s *Store) maintain(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.MaintenanceInterval)
	defer t.Stop()
	var release <-chan time.Time
	if s.cfg.PageReleaseInterval > 0 {
		pt := time.NewTicker(s.cfg.PageReleaseInterval)
		defer pt.Stop()
		release = pt.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.maintainOnce(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("store maintenance failed", "err", err)
			}
		case <-s.idx.kick:
			if err := s.sealIndex(ctx, false); err != nil && ctx.Err() == nil {
				s.log.Warn("cannot seal index", "err", err)
			}
		case <-release:
			if _, err := s.releaseTablePages(); err != nil {
				s.log.Warn("cannot release table pages", "err", err)
			}
		}
	}
}

// Maintain runs one round of the store's upkeep: it seals pending index
// chunks, deletes buckets past retention from disk, collects value-log
// garbage and persists dependency counts. The store does it every MaintenanceInterval; tests and tools may
// call it directly. It fails with storage.ErrClosed before Start and after
// Shutdown.
func (s *Store) Maintain(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.life.RUnlock()
	return s.maintainOnce(ctx)
}

// maintainOnce is one round of upkeep; it stops early when ctx ends.
func (s *Store) maintainOnce(ctx context.Context) error {
	cutoff := s.expiryCutoff()
	s.mu.RLock()
	var expired []uint32
	for b, w := range s.buckets {
		if uint64(b)+uint64(w) <= cutoff {
			expired = append(expired, b)
		}
	}
	s.mu.RUnlock()
	s.writeMu.Lock()
	err := s.flushDeps()
	s.writeMu.Unlock()
	if err != nil {
		return err
	}
	if err := s.sealIndex(ctx, false); err != nil {
		return err
	}
	for _, b := range expired {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.dropBucket(b); err != nil {
			return err
		}
	}
	for ctx.Err() == nil && s.db.RunValueLogGC(0.5) == nil {
	}
	return ctx.Err()
}

func (s *Store) dropBucket(b uint32) error {
	var bk [4]byte
	binary.BigEndian.PutUint32(bk[:], b)
	prefixes := make([][]byte, 0, 4)
	for _, p := range []byte{prefixData, prefixIndex, prefixOpSeen, prefixDeps, prefixPending, prefixBlock} {
		prefixes = append(prefixes, append([]byte{p}, bk[:]...))
	}
	if err := s.db.DropPrefix(prefixes...); err != nil {
		return fmt.Errorf("cannot drop expired data: %w", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(append([]byte{prefixBucket}, bk[:]...))
	}); err != nil {
		return fmt.Errorf("cannot drop expired bucket record: %w", err)
	}
	s.mu.Lock()
	delete(s.buckets, b)
	delete(s.opSeen, b)
	s.mu.Unlock()
	s.idx.dropBucket(b)
	s.log.Info("dropped expired spans", "bucket_start", time.Unix(int64(b), 0).UTC())
	return nil
}

// DiskSize returns the bytes the data folder takes on disk: blocks really
// allocated, since Badger preallocates sparse log files.
func (s *Store) DiskSize() int64 {
	var n int64
	filepath.Walk(s.cfg.Dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// Compact merges all of Badger's levels into one, dropping overwritten and
// deleted data. It is slow on a large store; benchmarks use it to measure
// disk use after compaction. It fails with storage.ErrClosed before Start
// and after Shutdown.
func (s *Store) Compact() error {
	if err := s.enter(context.Background()); err != nil {
		return err
	}
	defer s.life.RUnlock()
	if err := s.db.Flatten(2); err != nil {
		return fmt.Errorf("cannot compact store: %w", err)
	}
	for s.db.RunValueLogGC(0.1) == nil {
	}
	return nil
}

// badgerLogger sends Badger's logs to slog.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug("badger: " + fmt.Sprintf(f, a...)) }

// bitset is a growable set of small integers.
type bitset []uint64

func (b *bitset) set(i uint32) {
	w := int(i / 64)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b bitset) has(i uint32) bool {
	w := int(i / 64)
	return w < len(b) && b[w]&(1<<(i%64)) != 0
}
