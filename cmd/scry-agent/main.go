// Command scry-agent is the sidecar that applications send spans to: Jaeger
// Thrift over UDP and OTLP over gRPC and HTTP. It batches them in a bounded
// buffer and forwards them to one or more scry-collectors over OTLP/gRPC,
// retrying with backoff, and serves Jaeger's remote sampling strategies. It
// links no storage and no UI.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/agent"
	"github.com/scrytrace/scry/internal/admin"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/cli"
)

var version = "dev"

func main() {
	cfg := agent.DefaultConfig()
	var (
		adminAddr       string
		shutdownTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scry-agent --collector HOST:PORT",
		Short: "Scry agent: takes spans over UDP (Jaeger Thrift) and OTLP, batches and forwards them to scry-collectors",
		Long: `Scry agent: the sidecar applications send spans to. It takes Jaeger Thrift
over UDP (compact on 6831, binary on 6832) and OTLP over gRPC (4317) and HTTP
(4318), holds them in a buffer bounded in bytes, and forwards them in batches
to the collectors given with --collector over OTLP/gRPC, round robin across
their addresses, retrying with backoff. An OTLP export is acknowledged once
its spans are in the buffer (and, with --spool-dir, on disk); when the buffer
is full OTLP senders are told to retry later and UDP spans are dropped and
counted (scry_agent_spans_dropped_total). It also serves Jaeger's remote
sampling strategies (GET /sampling?service=) fetched from the collector.

` + cli.EnvHelp,
		Version:      version,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, reg, err := cli.Setup(cmd)
			if err != nil {
				return err
			}
			if len(cfg.Collectors) == 0 {
				return fmt.Errorf("no collector to forward to: set --collector (or %s) to a collector's OTLP/gRPC host:port", cli.EnvName("collector"))
			}
			a, err := agent.New(cfg, log, reg)
			if err != nil {
				return err
			}
			adm := admin.New(adminAddr, reg, log)
			parts := []app.Named{{Name: "agent", Part: a}, {Name: "admin", Part: adm}}
			return app.Run(context.Background(), log, parts, func() {
				adm.SetReady(true)
				log.Info("scry-agent started", "version", version, "collectors", cfg.Collectors)
				fmt.Fprintf(os.Stderr, "scry-agent %s is running; forwarding to %v, admin on http://%s\n", version, cfg.Collectors, adm.Addr())
			}, shutdownTimeout)
		},
	}
	addFlags(cmd.Flags(), &cfg)
	cmd.Flags().DurationVar(&shutdownTimeout, "shutdown-timeout", 10*time.Second,
		"time to forward what the buffer holds at shutdown; what is left is spooled (with --spool-dir) or dropped and counted")
	cli.AddAdminFlag(cmd, &adminAddr, "127.0.0.1:14271")
	cli.AddConfigFlags(cmd)
	cli.AddMemoryLimitFlag(cmd, 256)
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

func addFlags(fs *pflag.FlagSet, c *agent.Config) {
	fs.StringVar(&c.UDPCompactAddr, "udp-compact-addr", c.UDPCompactAddr, "UDP listen address for Jaeger Thrift emitBatch, compact protocol (empty: off)")
	fs.StringVar(&c.UDPBinaryAddr, "udp-binary-addr", c.UDPBinaryAddr, "UDP listen address for Jaeger Thrift emitBatch, binary protocol (empty: off)")
	fs.IntVar(&c.UDPBufferBytes, "udp-buffer-bytes", c.UDPBufferBytes, "UDP socket receive buffer asked of the kernel (a smaller one given is logged)")
	fs.IntVar(&c.UDPWorkers, "udp-workers", c.UDPWorkers, "goroutines decoding UDP packets")
	fs.StringVar(&c.OTLPGRPCAddr, "otlp-grpc-addr", c.OTLPGRPCAddr, "OTLP/gRPC listen address (empty: off)")
	fs.StringVar(&c.OTLPHTTPAddr, "otlp-http-addr", c.OTLPHTTPAddr, "OTLP/HTTP listen address, POST /v1/traces (empty: off)")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", c.MaxMessageBytes, "largest OTLP request accepted, after decompression")
	fs.IntVar(&c.MaxSpansPerRequest, "max-spans-per-request", c.MaxSpansPerRequest, "most spans accepted in one OTLP request")
	fs.StringSliceVar(&c.Collectors, "collector", nil,
		"a collector's OTLP/gRPC address, host:port (required); repeat or separate by commas for several. A DNS name stands for every address it resolves to (a Kubernetes headless Service)")
	fs.DurationVar(&c.ResolveInterval, "collector-resolve-interval", c.ResolveInterval, "how often DNS names in --collector are resolved again")
	fs.DurationVar(&c.ExportTimeout, "collector-timeout", c.ExportTimeout, "time limit of one export to a collector")
	fs.IntVar(&c.Forwarders, "forwarders", c.Forwarders, "batches sent or retried at once")
	fs.IntVar(&c.BatchSpans, "batch-spans", c.BatchSpans, "spans per batch sent to a collector")
	fs.DurationVar(&c.BatchTimeout, "batch-timeout", c.BatchTimeout, "longest a span waits for its batch to fill before the batch is sent")
	fs.Int64Var(&c.BufferBytes, "buffer-bytes", c.BufferBytes, "bound on the estimated memory of spans held (waiting, being sent or retried)")
	fs.DurationVar(&c.RetryInitialBackoff, "retry-initial-backoff", c.RetryInitialBackoff, "first wait before a failing collector address is tried again (doubles, with jitter)")
	fs.DurationVar(&c.RetryMaxBackoff, "retry-max-backoff", c.RetryMaxBackoff, "longest wait before a failing collector address is tried again (RetryInfo from the collector may ask for longer)")
	fs.StringVar(&c.SpoolDir, "spool-dir", c.SpoolDir, "folder for the on-disk spool: spans acknowledged over OTLP are written there until forwarded, and survive a restart (empty: no spool)")
	fs.Int64Var(&c.SpoolBytes, "spool-bytes", c.SpoolBytes, "bound on the spool's size on disk; when full, OTLP senders are told to retry later")
	fs.StringVar(&c.SamplingAddr, "sampling-addr", c.SamplingAddr, "listen address of the remote sampling endpoint, GET /sampling?service= (empty: off)")
	fs.StringVar(&c.SamplingURL, "sampling-url", c.SamplingURL, "the collector's sampling endpoint the strategies are fetched from")
}
