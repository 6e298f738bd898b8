// Command scry-ingester is the storage tier of the scale-out topology: it
// owns partitions of the JetStream cluster's span streams, applies each to
// a Badger shard of its own, and serves the shards' reads to scry-query.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrytrace/scry/collector/ingester"
	"github.com/scrytrace/scry/internal/admin"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/cli"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/wiring"
)

var version = "dev"

const about = "Scry ingester (scale-out topology): owns partitions of the JetStream span streams that scry-collector --nats-url\n" +
	"publishes to, applies each to a Badger shard of its own (under --data-dir, one folder per partition), and serves\n" +
	"the shards' reads over gRPC to scry-query --nats-url. A partition is read only once its shard is within\n" +
	"--ready-lag messages (or --ready-delay) of its stream; leases in the cluster tell scry-query which ingesters are ready.\n\n" +
	"Ownership: --partitions lists them, or --ordinal k of --ingesters N owns every partition p with\n" +
	"p mod N = k or p mod N = k-1 (mod N), so that each partition has two owners when N >= 2; with --standby it also\n" +
	"takes over partitions whose owners stopped renewing their leases. A shard started on an\n" +
	"empty disk is rebuilt from its stream (as far back as --nats-stream-max-age keeps)."

func main() {
	var (
		natsf       = wiring.DefaultNATSFlags()
		store       = wiring.DefaultStoreFlags()
		cfg         = ingester.DefaultConfig()
		partitions  string
		ordinal     = -2
		ingesters   int
		storageAddr string
		advertise   string
		adminAddr   string
		listenTLS   = tlsconf.NewServerFlags(tlsconf.Storage, tlsconf.Admin).WithTenancy()
	)
	store.Badger.Dir = "scry-ingester-data"
	cmd := &cobra.Command{
		Use:          "scry-ingester",
		Short:        "Scry ingester: applies partitions of the JetStream span streams to Badger shards and serves their reads",
		Long:         about + "\n\n" + cli.EnvHelp,
		Version:      version,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !natsf.Enabled() {
				return errors.New("--nats-url is required: the ingester reads the JetStream cluster's partition streams")
			}
			host, _ := os.Hostname()
			if cfg.ID == "" {
				cfg.ID = sanitizeID(host)
			}
			tel, reg, err := cli.Setup(cmd)
			if err != nil {
				return err
			}
			srvTLS, err := listenTLS.Build(tel)
			if err != nil {
				return err
			}
			if cfg.Addr, err = advertiseAddr(advertise, storageAddr, host); err != nil {
				return err
			}
			n, err := natsf.Connect("scry-ingester-"+cfg.ID, 0, tel)
			if err != nil {
				return err
			}
			topo, err := natsf.LoadTopology(n, tel.For("nats").Logger)
			if err != nil {
				n.Conn.Close()
				return err
			}
			if cfg.Standby && partitions == "" && ordinal == -2 && ingesters == 0 {
				cfg.Partitions = nil // a standby only
			} else if cfg.Partitions, err = owned(partitions, ordinal, ingesters, host, topo.Partitions); err != nil {
				n.Conn.Close()
				return err
			}
			cfg.DataDir, cfg.Store = store.Badger.Dir, store.Badger
			cfg.Stalled = func() {
				tel.Logger.Warn("JetStream did not answer; reconnecting in case this nats-server is cut off from its cluster", "server", n.Conn.ConnectedUrlRedacted())
				_ = n.Conn.ForceReconnect()
			}
			in, err := ingester.New(cfg, n.JS, tel.For("ingester"))
			if err != nil {
				n.Conn.Close()
				return err
			}
			adm := admin.New(adminAddr, srvTLS.For(tlsconf.Admin), reg, tel.For("admin"))
			adm.AddCheck(in.Ready) // ready once every owned shard has caught up
			api := wiring.NewPartitionedStorageServer(storageAddr, in.Shard, srvTLS.For(tlsconf.Storage), tel)
			parts := []app.Named{{Name: "NATS connection", Part: n}, {Name: "ingester", Part: in}, {Name: "storage API", Part: api}, {Name: "admin", Part: adm}}
			return app.Run(context.Background(), tel, parts, func() {
				adm.SetReady(true)
				tel.Logger.Info("scry-ingester started", "version", version, "id", cfg.ID, "partitions", cfg.Partitions, "data_dir", cfg.DataDir, "advertise", cfg.Addr)
				fmt.Fprintf(os.Stderr, "scry-ingester %s (%s) is running; partitions %v of %d, storage API on %s (advertised as %s), admin on %s%s\n",
					version, cfg.ID, cfg.Partitions, topo.Partitions, api.Addr(), cfg.Addr, srvTLS.For(tlsconf.Admin).Scheme(), adm.Addr())
			}, 30*time.Second)
		},
	}
	fs := cmd.Flags()
	natsf.Add(fs, "the cluster whose partition streams this ingester applies (required)")
	store.Add(fs)
	fs.StringVar(&cfg.ID, "id", "", "this ingester's name in leases and logs: letters, digits, '-' and '_' (default: the host name)")
	fs.StringVar(&partitions, "partitions", "", `partitions to own, e.g. "0,1,4-7" (or use --ordinal and --ingesters)`)
	fs.IntVar(&ordinal, "ordinal", ordinal, "this ingester's ordinal k among --ingesters N (-1: the number ending the host name, as in a StatefulSet pod scry-ingester-2)")
	fs.IntVar(&ingesters, "ingesters", 0, "how many ingesters share the partitions, with --ordinal")
	fs.BoolVar(&cfg.Standby, "standby", false, "also take over any partition that has had fewer than two live owners for two --lease-ttl: replay it into a shard of its own and serve it until this ingester stops (alone, without --partitions or --ordinal: a standby only)")
	fs.StringVar(&storageAddr, "storage-addr", wiring.DefaultStorageAddr, "listen address of the shards' read API (gRPC) for scry-query")
	fs.StringVar(&advertise, "advertise-addr", "", "host:port scry-query dials for the read API (default: --storage-addr, with the host name for an unspecified host)")
	fs.Uint64Var(&cfg.ReadyLag, "ready-lag", cfg.ReadyLag, "messages (batches of spans) a shard may be behind its stream and still be read")
	fs.DurationVar(&cfg.ReadyDelay, "ready-delay", cfg.ReadyDelay, "a shard is also read when the last message it applied was published at most this long ago, however many messages it is behind")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "how long a lease lives unless renewed (every third of it); a stopped ingester is out of reads within it")
	fs.IntVar(&cfg.FetchBatch, "fetch-batch", cfg.FetchBatch, "the most messages (batches of spans) one write to a shard holds")
	cli.AddAdminFlag(cmd, &adminAddr, "127.0.0.1:14272")
	listenTLS.Add(fs)
	cli.AddConfigFlags(cmd)
	cli.AddMemoryLimitFlag(cmd, 400)
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

// owned returns the partitions to own: the list spec, or those of ordinal
// k of n (k = -1: the host name's trailing number).
func owned(spec string, k, n int, host string, total int) ([]int, error) {
	switch {
	case spec != "" && (k != -2 || n != 0):
		return nil, errors.New("give --partitions or --ordinal with --ingesters, not both")
	case spec != "":
		ps, err := parsePartitions(spec)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p >= total {
				return nil, fmt.Errorf("--partitions: partition %d is not among the cluster's %d (0 to %d)", p, total, total-1)
			}
		}
		return ps, nil
	case k == -2 && n == 0:
		return nil, errors.New("say which partitions to own: --partitions, or --ordinal with --ingesters")
	case n < 1:
		return nil, fmt.Errorf("--ingesters %d: give how many ingesters share the partitions (at least 1)", n)
	}
	if k == -1 {
		m := trailingNumber.FindStringSubmatch(host)
		if m == nil {
			return nil, fmt.Errorf("--ordinal=-1: host name %q does not end in -<number>", host)
		}
		k, _ = strconv.Atoi(m[1])
	}
	if k < 0 || k >= n {
		return nil, fmt.Errorf("--ordinal %d is not between 0 and --ingesters-1 (%d)", k, n-1)
	}
	var out []int
	for p := range total {
		if r := p % n; r == k || r == (k+n-1)%n {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ordinal %d of %d ingesters owns none of the cluster's %d partitions: use fewer ingesters", k, n, total)
	}
	return out, nil
}

var trailingNumber = regexp.MustCompile(`-(\d+)$`)

// parsePartitions reads "0,1,4-7".
func parsePartitions(spec string) ([]int, error) {
	var out []int
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("--partitions: %q is not a partition or a range lo-hi", item)
		}
		for p := a; p <= b; p++ {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// advertiseAddr is the address scry-query dials: adv, or listen with the
// host name when its host is unspecified.
func advertiseAddr(adv, listen, host string) (string, error) {
	if adv != "" {
		if _, _, err := net.SplitHostPort(adv); err != nil {
			return "", fmt.Errorf("--advertise-addr %q is not host:port: %w", adv, err)
		}
		return adv, nil
	}
	h, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--storage-addr %q is not host:port: %w", listen, err)
	}
	if h == "" || h == "0.0.0.0" || h == "::" {
		h = host
	}
	if port == "0" {
		return "", errors.New("--storage-addr with port 0 needs --advertise-addr")
	}
	return net.JoinHostPort(h, port), nil
}

// sanitizeID makes a host name a valid ingester ID.
func sanitizeID(host string) string {
	id := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, host)
	if len(id) > 64 {
		id = id[:64]
	}
	if id == "" {
		id = "ingester"
	}
	return id
}
