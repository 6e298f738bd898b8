package wiring

import (
	"github.com/spf13/pflag"

	"github.com/scrytrace/scry/collector/red"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/badger"
)

// REDFlags configure the RED metrics computed at ingest (collector/red)
// and kept in the embedded store.
type REDFlags struct {
	Enabled bool
	RED     red.Config
}

// DefaultREDFlags returns red.DefaultConfig, turned on.
func DefaultREDFlags() REDFlags { return REDFlags{Enabled: true, RED: red.DefaultConfig()} }

// Add registers the flags on fs, the retentions into store's Badger
// config.
func (f *REDFlags) Add(fs *pflag.FlagSet, store *StoreFlags) {
	fs.BoolVar(&f.Enabled, "red-metrics", f.Enabled,
		"compute RED metrics (calls, errors, latency histograms per service, operation, span kind and status) from every span committed, for Jaeger's Monitor tab (/api/metrics/...)")
	fs.DurationVar(&f.RED.Step, "red-step", f.RED.Step, "step of the RED series: the counts of a step are written when it ends (a kill -9 loses at most the step under way)")
	fs.StringSliceVar(&f.RED.Dimensions, "red-dimensions", f.RED.Dimensions,
		"attribute keys (span attributes, else resource attributes) RED series are also split by, comma separated, e.g. deployment.environment,http.route")
	fs.IntVar(&f.RED.MaxValuesPerDimension, "red-max-series-per-dimension", f.RED.MaxValuesPerDimension,
		"most values per tenant of each RED label (services; a service's operations; each --red-dimensions key): the spans of further values are counted under __other__ (scry_red_folded_spans_total)")
	fs.IntVar(&f.RED.MaxSeries, "red-max-series", f.RED.MaxSeries,
		"most RED series per tenant in one step: the spans of further series are counted in one series labelled __other__, so memory stays bounded")
	fs.DurationVar(&store.Badger.REDRetention, "red-retention", store.Badger.REDRetention,
		"how long RED series are kept, as 5-minute roll-ups")
	fs.DurationVar(&store.Badger.REDFineRetention, "red-fine-retention", store.Badger.REDFineRetention,
		"how long RED series are kept at --red-step")
}

// Build puts the aggregator in front of w, writing its series to s, and
// returns the writer the intake writes to and the part to run (between the
// store and the intake, so that it is shut down after the queue has drained
// and before the store). Turned off, it returns w and no part.
func (f *REDFlags) Build(w storage.Writer, s *badger.Store, tel telemetry.Settings) (storage.Writer, []app.Named, error) {
	if !f.Enabled {
		return w, nil, nil
	}
	a, err := red.New(f.RED, w, s, tel.For("red"))
	if err != nil {
		return nil, nil, err
	}
	return a, []app.Named{{Name: "RED metrics", Part: a}}, nil
}
