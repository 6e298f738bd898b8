// Command scry is Scry all in one process: OTLP, Jaeger (Thrift over HTTP and
// over UDP, as Jaeger clients send to an agent) and Zipkin intake,
// remote sampling strategies, the embedded Badger store and the query API,
// with the data in a local folder.
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

// about is the description --help starts with.
const about = "Scry all in one: OTLP, Jaeger (Thrift over HTTP, and over UDP as clients send to an agent: compact\n" +
	"protocol on --udp-compact-addr, binary on --udp-binary-addr) and Zipkin intake, Jaeger remote sampling strategies,\n" +
	"embedded Badger store, Jaeger-compatible query API, and Grafana Tempo's query API (on the query port, and\n" +
	"in full on --tempo-http-addr)."

func main() {
	if err := command().Execute(); err != nil {
		os.Exit(1)
	}
}

func command() *cobra.Command {
	var (
		store     = wiring.DefaultStoreFlags()
		intake    = wiring.DefaultIntakeFlags()
		qry       = wiring.DefaultQueryFlags()
		lim       = wiring.DefaultLimitsFlags()
		redf      = wiring.DefaultREDFlags()
		adminAddr string
		listenTLS = tlsconf.NewServerFlags(tlsconf.OTLPGRPC, tlsconf.OTLPHTTP, tlsconf.JaegerHTTP, tlsconf.Zipkin, tlsconf.HTTP, tlsconf.TempoHTTP, tlsconf.Admin).WithTenancy()
	)
	cmd := &cobra.Command{
		Use:          "scry",
		Short:        "Scry all in one: OTLP, Jaeger and Zipkin intake, embedded Badger store, Jaeger-compatible query API",
		Long:         about + "\n\n" + cli.EnvHelp,
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
			store.Limits, intake.Limits, qry.Limits = ov, ov, ov
			srvTLS, err := listenTLS.Build(tel)
			if err != nil {
				return err
			}
			adm := admin.New(adminAddr, srvTLS.For(tlsconf.Admin), reg, tel.For("admin"))
			s, err := store.NewStore(tel)
			if err != nil {
				return err
			}
			adm.AddCheck(s.DiskFull) // not ready while writes are refused for a full disk
			w, redParts, err := redf.Build(s, s, tel)
			if err != nil {
				return err
			}
			in, err := intake.BuildIntake(w, srvTLS, tel)
			if err != nil {
				return err
			}
			if redf.Enabled {
				qry.Query.RED, qry.Query.REDStep = s, redf.RED.Step
			}
			q, err := qry.BuildQuery(s, srvTLS.For(tlsconf.HTTP), tel)
			if err != nil {
				return err
			}
			tempo, err := qry.BuildTempo(s, srvTLS.For(tlsconf.TempoHTTP), tel)
			if err != nil {
				return err
			}
			parts := []app.Named{{Name: "store", Part: s}}
			parts = append(parts, redParts...)
			parts = append(parts, in.Parts...)
			parts = append(parts, app.Named{Name: "query HTTP", Part: q})
			if tempo != nil {
				parts = append(parts, app.Named{Name: "Tempo HTTP", Part: tempo})
			}
			parts = append(parts, app.Named{Name: "admin", Part: adm})
			return app.Run(context.Background(), tel, parts, func() {
				adm.SetReady(true)
				tel.Logger.Info("scry started", "version", version, "data_dir", store.Badger.Dir)
				fmt.Fprintf(os.Stderr, "Scry %s is running.\n  UI and API:  %s%s%s/\n", version, srvTLS.For(tlsconf.HTTP).Scheme(), q.Addr(), qry.Query.BasePath)
				if tempo != nil {
					fmt.Fprintf(os.Stderr, "  Tempo API:   %s%s/ (Grafana's Tempo data source)\n", srvTLS.For(tlsconf.TempoHTTP).Scheme(), tempo.Addr())
				}
				if in.GRPC != nil {
					fmt.Fprintf(os.Stderr, "  OTLP/gRPC:   %s\n", in.GRPC.Addr())
				}
				if in.HTTP != nil {
					fmt.Fprintf(os.Stderr, "  OTLP/HTTP:   %s%s/v1/traces\n", srvTLS.For(tlsconf.OTLPHTTP).Scheme(), in.HTTP.Addr())
				}
				if in.JaegerHTTP != nil {
					fmt.Fprintf(os.Stderr, "  Jaeger HTTP: %s%s/api/traces, sampling at /api/sampling\n", srvTLS.For(tlsconf.JaegerHTTP).Scheme(), in.JaegerHTTP.Addr())
				}
				if in.UDP != nil {
					if a := in.UDP.Addrs().Compact; a != nil {
						fmt.Fprintf(os.Stderr, "  Jaeger UDP:  %s (compact Thrift)\n", a)
					}
					if a := in.UDP.Addrs().Binary; a != nil {
						fmt.Fprintf(os.Stderr, "  Jaeger UDP:  %s (binary Thrift)\n", a)
					}
				}
				if in.Zipkin != nil {
					fmt.Fprintf(os.Stderr, "  Zipkin:      %s%s/api/v2/spans\n", srvTLS.For(tlsconf.Zipkin).Scheme(), in.Zipkin.Addr())
				}
				fmt.Fprintf(os.Stderr, "  admin:       %s%s/metrics\n  data:        %s\n", srvTLS.For(tlsconf.Admin).Scheme(), adm.Addr(), store.Badger.Dir)
			}, 30*time.Second)
		},
	}
	store.Add(cmd.Flags())
	intake.Add(cmd.Flags())
	qry.Add(cmd.Flags())
	lim.Add(cmd.Flags())
	redf.Add(cmd.Flags(), &store)
	cli.AddAdminFlag(cmd, &adminAddr, "127.0.0.1:14269")
	listenTLS.Add(cmd.Flags())
	cli.AddConfigFlags(cmd)
	cli.AddMemoryLimitFlag(cmd, 200)
	cmd.AddCommand(authCommand())
	cmd.CompletionOptions.DisableDefaultCmd = true
	return cmd
}
