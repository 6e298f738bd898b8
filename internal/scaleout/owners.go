package scaleout

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is what an ingester says of one partition it owns, renewed every
// LeaseTTL/3 under the key "<partition>.<ingester ID>" of OwnersBucket. A
// lease not renewed within LeaseTTL is gone (the bucket's max age), and
// readers stop counting on that owner after LeaseTTL too.
type Lease struct {
	Partition int    `json:"partition"`
	ID        string `json:"id"`   // the ingester's ID
	Addr      string `json:"addr"` // its storage read API, host:port
	// Ready: the owner's shard is within its ready lag of the stream's end.
	Ready   bool   `json:"ready"`
	Applied uint64 `json:"applied"` // the shard's log position
	Lag     uint64 `json:"lag"`     // messages of the stream not applied yet
}

// DefaultLeaseTTL is how long a lease lives unless renewed: an owner that
// stops (SIGKILL, a lost node) is taken out of reads within it.
const DefaultLeaseTTL = 10 * time.Second

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateID reports whether id can name an ingester: 1 to 64 letters,
// digits, '-' or '_' (it is part of a KV key).
func ValidateID(id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("ingester ID %q must be 1 to 64 letters, digits, '-' or '_'", id)
	}
	return nil
}

func leaseKey(p int, id string) string { return strconv.Itoa(p) + "." + id }

// OpenOwners opens (creating it if missing) the owners bucket, whose
// entries live ttl, replicated like the streams of t.
// A failure (a JetStream API timeout while the cluster is busy or
// electing a leader) is tried again until ctx ends.
func OpenOwners(ctx context.Context, js jetstream.JetStream, t Topology, ttl time.Duration) (jetstream.KeyValue, error) {
	wait := 250 * time.Millisecond
	for {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      OwnersBucket,
			Description: "Scry ingesters' leases on partitions",
			History:     1,
			TTL:         ttl,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
		})
		if err == nil {
			return kv, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cannot open the owners bucket %s: %w", OwnersBucket, err)
		case <-time.After(wait):
			wait = min(2*wait, 5*time.Second)
		}
	}
}

// PutLease writes (renews) l.
func PutLease(ctx context.Context, kv jetstream.KeyValue, l Lease) error {
	b, _ := json.Marshal(l)
	if _, err := kv.Put(ctx, leaseKey(l.Partition, l.ID), b); err != nil {
		return fmt.Errorf("cannot renew the lease on partition %d: %w", l.Partition, err)
	}
	return nil
}

// DropLease removes the lease of ingester id on partition p, so that
// readers stop asking it at once rather than after the TTL.
func DropLease(ctx context.Context, kv jetstream.KeyValue, p int, id string) error {
	if err := kv.Delete(ctx, leaseKey(p, id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("cannot drop the lease on partition %d: %w", p, err)
	}
	return nil
}

// Owners follows the owners bucket and answers, for each partition, the
// addresses of its ready owners. It is safe for concurrent use. Start
// begins following; Shutdown stops.
type Owners struct {
	js     jetstream.JetStream
	ttl    time.Duration
	logger *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	topo   Topology
	leases map[string]seenLease // by key
	cancel context.CancelFunc
	done   chan struct{}
}

type seenLease struct {
	Lease
	at time.Time // when this process saw it written
}

// NewOwners returns Owners over js with leases living ttl; now is the
// clock.
func NewOwners(js jetstream.JetStream, ttl time.Duration, now func() time.Time, logger *slog.Logger) *Owners {
	return &Owners{js: js, ttl: ttl, logger: logger, now: now, leases: map[string]seenLease{}}
}

// Start loads the topology and follows the owners bucket until Shutdown.
func (o *Owners) Start(ctx context.Context) error {
	t, err := LoadWait(ctx, o.js)
	if err != nil {
		return err
	}
	kv, err := OpenOwners(ctx, o.js, t, o.ttl)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.Background())
	w, err := kv.WatchAll(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("cannot follow the owners bucket: %w", err)
	}
	o.mu.Lock()
	o.topo, o.cancel, o.done = t, cancel, make(chan struct{})
	o.mu.Unlock()
	go o.follow(wctx, w)
	return nil
}

func (o *Owners) follow(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(o.done)
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the end of the initial values
				continue
			}
			o.mu.Lock()
			if e.Operation() != jetstream.KeyValuePut {
				delete(o.leases, e.Key())
				o.mu.Unlock()
				continue
			}
			var l Lease
			if err := json.Unmarshal(e.Value(), &l); err != nil {
				o.logger.Warn("unreadable lease in the owners bucket", "key", e.Key(), "err", err)
			} else {
				o.leases[e.Key()] = seenLease{Lease: l, at: o.now()}
			}
			o.mu.Unlock()
		}
	}
}

// Shutdown stops following. It is safe to call twice.
func (o *Owners) Shutdown(ctx context.Context) error {
	o.mu.Lock()
	cancel, done := o.cancel, o.done
	o.cancel = nil
	o.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Partitions returns the topology's partition count (0 before Start).
func (o *Owners) Partitions() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.topo.Partitions
}

// Ready returns the addresses of partition p's owners to ask, best first:
// the live, ready ones, least lag first (ties by ID, so that calls keep
// going to the same owner), then those whose lease has lapsed while they
// were ready, most recently heard first. A lease lapses when its owner
// stops, but also when NATS cannot take renewals for a while (a stream
// leader lost); an owner refuses a read of a shard that is not ready, so
// asking a lapsed one is never wrong, only slower when it is gone.
func (o *Owners) Ready(p int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	var live, lapsed []seenLease
	for k, l := range o.leases {
		switch age := now.Sub(l.at); {
		case age > forgetAfter*o.ttl:
			delete(o.leases, k)
		case l.Partition != p || !l.Ready:
		case age < o.ttl:
			live = append(live, l)
		default:
			lapsed = append(lapsed, l)
		}
	}
	slices.SortFunc(live, func(a, b seenLease) int { return cmp.Or(cmp.Compare(a.Lag, b.Lag), strings.Compare(a.ID, b.ID)) })
	slices.SortFunc(lapsed, func(a, b seenLease) int { return cmp.Or(b.at.Compare(a.at), strings.Compare(a.ID, b.ID)) })
	addrs := make([]string, 0, len(live)+len(lapsed))
	for _, l := range slices.Concat(live, lapsed) {
		if !slices.Contains(addrs, l.Addr) {
			addrs = append(addrs, l.Addr)
		}
	}
	return addrs
}

// Live returns how many ingesters other than except hold a live lease
// (renewed within the TTL, ready or not) on partition p.
func (o *Owners) Live(p int, except string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	var ids []string
	for _, l := range o.leases {
		if l.Partition == p && l.ID != except && now.Sub(l.at) < o.ttl && !slices.Contains(ids, l.ID) {
			ids = append(ids, l.ID)
		}
	}
	return len(ids)
}

// forgetAfter is how many TTLs a lapsed lease is still asked after.
const forgetAfter = 20
