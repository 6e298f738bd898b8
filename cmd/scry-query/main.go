// Command scry-query serves Jaeger's query API over the stores of one or
// more scry-collectors, merging their answers.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrytrace/scry/internal/admin"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/cli"
	"github.com/scrytrace/scry/internal/scaleout"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/wiring"
)

var version = "dev"

func main() {
	var (
		rem       = wiring.DefaultRemoteFlags()
		qry       = wiring.DefaultQueryFlags()
		lim       = wiring.DefaultLimitsFlags()
		natsf     = wiring.DefaultNATSFlags()
		leaseTTL  = scaleout.DefaultLeaseTTL
		adminAddr string
		listenTLS = tlsconf.NewServerFlags(tlsconf.HTTP, tlsconf.TempoHTTP, tlsconf.Admin).WithTenancy()
	)
	cmd := &cobra.Command{
		Use:   "scry-query",
		Short: "Scry query: Jaeger's HTTP API over the stores of one or more scry-collectors",
		Long: "Scry query: Jaeger's HTTP API (and /api/v3) and Grafana Tempo's query API (on the query port, and in full on\n" +
			"--tempo-http-addr) over the stores of one or more scry-collectors, merging their answers; or, with --nats-url,\n" +
			"over the scry-ingesters of the scale-out topology, one ready owner per partition.\n\n" + cli.EnvHelp,
		Version:      version,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tel, reg, err := cli.Setup(cmd)
			if err != nil {
				return err
			}
			ov, err := lim.Build(tel)
			if err != nil {
				return err
			}
			qry.Limits = ov
			srvTLS, err := listenTLS.Build(tel)
			if err != nil {
				return err
			}
			adm := admin.New(adminAddr, srvTLS.For(tlsconf.Admin), reg, tel.For("admin"))
			var front []app.Named
			if natsf.Enabled() {
				if cmd.Flags().Changed("storage") {
					return errors.New("give --storage (collectors with stores of their own) or --nats-url (the scale-out topology), not both")
				}
				n, owners, err := startOwners(&natsf, leaseTTL, tel)
				if err != nil {
					return err
				}
				rem.Remote.Endpoints, rem.Remote.Router = nil, wiring.OwnersRouter{Owners: owners}
				front = []app.Named{{Name: "NATS connection", Part: n}, {Name: "owners", Part: app.Funcs{ShutdownFunc: owners.Shutdown}}}
			}
			client, err := rem.NewClient(tel)
			if err != nil {
				return err
			}
			q, err := qry.BuildQuery(client, srvTLS.For(tlsconf.HTTP), tel)
			if err != nil {
				return err
			}
			tempo, err := qry.BuildTempo(client, srvTLS.For(tlsconf.TempoHTTP), tel)
			if err != nil {
				return err
			}
			parts := append(front, app.Named{Name: "storage client", Part: client}, app.Named{Name: "query HTTP", Part: q})
			if tempo != nil {
				parts = append(parts, app.Named{Name: "Tempo HTTP", Part: tempo})
			}
			parts = append(parts, app.Named{Name: "admin", Part: adm})
			return app.Run(context.Background(), tel, parts, func() {
				adm.SetReady(true)
				tel.Logger.Info("scry-query started", "version", version, "storage", rem.Remote.Endpoints)
				fmt.Fprintf(os.Stderr, "scry-query %s is running.\n  UI and API: %s%s%s/\n", version, srvTLS.For(tlsconf.HTTP).Scheme(), q.Addr(), qry.Query.BasePath)
				if tempo != nil {
					fmt.Fprintf(os.Stderr, "  Tempo API:  %s%s/ (Grafana's Tempo data source)\n", srvTLS.For(tlsconf.TempoHTTP).Scheme(), tempo.Addr())
				}
				if natsf.Enabled() {
					fmt.Fprintf(os.Stderr, "  stores:     the ingesters' leases in NATS %v\n", natsf.URLs)
				} else {
					fmt.Fprintf(os.Stderr, "  stores:     %v\n", rem.Remote.Endpoints)
				}
			}, 30*time.Second)
		},
	}
	rem.Add(cmd.Flags())
	natsf.Add(cmd.Flags(), "read the scale-out topology: each partition from a ready scry-ingester, as their leases in the cluster say (instead of --storage)")
	cmd.Flags().DurationVar(&leaseTTL, "nats-lease-ttl", leaseTTL, "with --nats-url: the ingesters' --lease-ttl; an owner not heard from within it is not asked")
	qry.Add(cmd.Flags())
	lim.Add(cmd.Flags())
	cli.AddAdminFlag(cmd, &adminAddr, "127.0.0.1:16687")
	listenTLS.Add(cmd.Flags())
	cli.AddConfigFlags(cmd)
	cli.AddMemoryLimitFlag(cmd, 300)
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

// startOwners connects to the cluster and follows the ingesters' leases.
func startOwners(natsf *wiring.NATSFlags, ttl time.Duration, tel telemetry.Settings) (*wiring.NATS, *scaleout.Owners, error) {
	n, err := natsf.Connect("scry-query", 0, tel)
	if err != nil {
		return nil, nil, err
	}
	logger := tel.For("nats").Logger
	if _, err := natsf.LoadTopology(n, logger); err != nil {
		n.Conn.Close()
		return nil, nil, err
	}
	owners := scaleout.NewOwners(n.JS, ttl, time.Now, logger)
	ctx, cancel := context.WithTimeout(context.Background(), natsf.Wait)
	defer cancel()
	if err := owners.Start(ctx); err != nil {
		n.Conn.Close()
		return nil, nil, err
	}
	return n, owners, nil
}
