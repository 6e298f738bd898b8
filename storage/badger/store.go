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
	"sync/atomic"
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
	prefixKept    = 'k'
	prefixPending = 'p'
	prefixBlock   = 'x'
	prefixRED     = 'm' // RED series (redseries.go)
)

var (
	formatKey = []byte{prefixMeta, 'f', 'o', 'r', 'm', 'a', 't'}
	legacyKey = []byte{prefixMeta, 'l', 'e', 'g', 'a', 'c', 'y'}
	floorKey  = []byte{prefixMeta, 'f', 'l', 'o', 'o', 'r'}
)

// Defaults of Config (see DefaultConfig).
const (
	DefaultRetention           = 72 * time.Hour
	DefaultMemTableSize        = 32 << 20
	DefaultMaintenanceInterval = time.Minute
	DefaultPageReleaseInterval = 250 * time.Millisecond
	DefaultSizeCheckInterval   = time.Second
	// DefaultMinFreeDisk is 16 memtables of the default size: what Badger
	// may still write once writes are refused (see diskspace.go): the
	// active and the waiting memtable's logs (up to one memtable each), their
	// two level-0 tables, and a level-0 compaction on each of the two
	// compactors, rewriting the level-0 tables with the part of the level
	// below they overlap (~4 memtables each), with room to spare.
	DefaultMinFreeDisk = 16 * DefaultMemTableSize
)

// Config configures a Store. Start from DefaultConfig and set Dir.
type Config struct {
	// Dir is the folder that holds the Badger files. It is created if missing.
	Dir string
	// Retention is how long spans are kept, counted from their start time.
	// Data older than Retention plus one bucket width (Retention/12, at least
	// one second) is deleted from disk. Default 72h.
	Retention time.Duration
	// TenantRetention, if set, returns how long a tenant's spans are kept
	// instead of Retention ("" is the default tenant; 0: Retention). It is
	// asked at every upkeep and read, so a change applies at once. Buckets
	// stay Retention/12 wide, so a tenant's spans live between its
	// retention and that plus one bucket; kept kinds (RetentionErrors,
	// RetentionSlow) are not changed by it.
	TenantRetention func(tenant string) time.Duration
	// RetentionSize is the most bytes the data folder should take (as
	// DiskSize counts them); past it the oldest buckets are dropped,
	// whatever their age, but never the newest or current one. Zero: no
	// limit. See FORMAT.md, Retention.
	RetentionSize int64
	// SizeCheckInterval is how often the folder's size is compared with
	// RetentionSize. Default 1 s: a check walks the folder's files (~45 µs
	// for a dozen, well under a millisecond for a few hundred), and at 50k
	// spans/s (~9 MB/s) checks every 5 s let the folder run ~40 MB past the
	// limit between two of them.
	SizeCheckInterval time.Duration
	// RetentionErrors is how long traces with an error span (status code
	// error) are kept, when longer than Retention; zero: like the rest.
	RetentionErrors time.Duration
	// RetentionSlow is how long traces whose root span lasts longer than
	// SlowThreshold are kept, when longer than Retention; zero: like the
	// rest.
	RetentionSlow time.Duration
	// SlowThreshold is the root span duration past which a trace is slow
	// (RetentionSlow). Zero: no trace is slow.
	SlowThreshold time.Duration
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
	// MinFreeDisk is the free space (bytes) kept on the data folder's
	// filesystem: below it writes fail with storage.ErrNoSpace (retryable)
	// and reads go on, so that Badger, which writes its files through
	// memory maps and would crash on a full disk, never runs out. Writes
	// resume by themselves once there is MinFreeDisk and an eighth more.
	// Default 512 MiB (DefaultMinFreeDisk, derived from the memtable size);
	// with a larger MemTableSize keep it at 16 memtables or more. Zero: no
	// margin, only a write failing with ENOSPC refuses writes (Badger may
	// then crash). Linux only; elsewhere as zero.
	MinFreeDisk int64
	// REDRetention is how long RED series (redseries.go) are kept as
	// 5-minute roll-ups, REDFineRetention how long at their own step
	// (collector/red, 15 s by default). Zero: DefaultREDRetention,
	// DefaultREDFineRetention.
	REDRetention, REDFineRetention time.Duration
}

// DefaultConfig returns the defaults named on Config's fields, with no Dir.
func DefaultConfig() Config {
	return Config{
		Retention:           DefaultRetention,
		MemTableSize:        DefaultMemTableSize,
		MaintenanceInterval: DefaultMaintenanceInterval,
		PageReleaseInterval: DefaultPageReleaseInterval,
		SizeCheckInterval:   DefaultSizeCheckInterval,
		MinFreeDisk:         DefaultMinFreeDisk,
		REDRetention:        DefaultREDRetention,
		REDFineRetention:    DefaultREDFineRetention,
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
	if c.RetentionSize < 0 {
		return fmt.Errorf("retention size %d is negative", c.RetentionSize)
	}
	if c.RetentionSize > 0 && c.SizeCheckInterval <= 0 {
		return fmt.Errorf("size check interval %v is not positive", c.SizeCheckInterval)
	}
	if c.RetentionErrors < 0 || c.RetentionSlow < 0 || c.SlowThreshold < 0 {
		return fmt.Errorf("retention for errors %v, retention for slow traces %v, slow threshold %v: none may be negative",
			c.RetentionErrors, c.RetentionSlow, c.SlowThreshold)
	}
	if c.RetentionErrors != 0 && c.RetentionErrors < c.Retention {
		return fmt.Errorf("retention for errors %v is shorter than retention %v", c.RetentionErrors, c.Retention)
	}
	if c.RetentionSlow != 0 && c.RetentionSlow < c.Retention {
		return fmt.Errorf("retention for slow traces %v is shorter than retention %v", c.RetentionSlow, c.Retention)
	}
	if c.RetentionSlow != 0 && c.SlowThreshold == 0 {
		return errors.New("retention for slow traces is set but no slow threshold is")
	}
	if c.keepsKinds() && c.bucketWidth() < 3 {
		// Kept buckets take IDs one and two seconds after their bucket's.
		return fmt.Errorf("retention by kind needs a retention of at least 36s, not %v", c.Retention)
	}
	if c.MaintenanceInterval <= 0 {
		return fmt.Errorf("maintenance interval %v is not positive", c.MaintenanceInterval)
	}
	if c.MinFreeDisk < 0 {
		return fmt.Errorf("minimum free disk space %d is negative", c.MinFreeDisk)
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
	*engine // shared by the default tenant's Store and every tenant's

	cfg   Config
	width uint32
	// db is the database seen through this Store's key space: the default
	// tenant's (no prefix) or one tenant's (kv.go).
	db kvDB
	// tenant is the tenant this Store keeps ("" for the default one, which
	// is the Store New returns and holds the others in engine.spaces).
	tenant string

	mu      sync.RWMutex      // guards the dictionaries and bucket list below
	buckets map[uint32]uint32 // bucket start (Unix s) -> width (s)
	classes map[uint32]uint8  // kept buckets -> their class (classErrors, classSlow)
	svcByID []string
	svcIDs  map[string]uint32
	ops     []opInfo          // by op ID
	opIDs   map[opKey]uint32  // (service, kind, name) -> op ID
	opSeen  map[uint32]bitset // bucket -> op IDs seen in it
	dicts   [2]blobDict       // resources, scopes
	deps    *depTracker

	writeMu sync.Mutex // serialises dictionary and marker updates

	encoders sync.Pool // *encoder, reused across writes

	sizeFloor atomic.Uint64 // Unix second below which buckets were dropped for size

	idx sealedIndex // sealed blocks and pending chunks (seal.go)
}

// engine is what the Stores of all tenants share: the Badger database, its
// life, its disk and its upkeep.
type engine struct {
	bdb      *badger.DB // set by Start
	log      *slog.Logger
	clock    telemetry.Clock
	fail     func(error) // reports a failure after Start (telemetry.Settings.Fail)
	disk     *diskGuard
	tableDir string // cfg.Dir, absolute, symbolic links resolved

	// life is held shared by every call that uses the database and
	// exclusively by Start and Shutdown when they change closed, so
	// Shutdown waits for calls in progress.
	life   sync.RWMutex
	closed bool // calls fail: true before Start and after Shutdown
	// readOnly: Badger is open read-only, because the disk was full when
	// it was opened; writes fail with storage.ErrNoSpace until upkeep
	// reopens it for writing. Changed with life held exclusively.
	readOnly bool

	startMu sync.Mutex // serialises Start and Shutdown
	shut    bool       // Shutdown was called; guarded by startMu

	zenc *zstd.Encoder
	zdec *zstd.Decoder

	// spacesMu guards spaces, the Stores of the tenants other than the
	// default one, by name.
	spacesMu sync.RWMutex
	spaces   map[string]*Store

	upkeepMu sync.Mutex // serialises rounds of upkeep, size checks and sealing, of every tenant
	// dropMu is held shared by writes and exclusively around DropPrefix,
	// which fails every write made while it runs (badger.ErrBlockedWrites):
	// writes wait for a drop instead (tens of ms).
	dropMu    sync.RWMutex
	sizeStuck bool // over RetentionSize with nothing to drop was logged; guarded by upkeepMu
	metrics   *metrics
	kick      chan struct{} // asks the upkeep loop to seal

	stop context.CancelFunc // stops maintain
	done chan struct{}      // closed when maintain has returned

	knobs
}

// knobs change what the store writes, for tests.
type knobs struct {
	// legacyChunks makes writes use the scry-badger-2 chunk version (16-bit
	// hashes, no pending markers); tests use it to build old stores.
	legacyChunks bool
	// blockVersion, when not 0, is the version of the blocks sealing
	// writes instead of blockCodecVersion: tests make older blocks.
	blockVersion uint8
	// mergeFan, when not 0, is the number of blocks a merge takes instead
	// of mergeFan: tests merge few.
	mergeFan int
	// keepMergeInputs leaves a merge's inputs on disk, as a crash between
	// the merged block's header and their deletion would.
	keepMergeInputs bool
	// holdSeal keeps writes from asking for sealing: benchmarks seal by
	// hand.
	holdSeal bool
	// widePostings makes sealing keep every posting unpacked, as it does
	// those of services it cannot pack: tests check both ways agree.
	widePostings bool
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
	e := &engine{
		log: tel.Logger, clock: tel.Clock, fail: tel.Fail, closed: true,
		disk: newDiskGuard(cfg.Dir, cfg.MinFreeDisk, tel.Logger, tel.Clock),
		kick: make(chan struct{}, 1),
	}
	s := &Store{engine: e, cfg: cfg, width: cfg.bucketWidth(), db: kvDB{e: e}}
	m, err := newMetrics(tel.Registerer, s)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// Start opens or creates the store in its folder and starts its upkeep
// (see Maintain). It fails with a clear error, rather than crashing, if the
// folder holds a damaged store, another program's data, or a store in a
// format this version does not know. On a disk with less than MinFreeDisk
// free it opens the store read-only: reads are served, writes fail with
// storage.ErrNoSpace, and the store reopens for writing by itself once
// there is room (a new store cannot be created there: Start fails with an
// error wrapping storage.ErrNoSpace). Opening reads only the dictionaries
// and bucket list, not the spans, so it takes about the same time whatever
// the store's size. A second Start fails; after Shutdown Start fails with
// storage.ErrClosed.
func (s *Store) Start(context.Context) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.shut {
		return storage.ErrClosed
	}
	if s.bdb != nil {
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

// open opens Badger and loads the dictionaries, read-only when the disk
// has less than the margin free. On failure it leaves nothing open.
func (s *Store) open() error {
	cfg := s.cfg
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		if isNoSpace(err) {
			err = fmt.Errorf("%w: %w", storage.ErrNoSpace, err)
		}
		return fmt.Errorf("cannot create data directory: %w", err)
	}
	s.disk.look()
	if s.disk.full.Load() {
		if !hasStore(cfg.Dir) {
			return fmt.Errorf("cannot create store in %s: %w", cfg.Dir, s.disk.err())
		}
		return s.openBadger(true)
	}
	err := s.openBadger(false)
	if err != nil && isNoSpace(err) && hasStore(cfg.Dir) {
		s.disk.noSpace()
		return s.openBadger(true)
	}
	return err
}

// openBadger opens Badger, read-only or not, and loads the dictionaries.
// On failure it leaves nothing open.
func (s *Store) openBadger(readOnly bool) error {
	cfg := s.cfg
	opts := badgerOptions(cfg, s.log).WithReadOnly(readOnly)
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
	s.bdb, s.zenc, s.zdec, s.readOnly = db, zenc, zdec, readOnly
	s.tableDir = resolvedDir(cfg.Dir)
	err = s.checkFormat()
	if err == nil {
		err = s.loadSpace()
	}
	if err == nil {
		err = s.loadTenants()
	}
	if err != nil {
		s.closeCodecs()
		db.Close()
		s.bdb = nil
		return fmt.Errorf("cannot open store in %s: %w", cfg.Dir, err)
	}
	return nil
}

// badgerOptions returns how a store in cfg.Dir opens Badger.
func badgerOptions(cfg Config, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(cfg.Dir).
		WithLogger(badgerLogger{log}).
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
}

// loadSpace sets up this Store's in-memory state from its key space: the
// bucket list, the size floor, the dictionaries and the sealed index.
func (s *Store) loadSpace() error {
	s.buckets = map[uint32]uint32{}
	s.classes = map[uint32]uint8{}
	s.svcByID, s.svcIDs = nil, map[string]uint32{}
	s.ops, s.opIDs = nil, map[opKey]uint32{}
	s.opSeen = map[uint32]bitset{}
	s.dicts = [2]blobDict{}
	s.encoders.New = func() any { return newEncoder() }
	s.deps = newDepTracker()
	s.idx.reset()
	s.sizeFloor.Store(0)
	if err := s.load(); err != nil {
		return err
	}
	return s.loadIndex()
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
	return s.db.Update(func(txn *kvTxn) error {
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

// load reads the bucket list, the size floor and the dictionaries.
func (s *Store) load() error {
	return s.db.View(func(txn *kvTxn) error {
		switch item, err := txn.Get(floorKey); {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("cannot read the size floor: %w", err)
		default:
			v, err := item.ValueCopy(nil)
			if err != nil || len(v) != 8 {
				return fmt.Errorf("damaged size floor record %x", v)
			}
			s.sizeFloor.Store(binary.BigEndian.Uint64(v))
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Seek([]byte{prefixBucket}); it.ValidForPrefix([]byte{prefixBucket}); it.Next() {
			k := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil || len(k) != 5 || len(v) != 4 && (len(v) != 5 || v[4] == classNormal || v[4] > classSlow) {
				return fmt.Errorf("damaged bucket record %x", k)
			}
			b := binary.BigEndian.Uint32(k[1:])
			s.buckets[b] = binary.BigEndian.Uint32(v)
			if len(v) == 5 {
				s.classes[b] = v[4]
			}
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
	if s.stop == nil {
		return nil // never started
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
	if s.bdb == nil {
		return nil // a reopen failed, and said so
	}
	var err error
	if !s.readOnly {
		for _, sp := range s.allSpaces() {
			sp.writeMu.Lock()
			if ferr := sp.flushDeps(); ferr != nil && err == nil {
				err = ferr
			}
			sp.writeMu.Unlock()
		}
	}
	s.closeCodecs()
	if cerr := s.bdb.Close(); cerr != nil && err == nil {
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
	cutoffs := s.cutoffs()
	s.mu.RLock()
	out := make([]uint32, 0, len(s.buckets))
	for b, w := range s.buckets {
		if uint64(b)+uint64(w) > cutoffs[s.classes[b]] {
			out = append(out, b)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i] > out[j] })
	return out
}

// expiryCutoff is the Unix second before which buckets of spans written
// now have expired, by age or, once buckets were dropped for size, by the
// size floor.
func (s *Store) expiryCutoff() uint64 {
	return max(s.ageCutoff(), s.sizeFloor.Load())
}

// ageCutoff is the Unix second before which buckets are past Retention.
func (s *Store) ageCutoff() uint64 {
	return s.ageCutoffs()[classNormal]
}

// ageCutoffs is ageCutoff per bucket class: Retention, RetentionErrors,
// RetentionSlow.
func (s *Store) ageCutoffs() [numClasses]uint64 {
	now := s.clock.Now()
	var out [numClasses]uint64
	for c := range out {
		out[c] = uint64(max(now.Add(-s.retentionOf(uint8(c))).Unix(), 0))
	}
	return out
}

// cutoffs is expiryCutoff per bucket class.
func (s *Store) cutoffs() [numClasses]uint64 {
	out, floor := s.ageCutoffs(), s.sizeFloor.Load()
	for c := range out {
		out[c] = max(out[c], floor)
	}
	return out
}

// maintain runs the periodic work until ctx ends (Shutdown).
func (s *Store) maintain(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.MaintenanceInterval)
	defer t.Stop()
	disk := time.NewTicker(diskTickEvery)
	defer disk.Stop()
	var release <-chan time.Time
	if s.cfg.PageReleaseInterval > 0 {
		pt := time.NewTicker(s.cfg.PageReleaseInterval)
		defer pt.Stop()
		release = pt.C
	}
	var sizeCheck <-chan time.Time
	if s.cfg.RetentionSize > 0 {
		st := time.NewTicker(s.cfg.SizeCheckInterval)
		defer st.Stop()
		sizeCheck = st.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.readOnly {
				continue // nothing can be deleted or written until reopened
			}
			if err := s.maintainOnce(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("store maintenance failed", "err", err)
			}
		case <-sizeCheck:
			if s.readOnly {
				continue // a store opened read-only on a full disk deletes nothing
			}
			if err := s.enforceSize(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("cannot keep the store under its retention size", "err", err)
			}
		case <-disk.C:
			s.disk.look()
			if s.readOnly && !s.disk.full.Load() {
				s.reopenWritable()
			}
		case <-s.kick:
			if s.readOnly {
				continue
			}
			// Under upkeepMu, as in maintainOnce: a bucket is never dropped
			// while one of its blocks is being written (Maintain runs
			// upkeep from other goroutines).
			s.upkeepMu.Lock()
			var err error
			for _, sp := range s.allSpaces() {
				if err = sp.sealIndex(ctx, false); err != nil {
					break
				}
			}
			s.upkeepMu.Unlock()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("cannot seal index", "err", err)
			}
		case <-release:
			if _, err := s.releaseTablePages(); err != nil {
				s.log.Warn("cannot release table pages", "err", err)
			}
		}
	}
}

// Maintain runs one round of the store's upkeep: it deletes buckets past
// retention from disk, then the oldest buckets while the folder is over
// RetentionSize, seals pending index chunks, collects value-log garbage and
// persists dependency counts. The store does it every MaintenanceInterval; tests and tools may
// call it directly. It fails with storage.ErrClosed before Start and after
// Shutdown.
func (s *Store) Maintain(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.life.RUnlock()
	if s.readOnly {
		return fmt.Errorf("cannot run store upkeep: the store is read-only until there is disk space: %w", storage.ErrNoSpace)
	}
	return s.maintainOnce(ctx)
}

// reopenWritable reopens a store that was opened read-only (the disk was
// full) for writing, now that there is room; calls wait meanwhile. It runs
// in the upkeep goroutine, and gives up at once when Shutdown is under way.
// If Badger cannot be opened again at all, the store fails (the process
// exits with the error) and its calls fail with storage.ErrClosed.
func (s *Store) reopenWritable() {
	if !s.startMu.TryLock() {
		return // Shutdown is under way
	}
	defer s.startMu.Unlock()
	if s.shut {
		return
	}
	s.life.Lock()
	defer s.life.Unlock()
	err := s.bdb.Close()
	s.closeCodecs()
	if err == nil {
		err = s.open()
	}
	if err != nil {
		s.closed, s.bdb = true, nil
		s.fail(fmt.Errorf("cannot reopen store in %s for writing: %w", s.cfg.Dir, err))
		return
	}
	if !s.readOnly {
		s.log.Info("store reopened for writing", "dir", s.cfg.Dir)
	}
}

// maintainOnce is one round of upkeep; it stops early when ctx ends.
func (s *Store) maintainOnce(ctx context.Context) error {
	s.upkeepMu.Lock()
	defer s.upkeepMu.Unlock()
	for _, sp := range s.allSpaces() {
		if err := sp.maintainSpace(ctx); err != nil {
			return err
		}
	}
	if err := s.enforceSizeLocked(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil && s.bdb.RunValueLogGC(0.5) == nil {
	}
	return ctx.Err()
}

// maintainSpace is one round of upkeep of one tenant's Store but for the
// size limit; the caller holds upkeepMu.
func (s *Store) maintainSpace(ctx context.Context) error {
	cutoffs, ageCutoffs := s.cutoffs(), s.ageCutoffs()
	s.mu.RLock()
	var expired, expiring []uint32
	reasons := map[uint32]string{}
	for b, w := range s.buckets {
		class := s.classes[b]
		end := uint64(b) + uint64(w)
		if class == classNormal && end > cutoffs[class] && s.expiresSoon(b, w, cutoffs[class]) {
			expiring = append(expiring, b)
		}
		if end <= cutoffs[class] {
			expired = append(expired, b)
			reasons[b] = reasonAge
			if end > ageCutoffs[class] {
				// Below the size floor: a late span reopened a bucket
				// dropped for size.
				reasons[b] = reasonSize
			}
		}
	}
	s.mu.RUnlock()
	s.writeMu.Lock()
	err := s.flushDeps()
	s.writeMu.Unlock()
	if err != nil {
		return err
	}
	for _, b := range expiring {
		if err := s.keepKinds(ctx, b); err != nil {
			return err
		}
	}
	if err := s.sealIndex(ctx, false); err != nil {
		return err
	}
	for _, b := range expired {
		if err := ctx.Err(); err != nil {
			return err
		}
		if reasons[b] == reasonAge && s.classOf(b) == classNormal {
			if err := s.keepKinds(ctx, b); err != nil {
				return err
			}
		}
		if err := s.dropBucket(b, reasons[b]); err != nil {
			return err
		}
	}
	return nil
}

// dropBucket deletes bucket b from disk and from the bucket list, counts
// it under reason and logs it with logAttrs. The caller holds upkeepMu.
func (s *Store) dropBucket(b uint32, reason string, logAttrs ...any) error {
	s.mu.RLock()
	w := s.buckets[b]
	s.mu.RUnlock()
	var bk [4]byte
	binary.BigEndian.PutUint32(bk[:], b)
	prefixes := make([][]byte, 0, 7)
	for _, p := range []byte{prefixData, prefixIndex, prefixOpSeen, prefixDeps, prefixKept, prefixPending, prefixBlock} {
		prefixes = append(prefixes, append([]byte{p}, bk[:]...))
	}
	s.dropMu.Lock() // no write is under way: the count of pending chunks is exact
	pending, err := s.countKeys(prefixes[5])
	if err == nil {
		err = s.db.DropPrefix(prefixes...)
	}
	s.dropMu.Unlock()
	if err != nil {
		return fmt.Errorf("cannot drop expired data: %w", err)
	}
	s.idx.pending.Add(-pending)
	if err := s.db.Update(func(txn *kvTxn) error {
		return txn.Delete(append([]byte{prefixBucket}, bk[:]...))
	}); err != nil {
		return fmt.Errorf("cannot drop expired bucket record: %w", err)
	}
	s.mu.Lock()
	delete(s.buckets, b)
	delete(s.classes, b)
	delete(s.opSeen, b)
	s.mu.Unlock()
	s.idx.dropBucket(b)
	s.metrics.dropped.WithLabelValues(reason).Inc()
	if s.tenant != "" {
		logAttrs = append(logAttrs, "tenant", s.tenant)
	}
	s.log.Info("dropped a bucket of spans", append([]any{"reason", reason,
		"bucket_start", time.Unix(int64(b), 0).UTC(), "bucket_seconds", w}, logAttrs...)...)
	return nil
}

// countKeys returns the number of keys with prefix p.
func (s *Store) countKeys(p []byte) (int64, error) {
	var n int64
	err := s.db.View(func(txn *kvTxn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: p})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
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
	if err := s.bdb.Flatten(2); err != nil {
		return fmt.Errorf("cannot compact store: %w", err)
	}
	for s.bdb.RunValueLogGC(0.1) == nil {
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
