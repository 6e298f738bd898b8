// Command scry-collector takes OTLP, Jaeger (Thrift over HTTP and over UDP)
// and Zipkin intake, writes it to its own Badger store and serves that
// store's read API over gRPC to scry-query; it also serves Jaeger remote
// sampling strategies.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/scrytrace/scry/internal/admin"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/cli"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/internal/tlsconf"
	"github.com/scrytrace/scry/internal/wiring"
)

var version = "dev"

// about is the description --help starts with.
const about = "Scry collector: OTLP, Jaeger (Thrift over HTTP, and over UDP on --udp-compact-addr and --udp-binary-addr)\n" +
	"and Zipkin intake into its own Badger store, whose reads it serves over gRPC to scry-query; Jaeger remote sampling\n" +
	"strategies on the Jaeger HTTP port.\n\n" +
	"With --nats-url (the scale-out topology) it keeps no store: it publishes spans to the JetStream partition streams and\n" +
	"acknowledges a client only once every part is stored on a quorum of nats-servers; scry-ingester applies the streams."

func main() {
	var (
		store       = wiring.DefaultStoreFlags()
		intake      = wiring.DefaultIntakeFlags()
		lim         = wiring.DefaultLimitsFlags()
		redf        = wiring.DefaultREDFlags()
		pub         = wiring.DefaultPublishFlags()
		storageAddr string
		adminAddr   string
		listenTLS   = tlsconf.NewServerFlags(tlsconf.OTLPGRPC, tlsconf.OTLPHTTP, tlsconf.JaegerHTTP, tlsconf.Zipkin, tlsconf.Storage, tlsconf.Admin).WithTenancy()
	)
	cmd := &cobra.Command{
		Use:          "scry-collector",
		Short:        "Scry collector: OTLP, Jaeger and Zipkin intake into its own Badger store, whose reads it serves to scry-query",
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
			store.Limits, intake.Limits = ov, ov
			srvTLS, err := listenTLS.Build(tel)
			if err != nil {
				return err
			}
			adm := admin.New(adminAddr, srvTLS.For(tlsconf.Admin), reg, tel.For("admin"))
			if pub.Enabled() {
				return runPublisher(tel, &pub, &intake, srvTLS, adm)
			}
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
			api := wiring.NewStorageServer(storageAddr, s, srvTLS.For(tlsconf.Storage), tel)
			parts := []app.Named{{Name: "store", Part: s}}
			parts = append(parts, redParts...)
			parts = append(parts, in.Parts...)
			parts = append(parts, app.Named{Name: "storage API", Part: api}, app.Named{Name: "admin", Part: adm})
			return app.Run(context.Background(), tel, parts, func() {
				adm.SetReady(true)
				tel.Logger.Info("scry-collector started", "version", version, "data_dir", store.Badger.Dir, "storage_addr", api.Addr().String())
				fmt.Fprintf(os.Stderr, "scry-collector %s is running; storage API on %s, admin on %s%s\n", version, api.Addr(), srvTLS.For(tlsconf.Admin).Scheme(), adm.Addr())
			}, 30*time.Second)
		},
	}
	store.Add(cmd.Flags())
	intake.Add(cmd.Flags())
	lim.Add(cmd.Flags())
	redf.Add(cmd.Flags(), &store)
	pub.Add(cmd.Flags())
	cmd.Flags().StringVar(&storageAddr, "storage-addr", wiring.DefaultStorageAddr, "listen address of the store's read API (gRPC) for scry-query")
	cli.AddAdminFlag(cmd, &adminAddr, "127.0.0.1:14270")
	listenTLS.Add(cmd.Flags())
	cli.AddConfigFlags(cmd)
	cli.AddMemoryLimitFlag(cmd, 200)
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

// runPublisher runs the collector of the scale-out topology: the intake
// writes to the JetStream partition streams; there is no store and no
// storage API (the ingesters serve reads).
func runPublisher(tel telemetry.Settings, pub *wiring.PublishFlags, intake *wiring.IntakeFlags, srvTLS *tlsconf.Servers, adm *admin.Server) error {
	p, n, err := pub.BuildPublisher(tel)
	if err != nil {
		return err
	}
	adm.AddCheck(func() error { // not ready while it cannot reach NATS
		if st := n.Conn.Status(); st != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %v", st)
		}
		return nil
	})
	in, err := intake.BuildIntake(p, srvTLS, tel)
	if err != nil {
		n.Conn.Close()
		return err
	}
	parts := []app.Named{{Name: "NATS connection", Part: n}, {Name: "publisher", Part: p}}
	parts = append(parts, in.Parts...)
	parts = append(parts, app.Named{Name: "admin", Part: adm})
	return app.Run(context.Background(), tel, parts, func() {
		adm.SetReady(true)
		tel.Logger.Info("scry-collector started in the scale-out topology", "version", version, "nats", n.Conn.ConnectedUrlRedacted())
		fmt.Fprintf(os.Stderr, "scry-collector %s is running; publishing to JetStream via %s, admin on %s%s\n", version, n.Conn.ConnectedUrlRedacted(), srvTLS.For(tlsconf.Admin).Scheme(), adm.Addr())
	}, 30*time.Second)
}
