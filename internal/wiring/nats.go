package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/collector/publish"
	"github.com/scrytrace/scry/internal/bytesize"
	"github.com/scrytrace/scry/internal/scaleout"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/model"
	"github.com/scrytrace/scry/storage/remote"
)

// DefaultNATSWait bounds how long a binary waits at start for the NATS
// cluster (connection, quorum, the topology) before it gives up.
const DefaultNATSWait = 2 * time.Minute

// NATSFlags configure the connection to the JetStream cluster of the
// scale-out topology (internal/scaleout). No --nats-url: the binary runs
// without NATS, as before.
type NATSFlags struct {
	URLs []string
	// Wait bounds the wait for the cluster at start.
	Wait time.Duration
}

// DefaultNATSFlags returns no URL and DefaultNATSWait.
func DefaultNATSFlags() NATSFlags { return NATSFlags{Wait: DefaultNATSWait} }

// Add registers the connection flags on fs; what says what the cluster
// is for, in the help.
func (f *NATSFlags) Add(fs *pflag.FlagSet, what string) {
	fs.StringSliceVar(&f.URLs, "nats-url", f.URLs,
		"a nats-server of the JetStream cluster, nats://host:port (nats://user:password@host:port for a server that requires a user); repeat or separate by commas. Set: "+what)
	fs.DurationVar(&f.Wait, "nats-wait", f.Wait, "how long to wait at start for the NATS cluster and its Scry topology")
}

// Enabled reports whether --nats-url was given.
func (f *NATSFlags) Enabled() bool { return len(f.URLs) > 0 }

// NATS is a connection to the cluster, a part whose Shutdown drains it.
type NATS struct {
	Conn *nats.Conn
	JS   jetstream.JetStream
}

// Start implements app.Part: the connection is made by Connect.
func (n *NATS) Start(context.Context) error { return nil }

// Shutdown flushes what is pending and closes the connection.
func (n *NATS) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	n.Conn.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := n.Conn.Drain(); err != nil {
		n.Conn.Close()
		return nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		n.Conn.Close()
	}
	return nil
}

// Connect connects to the cluster as name, with js's publish timeout
// publishTimeout (0: the client's default).
func (f *NATSFlags) Connect(name string, publishTimeout time.Duration, tel telemetry.Settings) (*NATS, error) {
	cfg := scaleout.ConnConfig{URLs: f.URLs, Name: name}
	nc, _, err := scaleout.Connect(cfg, tel.For("nats").Logger)
	if err != nil {
		return nil, err
	}
	var opts []jetstream.JetStreamOpt
	if publishTimeout > 0 {
		opts = append(opts, jetstream.WithPublishAsyncTimeout(publishTimeout))
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cannot use JetStream: %w", err)
	}
	return &NATS{Conn: nc, JS: js}, nil
}

// retry calls do until it succeeds or wait has passed, logging each
// failure; the last error is returned. An error from do that says the
// topology is missing or different is returned at once: waiting does not
// mend it.
func retry(wait time.Duration, logger *slog.Logger, what string, do func(ctx context.Context) error) error {
	deadline := time.Now().Add(wait)
	d := 250 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := do(ctx)
		cancel()
		if err == nil || errors.Is(err, errFatal) {
			return err
		}
		if time.Now().Add(d).After(deadline) {
			return fmt.Errorf("%s: gave up after %v: %w", what, wait, err)
		}
		logger.Warn(what+"; retrying", "err", err)
		time.Sleep(d)
		d = min(2*d, 5*time.Second)
	}
}

var errFatal = errors.New("fatal")

// LoadTopology waits for the cluster's recorded topology (scaleout.Load).
func (f *NATSFlags) LoadTopology(n *NATS, logger *slog.Logger) (scaleout.Topology, error) {
	var t scaleout.Topology
	err := retry(f.Wait, logger, "cannot read the Scry topology from NATS", func(ctx context.Context) (err error) {
		t, err = scaleout.Load(ctx, n.JS)
		return err
	})
	return t, err
}

// PublishFlags configure a collector in the scale-out topology: the
// topology it may create (--nats-init) and its publishing.
type PublishFlags struct {
	NATS     NATSFlags
	Init     bool
	Topology scaleout.Topology
	Publish  publish.Config
}

// DefaultPublishFlags returns scaleout.DefaultTopology and
// publish.DefaultConfig.
func DefaultPublishFlags() PublishFlags {
	return PublishFlags{NATS: DefaultNATSFlags(), Topology: scaleout.DefaultTopology(), Publish: publish.DefaultConfig()}
}

// Add registers the flags on fs, with f's values as their defaults.
func (f *PublishFlags) Add(fs *pflag.FlagSet) {
	f.NATS.Add(fs, "the collector keeps no store and acknowledges spans once the JetStream partition streams have them on a quorum (scale-out topology; its store and storage API flags are unused)")
	fs.BoolVar(&f.Init, "nats-init", f.Init,
		"create the topology (the partition streams) if the cluster has none, or check it against --nats-partitions and --nats-replicas and apply the stream limits; without it the collector only uses the recorded topology")
	fs.IntVar(&f.Topology.Partitions, "nats-partitions", f.Topology.Partitions, "with --nats-init: partitions (one stream each) of a new cluster; fixed for its life")
	fs.IntVar(&f.Topology.Replicas, "nats-replicas", f.Topology.Replicas, "with --nats-init: nats-servers holding each stream (3: an acknowledged span is on two before the ack); fixed for the cluster's life")
	fs.Var(bytesize.NewValue(&f.Topology.MaxBytes), "nats-stream-max-bytes", "with --nats-init: the most each partition's stream holds; when full, publishes are refused (clients retry), unread data is never dropped")
	fs.DurationVar(&f.Topology.MaxAge, "nats-stream-max-age", f.Topology.MaxAge, "with --nats-init: how long a message stays in its stream: the window in which an ingester's lost shard can be rebuilt by replay")
	fs.DurationVar(&f.Publish.Timeout, "nats-publish-timeout", f.Publish.Timeout, "how long a write waits for JetStream's acknowledgements before the client is told to retry")
	fs.IntVar(&f.Publish.BatchBytes, "nats-batch-bytes", f.Publish.BatchBytes, "about how many compressed bytes one published message holds")
}

// Enabled reports whether --nats-url was given.
func (f *PublishFlags) Enabled() bool { return f.NATS.Enabled() }

// BuildPublisher connects, creates or loads the topology and returns the
// publisher (a storage.Writer) with the connection; both are parts, the
// connection to be shut down after the publisher.
func (f *PublishFlags) BuildPublisher(tel telemetry.Settings) (*publish.Publisher, *NATS, error) {
	if err := f.Publish.Validate(); err != nil {
		return nil, nil, fmt.Errorf("invalid --nats-publish-timeout or --nats-batch-bytes: %w", err)
	}
	if f.Init {
		if err := f.Topology.Validate(); err != nil {
			return nil, nil, fmt.Errorf("invalid --nats-partitions, --nats-replicas or stream limits: %w", err)
		}
	}
	n, err := f.NATS.Connect("scry-collector", f.Publish.Timeout, tel)
	if err != nil {
		return nil, nil, err
	}
	logger := tel.For("nats").Logger
	var topo scaleout.Topology
	if f.Init {
		err = retry(f.NATS.Wait, logger, "cannot create or check the Scry topology", func(ctx context.Context) error {
			t, err := scaleout.Init(ctx, n.JS, f.Topology, logger)
			if errors.Is(err, scaleout.ErrTopologyMismatch) {
				return fmt.Errorf("%w: %w", errFatal, err)
			}
			topo = t
			return err
		})
	} else {
		topo, err = f.NATS.LoadTopology(n, logger)
	}
	if err != nil {
		n.Conn.Close()
		return nil, nil, err
	}
	cfg := f.Publish
	cfg.Stalled = func() {
		logger.Warn("JetStream did not answer; reconnecting in case this nats-server is cut off from its cluster", "server", n.Conn.ConnectedUrlRedacted())
		_ = n.Conn.ForceReconnect()
	}
	p, err := publish.New(cfg, n.JS, topo, tel.For("publish"))
	if err != nil {
		n.Conn.Close()
		return nil, nil, err
	}
	return p, n, nil
}

// OwnersRouter routes scry-query's reads by the owners' leases: a
// remote.Router over scaleout.Owners.
type OwnersRouter struct{ Owners *scaleout.Owners }

var _ remote.Router = OwnersRouter{}

// Route implements remote.Router.
func (r OwnersRouter) Route(parts []int) []remote.Route {
	if parts == nil {
		for p := range r.Owners.Partitions() {
			parts = append(parts, p)
		}
	}
	out := make([]remote.Route, len(parts))
	for i, p := range parts {
		out[i] = remote.Route{Partition: p, Addrs: r.Owners.Ready(p)}
	}
	return out
}

// PartitionOf implements remote.Router.
func (r OwnersRouter) PartitionOf(id model.TraceID) int {
	return scaleout.PartitionOf(id, max(1, r.Owners.Partitions()))
}
