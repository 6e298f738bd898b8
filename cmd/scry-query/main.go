// Command scry-query serves Jaeger's query API over the stores of one or
// more scry-collectors, merging their answers.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrytrace/scry/internal/admin"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/cli"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/wiring"
)

var version = "dev"

func main() {
	var (
		rem       = wiring.DefaultRemoteFlags()
		qry       = wiring.DefaultQueryFlags()
		lim       = wiring.DefaultLimitsFlags()
		adminAddr string
		listenTLS = tlsconf.NewServerFlags(tlsconf.HTTP, tlsconf.TempoHTTP, tlsconf.Admin).WithTenancy()
	)
	cmd := &cobra.Command{
		Use:   "scry-query",
		Short: "Scry query: Jaeger's HTTP API over the stores of one or more scry-collectors",
		Long: "Scry query: Jaeger's HTTP API (and /api/v3) and Grafana Tempo's query API (on the query port, and in full on\n" +
			"--tempo-http-addr) over the stores of one or more scry-collectors, merging their answers.\n\n" + cli.EnvHelp,
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
			parts := []app.Named{{Name: "storage client", Part: client}, {Name: "query HTTP", Part: q}}
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
				fmt.Fprintf(os.Stderr, "  stores:     %v\n", rem.Remote.Endpoints)
			}, 30*time.Second)
		},
	}
	rem.Add(cmd.Flags())
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
