// Package ingester is scry-ingester's core in the scale-out topology
// (internal/scaleout): for each partition it owns, it reads the
// partition's JetStream stream from the position its shard has applied,
// writes the spans into that shard (a Badger store of its own), records the
// new position after the data, and says in a lease whether it is ready
// (within ReadyLag messages of the stream's end). It serves its shards'
// reads through the partitioned storage API (storage/remote).
//
// A replay is harmless: writes are idempotent and the position is written
// only after the spans it covers, so a crash between the two makes the
// messages be read and written again, stored once.
package ingester

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/scaleout"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/badger"
)

// Defaults of Config.
const (
	// DefaultReadyLag is how many messages (batches of a few hundred
	// spans) a shard may be behind its stream and still be read: at 25k
	// spans/s, ~100 messages are a few seconds.
	DefaultReadyLag = 100
	// DefaultFetchBatch is how many messages one read of the stream asks
	// for, and so the most one write to the shard holds.
	DefaultFetchBatch = 64
	// DefaultReadyDelay is ReadyDelay's default: a shard whose stream
	// stalls for a leader election (a few seconds, in which many small
	// messages may queue up) stays readable; one replaying hours is not.
	DefaultReadyDelay = 30 * time.Second
)

// Config configures an Ingester.
type Config struct {
	// ID names the ingester in leases and logs (scaleout.ValidateID).
	ID string
	// Addr is the address of its storage API that scry-query dials.
	Addr string
	// Partitions are the partitions it owns.
	Partitions []int
	// Standby makes it also take over any partition that has had fewer
	// than two live owners (leases renewed, ready or replaying) for two
	// lease TTLs: it opens a shard for it, replays its stream and serves
	// it like its own until it stops.
	Standby bool
	// DataDir holds one shard per partition, in partition-<p>.
	DataDir string
	// Store is every shard's configuration but for its Dir.
	Store badger.Config
	// ReadyLag is how many messages a shard may be behind and be ready.
	ReadyLag uint64
	// ReadyDelay also makes a shard ready when the last message it
	// applied was published at most this long ago: what it lacks is then
	// at most that much of the latest traffic, however many messages.
	ReadyDelay time.Duration
	// FetchBatch is the most messages one write to a shard holds.
	FetchBatch int
	// LeaseTTL is how long a lease lives unless renewed (every LeaseTTL/3).
	LeaseTTL time.Duration
	// Stalled, if set, is called when two renewals in a row could not
	// reach the streams: the connected nats-server may be cut off from its
	// cluster, and the caller reconnects elsewhere.
	Stalled func()
}

// DefaultConfig returns the defaults, with the store's defaults.
func DefaultConfig() Config {
	return Config{Store: badger.DefaultConfig(), ReadyLag: DefaultReadyLag, ReadyDelay: DefaultReadyDelay, FetchBatch: DefaultFetchBatch, LeaseTTL: scaleout.DefaultLeaseTTL}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if err := scaleout.ValidateID(c.ID); err != nil {
		errs = append(errs, err)
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("no storage API address to advertise"))
	}
	if len(c.Partitions) == 0 && !c.Standby {
		errs = append(errs, errors.New("no partition to own, and not a standby"))
	}
	for _, p := range c.Partitions {
		if p < 0 {
			errs = append(errs, fmt.Errorf("partition %d is negative", p))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("no data directory"))
	}
	if c.FetchBatch < 1 {
		errs = append(errs, fmt.Errorf("fetch batch %d is not positive", c.FetchBatch))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease TTL %v is under a second", c.LeaseTTL))
	}
	return errors.Join(errs...)
}

// Ingester owns partitions. Start opens the shards and begins reading;
// Shutdown stops reading, drops the leases and closes the shards. Its
// methods are safe for concurrent use.
type Ingester struct {
	cfg    Config
	js     jetstream.JetStream
	tel    telemetry.Settings
	logger *slog.Logger
	warn   *telemetry.Throttle
	codec  *scaleout.Codec

	shardsMu sync.RWMutex
	shards   map[int]*shard // guarded by shardsMu; a standby adds to it
	started  atomic.Bool
	kv       jetstream.KeyValue
	topo     scaleout.Topology

	cancel         context.CancelFunc
	wg             sync.WaitGroup
	failedRenewals int           // renewals in a row that could not reach a stream; renewLoop's
	kick           chan struct{} // renew now (kickRenew)
	mu             sync.Mutex    // serialises Start and Shutdown
	shut           bool

	lagGauge, appliedGauge *prometheus.GaugeVec
	messages               *prometheus.CounterVec
	spans                  prometheus.Counter
}

// shard is one owned partition: its store and how far it is.
type shard struct {
	p       int
	stream  string
	store   *badger.Store
	mu      sync.Mutex
	applied uint64 // guarded by mu: the store's position
	last    uint64 // guarded by mu: the stream's last sequence, as last seen
	known   bool   // guarded by mu: last has been seen
	// appliedAt is when the message at applied was published (zero
	// before one is applied); guarded by mu.
	appliedAt time.Time
}

func (s *shard) state() (applied, lag uint64, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last > s.applied {
		lag = s.last - s.applied
	}
	return s.applied, lag, s.known
}

// ready reports whether the shard may be read, with its lag: it knows
// the stream's end and is within ReadyLag messages of it, or the last
// message it applied was published within ReadyDelay.
func (in *Ingester) ready(s *shard) (bool, uint64) {
	_, lag, known := s.state()
	s.mu.Lock()
	at := s.appliedAt
	s.mu.Unlock()
	if !known {
		return false, lag
	}
	return lag <= in.cfg.ReadyLag || !at.IsZero() && time.Since(at) <= in.cfg.ReadyDelay, lag
}

// New returns an Ingester reading through js; nothing is opened yet.
func New(cfg Config, js jetstream.JetStream, tel telemetry.Settings) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid ingester config: %w", err)
	}
	tel = tel.Complete()
	in := &Ingester{
		cfg: cfg, js: js, tel: tel, logger: tel.Logger, warn: telemetry.NewThrottle(tel, 10*time.Second),
		shards: map[int]*shard{}, kick: make(chan struct{}, 1),
		lagGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scry_ingester_partition_lag_messages",
			Help: "Messages of a partition's stream not yet applied to its shard (ready while at most --ready-lag).",
		}, []string{"partition"}),
		appliedGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scry_ingester_partition_applied_sequence",
			Help: "The last stream sequence of a partition whose spans are committed to its shard.",
		}, []string{"partition"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scry_ingester_messages_total",
			Help: "Messages read from the partitions' streams, by result: applied, invalid (unreadable, skipped and logged).",
		}, []string{"result"}),
		spans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scry_ingester_spans_total",
			Help: "Spans written to the shards (a replayed span counts again).",
		}),
	}
	for _, c := range []prometheus.Collector{in.lagGauge, in.appliedGauge, in.messages, in.spans} {
		if err := tel.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("cannot register ingester metrics: %w", err)
		}
	}
	return in, nil
}

// Start reads the topology, opens every owned partition's shard and
// starts reading the streams and renewing the leases.
func (in *Ingester) Start(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cancel != nil || in.shut {
		return errors.New("cannot start the ingester twice")
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ctx = sctx
	topo, err := scaleout.LoadWait(ctx, in.js)
	if err != nil {
		return err
	}
	for _, p := range in.cfg.Partitions {
		if p >= topo.Partitions {
			return fmt.Errorf("partition %d is not in the cluster's %d partitions (0 to %d)", p, topo.Partitions, topo.Partitions-1)
		}
	}
	kv, err := scaleout.OpenOwners(ctx, in.js, topo, in.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	codec, err := scaleout.NewCodec()
	if err != nil {
		return err
	}
	in.topo, in.kv, in.codec = topo, kv, codec
	for _, p := range in.cfg.Partitions {
		if err := in.openShard(ctx, p); err != nil {
			in.closeShards(context.Background())
			codec.Close()
			return err
		}
	}
	var owners *scaleout.Owners
	if in.cfg.Standby {
		owners = scaleout.NewOwners(in.js, in.cfg.LeaseTTL, time.Now, in.logger)
		if err := owners.Start(ctx); err != nil {
			in.closeShards(context.Background())
			codec.Close()
			return err
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	for _, s := range in.shardList() {
		in.wg.Go(func() { in.consume(rctx, s) })
	}
	in.renew(rctx) // the first leases before Start returns
	in.wg.Go(func() { in.renewLoop(rctx) })
	if owners != nil {
		in.wg.Go(func() {
			in.standby(rctx, owners)
			_ = owners.Shutdown(context.Background())
		})
	}
	in.started.Store(true)
	return nil
}

// standby takes over, until ctx ends, every partition not held here that
// has had fewer than two live owners for two lease TTLs (Config.Standby).
func (in *Ingester) standby(ctx context.Context, owners *scaleout.Owners) {
	const wanted = 2
	grace := 2 * in.cfg.LeaseTTL
	short := map[int]time.Time{} // partition → since when it has lacked owners
	t := time.NewTicker(in.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for p := range in.topo.Partitions {
			if in.shard(p) != nil {
				continue
			}
			if n := owners.Live(p, in.cfg.ID); n >= wanted {
				delete(short, p)
				continue
			}
			since, ok := short[p]
			if !ok {
				short[p] = time.Now()
				continue
			}
			if time.Since(since) < grace {
				continue
			}
			in.logger.Warn("taking over a partition whose owners stopped renewing their leases", "partition", p, "live_owners", owners.Live(p, in.cfg.ID))
			if err := in.openShard(ctx, p); err != nil {
				in.warn.Warn("cannot take over partition", "partition", p, "err", err)
				continue
			}
			delete(short, p)
			s := in.shard(p)
			in.wg.Go(func() { in.consume(ctx, s) })
			in.kickRenew()
		}
	}
}

// shard returns partition p's shard, nil if it is not held here.
func (in *Ingester) shard(p int) *shard {
	in.shardsMu.RLock()
	defer in.shardsMu.RUnlock()
	return in.shards[p]
}

// shardList returns the shards held, by partition.
func (in *Ingester) shardList() []*shard {
	in.shardsMu.RLock()
	defer in.shardsMu.RUnlock()
	out := make([]*shard, 0, len(in.shards))
	for _, p := range slices.Sorted(maps.Keys(in.shards)) {
		out = append(out, in.shards[p])
	}
	return out
}

func (in *Ingester) openShard(ctx context.Context, p int) error {
	cfg := in.cfg.Store
	cfg.Dir = filepath.Join(in.cfg.DataDir, "partition-"+strconv.Itoa(p))
	tel := in.tel.For("shard-" + strconv.Itoa(p))
	// Every shard's store metrics, apart by a partition label.
	tel.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"partition": strconv.Itoa(p)}, in.tel.Registerer)
	st, err := badger.New(cfg, tel)
	if err != nil {
		return fmt.Errorf("cannot set up the shard of partition %d: %w", p, err)
	}
	if err := st.Start(ctx); err != nil {
		return fmt.Errorf("cannot open the shard of partition %d: %w", p, err)
	}
	pos, err := st.Position()
	if err != nil {
		_ = st.Shutdown(ctx)
		return fmt.Errorf("shard of partition %d: %w", p, err)
	}
	in.shardsMu.Lock()
	in.shards[p] = &shard{p: p, stream: scaleout.StreamName(p), store: st, applied: pos}
	in.shardsMu.Unlock()
	in.appliedGauge.WithLabelValues(strconv.Itoa(p)).Set(float64(pos))
	in.logger.Info("opened shard", "partition", p, "dir", cfg.Dir, "position", pos)
	return nil
}

// Shutdown stops reading, drops the leases (so that readers stop asking
// at once) and closes the shards. Safe to call twice.
func (in *Ingester) Shutdown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.shut {
		return nil
	}
	in.shut = true
	if in.cancel == nil {
		return nil
	}
	in.cancel()
	in.wg.Wait()
	var errs []error
	for _, s := range in.shardList() {
		if err := scaleout.DropLease(ctx, in.kv, s.p, in.cfg.ID); err != nil {
			in.logger.Warn("cannot drop lease; it expires by itself", "partition", s.p, "err", err)
		}
	}
	errs = append(errs, in.closeShards(ctx))
	in.codec.Close()
	return errors.Join(errs...)
}

func (in *Ingester) closeShards(ctx context.Context) error {
	var errs []error
	for _, s := range in.shardList() {
		if err := s.store.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cannot close the shard of partition %d: %w", s.p, err))
		}
	}
	return errors.Join(errs...)
}

// Shard returns the reader of partition p, if it is owned here and ready;
// else an error saying why, which the storage API answers as UNAVAILABLE
// so that scry-query asks the partition's other owner.
func (in *Ingester) Shard(p int) (storage.Reader, error) {
	s := in.shard(p)
	if s == nil {
		return nil, fmt.Errorf("partition %d is not held by ingester %s", p, in.cfg.ID)
	}
	if ok, lag := in.ready(s); !ok {
		return nil, fmt.Errorf("partition %d is not ready on ingester %s: %d messages behind its stream", p, in.cfg.ID, lag)
	}
	return s.store, nil
}

// Ready returns nil when every owned partition is ready, else an error
// naming those that are not: the process's readiness (admin /readyz).
func (in *Ingester) Ready() error {
	if !in.started.Load() {
		return errors.New("the ingester has not started")
	}
	var behind []string
	for _, s := range in.shardList() {
		if ok, lag := in.ready(s); !ok {
			behind = append(behind, fmt.Sprintf("%d (%d messages behind)", s.p, lag))
		}
	}
	if len(behind) > 0 {
		return fmt.Errorf("partitions not caught up with their streams: %v", behind)
	}
	return nil
}

// Stores returns the shards' stores, by partition, for readiness checks
// (badger.Store.DiskFull).
func (in *Ingester) Stores() []*badger.Store {
	var out []*badger.Store
	for _, s := range in.shardList() {
		out = append(out, s.store)
	}
	return out
}

// consume applies partition s's stream to its shard until ctx ends: it
// reads batches from the position after the shard's, writes their spans,
// then records the position. A failure to read or to write is retried
// with backoff from the same position, so nothing is skipped but a
// message that cannot be decoded (logged and counted).
func (in *Ingester) consume(ctx context.Context, s *shard) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		applied, _, _ := s.state()
		cons, err := in.js.OrderedConsumer(ctx, s.stream, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   applied + 1,
		})
		if err != nil {
			in.warn.Warn("cannot read partition stream; retrying", "partition", s.p, "stream", s.stream, "err", err)
			backoff.wait(ctx)
			continue
		}
		if err := in.drain(ctx, s, cons, backoff); err != nil && ctx.Err() == nil {
			in.warn.Warn("reading partition stream failed; resuming from the shard's position", "partition", s.p, "err", err)
			backoff.wait(ctx)
		}
	}
}

// drain applies the messages of cons until an error or ctx ends: it
// pulls them continuously (one consumer for as long as it works; a Fetch
// of an ordered consumer would create a consumer each time) and writes
// what has arrived, up to FetchBatch messages, at once.
func (in *Ingester) drain(ctx context.Context, s *shard, cons jetstream.Consumer, backoff *backoff) error {
	// Heartbeats every second: a consumer lost with its nats-server is
	// noticed, and made again, within about two.
	it, err := cons.Messages(jetstream.PullMaxMessages(2*in.cfg.FetchBatch), jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	defer it.Stop()
	msgs := make(chan jetstream.Msg, in.cfg.FetchBatch)
	errc := make(chan error, 1)
	go func() {
		defer close(msgs)
		for {
			m, err := it.Next()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	}()
	label := strconv.Itoa(s.p)
	batch := make([]jetstream.Msg, 0, in.cfg.FetchBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-msgs:
			if !ok {
				return <-errc
			}
			batch = append(batch, m)
		}
	more:
		for len(batch) < in.cfg.FetchBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		byTenant := map[string][]*model.Span{}
		var lastSeq, pending uint64
		var lastAt time.Time
		for _, m := range batch {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("message without metadata: %w", err)
			}
			applied, _, _ := s.state()
			if lastSeq == 0 && md.Sequence.Stream > applied+1 {
				in.logger.Warn("the stream no longer holds messages this shard has not applied (aged out or over its byte limit); their spans are not in this shard",
					"partition", s.p, "applied", applied, "first_available", md.Sequence.Stream)
			}
			lastSeq, pending, lastAt = md.Sequence.Stream, md.NumPending, md.Timestamp
			tenant, spans, err := in.codec.Decode(m.Headers(), m.Data())
			if err != nil {
				in.messages.WithLabelValues("invalid").Inc()
				in.warn.Warn("skipping a message that cannot be read", "partition", s.p, "sequence", md.Sequence.Stream, "err", err)
				continue
			}
			byTenant[tenant] = append(byTenant[tenant], spans...)
		}
		if err := in.apply(ctx, s, byTenant, lastSeq, backoff); err != nil {
			return err
		}
		backoff.reset()
		wasReady, _ := in.ready(s)
		s.mu.Lock()
		s.applied, s.appliedAt = lastSeq, lastAt
		s.last = max(s.last, lastSeq+pending)
		s.known = true
		lag := s.last - s.applied
		s.mu.Unlock()
		if nowReady, _ := in.ready(s); nowReady != wasReady {
			in.kickRenew() // say so in the lease now, not at the next renewal
		}
		in.messages.WithLabelValues("applied").Add(float64(len(batch)))
		in.appliedGauge.WithLabelValues(label).Set(float64(lastSeq))
		in.lagGauge.WithLabelValues(label).Set(float64(lag))
	}
}

// apply writes spans, by tenant, then the position seq, retrying each
// with backoff until it is done or ctx ends.
func (in *Ingester) apply(ctx context.Context, s *shard, byTenant map[string][]*model.Span, seq uint64, backoff *backoff) error {
	for _, tenant := range slices.Sorted(maps.Keys(byTenant)) {
		spans := byTenant[tenant]
		for {
			err := s.store.WriteSpans(storage.WithTenant(ctx, tenant), spans)
			var rejected *storage.RejectedError
			if err == nil || errors.As(err, &rejected) { // the valid ones are written
				break
			}
			in.warn.Warn("cannot write spans to the shard; retrying", "partition", s.p, "err", err)
			if !backoff.wait(ctx) {
				return ctx.Err()
			}
		}
		in.spans.Add(float64(len(spans)))
	}
	for {
		err := s.store.SetPosition(seq)
		if err == nil {
			return nil
		}
		in.warn.Warn("cannot record the shard's position; retrying", "partition", s.p, "err", err)
		if !backoff.wait(ctx) {
			return ctx.Err()
		}
	}
}

// renewLoop renews the leases every LeaseTTL/3 until ctx ends.
func (in *Ingester) renewLoop(ctx context.Context) {
	t := time.NewTicker(in.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-in.kick:
		}
		in.renew(ctx)
	}
}

// kickRenew makes renewLoop renew the leases now.
func (in *Ingester) kickRenew() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// renew learns each stream's end, so that a shard knows its lag even
// when no message arrives, and writes each partition's lease.
func (in *Ingester) renew(ctx context.Context) {
	failed := false
	defer func() {
		if !failed {
			in.failedRenewals = 0
		} else if in.failedRenewals++; in.failedRenewals >= 2 && in.cfg.Stalled != nil && ctx.Err() == nil {
			in.failedRenewals = 0
			in.cfg.Stalled()
		}
	}()
	for _, s := range in.shardList() {
		p := s.p
		ictx, cancel := context.WithTimeout(ctx, in.cfg.LeaseTTL/3)
		stream, err := in.js.Stream(ictx, s.stream) // asks the stream's info
		cancel()
		var info *jetstream.StreamInfo
		if err == nil {
			info = stream.CachedInfo()
		}
		if err != nil {
			failed = true
			in.warn.Warn("cannot read the partition stream's state", "partition", p, "err", err)
		} else {
			s.mu.Lock()
			s.last = max(s.last, info.State.LastSeq)
			s.known = true
			s.mu.Unlock()
		}
		applied, lag, _ := s.state()
		ready, _ := in.ready(s)
		in.lagGauge.WithLabelValues(strconv.Itoa(p)).Set(float64(lag))
		l := scaleout.Lease{Partition: p, ID: in.cfg.ID, Addr: in.cfg.Addr, Ready: ready, Applied: applied, Lag: lag}
		lctx, cancel := context.WithTimeout(ctx, in.cfg.LeaseTTL/3)
		if err := scaleout.PutLease(lctx, in.kv, l); err != nil && ctx.Err() == nil {
			in.warn.Warn("cannot renew lease", "partition", p, "err", err)
		}
		cancel()
	}
}

// backoff waits 50 ms doubling to 5 s between retries.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 50 * time.Millisecond} }

func (b *backoff) reset() { b.d = 50 * time.Millisecond }

// wait sleeps the current delay (false if ctx ended first) and doubles it.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, 5*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
