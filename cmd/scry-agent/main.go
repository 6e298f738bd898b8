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

	"github.com/spf13/cobra"

	"github.com/scrytrace/scry/agent"
	"github.com/scrytrace/scry/internal/admin"
	"github.com/scrytrace/scry/internal/agentflags"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/cli"
	"github.com/scrytrace/scry/internal/tlsconf"
)

var version = "dev"

func main() {
	flags := agentflags.Default()
	cfg := &flags.Agent
	var adminAddr string
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
counted (scry_agent_spans_dropped_total). Tenants are kept apart: an OTLP
export's tenant is its x-tenant (--tenant-header) or X-Scope-OrgID header,
else --tenant, which UDP spans get too; each batch holds one tenant's spans
and is sent with its tenant in --tenant-header, and the spool keeps each
record's tenant across restarts. It also serves Jaeger's remote
sampling strategies (GET /sampling?service=) fetched from the collector.

` + cli.EnvHelp,
		Version:      version,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tel, reg, err := cli.Setup(cmd)
			if err != nil {
				return err
			}
			if len(cfg.Collectors) == 0 {
				return fmt.Errorf("no collector to forward to: set --collector (or %s) to a collector's OTLP/gRPC host:port", cli.EnvName("collector"))
			}
			srvTLS, err := flags.ListenTLS.Build(tel)
			if err != nil {
				return err
			}
			acfg, err := flags.Config(srvTLS, tel)
			if err != nil {
				return err
			}
			a, err := agent.New(acfg, tel)
			if err != nil {
				return err
			}
			adm := admin.New(adminAddr, srvTLS.For(tlsconf.Admin), reg, tel.For("admin"))
			parts := []app.Named{{Name: "agent", Part: a}, {Name: "admin", Part: adm}}
			return app.Run(context.Background(), tel, parts, func() {
				adm.SetReady(true)
				tel.Logger.Info("scry-agent started", "version", version, "collectors", cfg.Collectors)
				fmt.Fprintf(os.Stderr, "scry-agent %s is running; forwarding to %v, admin on %s%s\n", version, cfg.Collectors, srvTLS.For(tlsconf.Admin).Scheme(), adm.Addr())
			}, flags.ShutdownTimeout)
		},
	}
	flags.Add(cmd.Flags())
	cli.AddAdminFlag(cmd, &adminAddr, "127.0.0.1:14271")
	cli.AddConfigFlags(cmd)
	cli.AddMemoryLimitFlag(cmd, 256)
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
