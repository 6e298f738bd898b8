package scaleout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scrytrace/scry/model"
)

// Names in JetStream.
const (
	// TopologyBucket is the KV bucket that records the Topology.
	TopologyBucket = "scry_topology"
	topologyKey    = "topology"
	// OwnersBucket is the KV bucket of the ingesters' leases (Lease).
	OwnersBucket = "scry_owners"
	// streamPrefix and subjectPrefix name partition p's stream and subject.
	streamPrefix  = "SCRY_SPANS_"
	subjectPrefix = "scry.spans."
)

// StreamName is the name of partition p's stream.
func StreamName(p int) string { return streamPrefix + strconv.Itoa(p) }

// Subject is the subject partition p's spans are published on.
func Subject(p int) string { return subjectPrefix + strconv.Itoa(p) }

// PartitionOf is the partition of a trace among n: every span of a trace
// goes to the same one, so one owner holds the whole trace.
func PartitionOf(id model.TraceID, n int) int {
	return int(xxhash.Sum64(id[:]) % uint64(n))
}

// Topology is what a cluster is created with. Partitions and Replicas are
// fixed for its life; the limits may be changed by a later Init.
type Topology struct {
	Partitions int `json:"partitions"`
	// Replicas is how many nats-servers hold each stream (3: an
	// acknowledged message is on two of three before the ack).
	Replicas int `json:"replicas"`
	// MaxBytes bounds each partition's stream; when it is full, publishes
	// are refused (DiscardNew), never is unread data dropped.
	MaxBytes int64 `json:"max_bytes"`
	// MaxAge is how long a message stays in its stream: the window in
	// which a lost shard can be rebuilt by replay.
	MaxAge time.Duration `json:"max_age"`
}

// Defaults of Topology (see DefaultTopology).
const (
	DefaultPartitions = 8
	DefaultReplicas   = 3
	DefaultMaxBytes   = 1 << 30
	DefaultMaxAge     = 72 * time.Hour
	// dedupWindow is how long a message ID is remembered: a publish
	// retried within it (same batch, same ID) is stored once.
	dedupWindow = 2 * time.Minute
)

// DefaultTopology returns the defaults named above.
func DefaultTopology() Topology {
	return Topology{Partitions: DefaultPartitions, Replicas: DefaultReplicas, MaxBytes: DefaultMaxBytes, MaxAge: DefaultMaxAge}
}

// Validate reports what is wrong with t, if anything.
func (t Topology) Validate() error {
	var errs []error
	if t.Partitions < 1 || t.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("partitions %d is not between 1 and 1024", t.Partitions))
	}
	if t.Replicas < 1 || t.Replicas > 5 {
		errs = append(errs, fmt.Errorf("stream replicas %d is not between 1 and 5", t.Replicas))
	}
	if t.MaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("stream max bytes %d is under 1 MiB", t.MaxBytes))
	}
	if t.MaxAge < time.Minute {
		errs = append(errs, fmt.Errorf("stream max age %v is under a minute", t.MaxAge))
	}
	return errors.Join(errs...)
}

func (t Topology) streamConfig(p int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName(p),
		Description: fmt.Sprintf("Scry spans of partition %d of %d", p, t.Partitions),
		Subjects:    []string{Subject(p)},
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    t.MaxBytes,
		MaxAge:      t.MaxAge,
		Duplicates:  dedupWindow,
		MaxMsgSize:  maxMessageBytes,
	}
}

// ErrTopologyMismatch is Init's error when the cluster was created with
// other partitions or replicas than asked.
var ErrTopologyMismatch = errors.New("topology mismatch")

// Init creates the cluster's topology as want says, or checks it against
// the one recorded: a different number of partitions or replicas is
// refused; different limits update every stream. It creates any missing
// stream. Several processes may run it at once: the record is made with a
// compare-and-set and streams are created idempotently. It returns the
// recorded topology.
func Init(ctx context.Context, js jetstream.JetStream, want Topology, logger *slog.Logger) (Topology, error) {
	if err := want.Validate(); err != nil {
		return Topology{}, fmt.Errorf("invalid topology: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      TopologyBucket,
		Description: "Scry's scale-out topology: partitions, stream replicas and limits",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    want.Replicas,
	})
	if err != nil {
		return Topology{}, fmt.Errorf("cannot create the topology bucket %s: %w", TopologyBucket, err)
	}
	b, _ := json.Marshal(want)
	got, rev, err := readTopology(ctx, kv)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if _, err := kv.Create(ctx, topologyKey, b); err == nil {
			got = want
			logger.Info("created the scale-out topology", "partitions", want.Partitions, "replicas", want.Replicas)
		} else if errors.Is(err, jetstream.ErrKeyExists) {
			// Another process created it first: check against that one.
			if got, rev, err = readTopology(ctx, kv); err != nil {
				return Topology{}, err
			}
		} else {
			return Topology{}, fmt.Errorf("cannot record the topology: %w", err)
		}
	case err != nil:
		return Topology{}, err
	}
	if got.Partitions != want.Partitions || got.Replicas != want.Replicas {
		return Topology{}, fmt.Errorf("%w: the cluster was created with %d partitions of %d replicas, not %d of %d: partitions and replicas cannot change (start with --nats-partitions=%d --nats-replicas=%d)",
			ErrTopologyMismatch, got.Partitions, got.Replicas, want.Partitions, want.Replicas, got.Partitions, got.Replicas)
	}
	if got != want {
		if _, err := kv.Update(ctx, topologyKey, b, rev); err != nil {
			return Topology{}, fmt.Errorf("cannot record the new stream limits: %w", err)
		}
		logger.Info("changed the streams' limits", "max_bytes", want.MaxBytes, "max_age", want.MaxAge)
		got = want
	}
	for p := range got.Partitions {
		if _, err := js.CreateOrUpdateStream(ctx, got.streamConfig(p)); err != nil {
			return Topology{}, fmt.Errorf("cannot create stream %s: %w", StreamName(p), err)
		}
	}
	return got, nil
}

// Load reads the recorded topology and checks that every partition's stream
// exists. A cluster without one is an error saying how to create it.
func Load(ctx context.Context, js jetstream.JetStream) (Topology, error) {
	kv, err := js.KeyValue(ctx, TopologyBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return Topology{}, errors.New("no Scry topology in this JetStream cluster: create it with scry-collector --nats-init")
	}
	if err != nil {
		return Topology{}, fmt.Errorf("cannot open the topology bucket %s: %w", TopologyBucket, err)
	}
	t, _, err := readTopology(ctx, kv)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Topology{}, errors.New("no Scry topology in this JetStream cluster: create it with scry-collector --nats-init")
	}
	if err != nil {
		return Topology{}, err
	}
	for p := range t.Partitions {
		if _, err := js.Stream(ctx, StreamName(p)); err != nil {
			return Topology{}, fmt.Errorf("stream %s of the topology: %w (scry-collector --nats-init creates it)", StreamName(p), err)
		}
	}
	return t, nil
}

// LoadWait is Load tried again (each try bounded by 10 s) until it
// succeeds or ctx ends; the last error is returned.
func LoadWait(ctx context.Context, js jetstream.JetStream) (Topology, error) {
	wait := 250 * time.Millisecond
	for {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t, err := Load(tctx, js)
		cancel()
		if err == nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return Topology{}, err
		case <-time.After(wait):
			wait = min(2*wait, 5*time.Second)
		}
	}
}

func readTopology(ctx context.Context, kv jetstream.KeyValue) (Topology, uint64, error) {
	e, err := kv.Get(ctx, topologyKey)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Topology{}, 0, err
		}
		return Topology{}, 0, fmt.Errorf("cannot read the topology: %w", err)
	}
	var t Topology
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		return Topology{}, 0, fmt.Errorf("cannot read the topology: %w", err)
	}
	if err := t.Validate(); err != nil {
		return Topology{}, 0, fmt.Errorf("the recorded topology is invalid: %w", err)
	}
	return t, e.Revision(), nil
}

// ConnConfig says how to reach the NATS cluster.
type ConnConfig struct {
	// URLs of nats-servers (nats://host:port); the client learns the rest
	// of the cluster from them and reconnects to any.
	URLs []string
	// Name is the connection's name, as nats-server's monitoring shows it.
	Name string
	// Options are added to the defaults (TLS, credentials).
	Options []nats.Option
}

// Connect connects to the cluster, reconnecting forever after a loss, and
// logs connection changes to logger.
func Connect(cfg ConnConfig, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if len(cfg.URLs) == 0 {
		return nil, nil, errors.New("no NATS URL given")
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("disconnected from NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { logger.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted()) }),
	}
	opts = append(opts, cfg.Options...)
	url := cfg.URLs[0]
	for _, u := range cfg.URLs[1:] {
		url += "," + u
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot connect to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("cannot use JetStream: %w", err)
	}
	return nc, js, nil
}
