package limits

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/scrytrace/scry/internal/bytesize"
	"github.com/scrytrace/scry/internal/telemetry"
	"github.com/scrytrace/scry/storage"
)

// Limits are one tenant's limits; zero is no limit.
type Limits struct {
	IngestionRateBytes      int64         // bytes per second, sustained
	IngestionBurstBytes     int64         // bytes at once; default: one second of the rate
	MaxBytesPerTrace        int64         // bytes of spans of one trace, as received
	MaxAttributesPerSpan    int           // span attributes kept, and per event and link
	MaxEventsPerSpan        int           // events kept
	MaxLinksPerSpan         int           // links kept
	MaxAttributeValueLength int           // bytes of a string or bytes attribute value kept
	Retention               time.Duration // how long the tenant's spans are kept
	MaxSearchLimit          int           // most traces one search returns
	MaxSearchLookback       time.Duration // how far back a search may look
}

// entry is Limits as the file spells them.
type entry struct {
	IngestionRateBytes      string `json:"ingestion_rate_bytes"`
	IngestionBurstBytes     string `json:"ingestion_burst_bytes"`
	MaxBytesPerTrace        string `json:"max_bytes_per_trace"`
	MaxAttributesPerSpan    int    `json:"max_attributes_per_span"`
	MaxEventsPerSpan        int    `json:"max_events_per_span"`
	MaxLinksPerSpan         int    `json:"max_links_per_span"`
	MaxAttributeValueLength int    `json:"max_attribute_value_length"`
	Retention               string `json:"retention"`
	MaxSearchLimit          int    `json:"max_search_limit"`
	MaxSearchLookback       string `json:"max_search_lookback"`
}

type file struct {
	Defaults entry            `json:"defaults"`
	Tenants  map[string]entry `json:"tenants"`
}

// parse reads the file's content into the defaults and each tenant's
// limits, the defaults filled into what a tenant leaves unset.
func parse(raw []byte) (Limits, map[string]Limits, error) {
	var f file
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return Limits{}, nil, fmt.Errorf("cannot parse: %w", err)
	}
	def, err := f.Defaults.compile(Limits{})
	if err != nil {
		return Limits{}, nil, fmt.Errorf("defaults: %w", err)
	}
	tenants := make(map[string]Limits, len(f.Tenants))
	names := make([]string, 0, len(f.Tenants))
	for name := range f.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := storage.ValidateTenant(name); err != nil {
			return Limits{}, nil, fmt.Errorf("tenants: %w", err)
		}
		l, err := f.Tenants[name].compile(def)
		if err != nil {
			return Limits{}, nil, fmt.Errorf("tenant %s: %w", name, err)
		}
		tenants[name] = l
	}
	return def, tenants, nil
}

// compile turns e into Limits, taking from base what e leaves unset.
func (e entry) compile(base Limits) (Limits, error) {
	l := base
	var errs []error
	size := func(name, v string, dst *int64) {
		if v == "" {
			return
		}
		n, err := bytesize.Parse(v)
		if err == nil && n < 0 {
			err = errors.New("negative")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, v, err))
			return
		}
		*dst = n
	}
	count := func(name string, v int, dst *int) {
		switch {
		case v < 0:
			errs = append(errs, fmt.Errorf("%s %d is negative", name, v))
		case v > 0:
			*dst = v
		}
	}
	dur := func(name, v string, dst *time.Duration) {
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err == nil && d < 0 {
			err = errors.New("negative")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, v, err))
			return
		}
		*dst = d
	}
	size("ingestion_rate_bytes", e.IngestionRateBytes, &l.IngestionRateBytes)
	size("ingestion_burst_bytes", e.IngestionBurstBytes, &l.IngestionBurstBytes)
	size("max_bytes_per_trace", e.MaxBytesPerTrace, &l.MaxBytesPerTrace)
	count("max_attributes_per_span", e.MaxAttributesPerSpan, &l.MaxAttributesPerSpan)
	count("max_events_per_span", e.MaxEventsPerSpan, &l.MaxEventsPerSpan)
	count("max_links_per_span", e.MaxLinksPerSpan, &l.MaxLinksPerSpan)
	count("max_attribute_value_length", e.MaxAttributeValueLength, &l.MaxAttributeValueLength)
	dur("retention", e.Retention, &l.Retention)
	count("max_search_limit", e.MaxSearchLimit, &l.MaxSearchLimit)
	dur("max_search_lookback", e.MaxSearchLookback, &l.MaxSearchLookback)
	if l.Retention != 0 && l.Retention < time.Second {
		errs = append(errs, fmt.Errorf("retention %v is shorter than one second", l.Retention))
	}
	if err := errors.Join(errs...); err != nil {
		return Limits{}, err
	}
	if l.IngestionRateBytes > 0 && l.IngestionBurstBytes == 0 {
		l.IngestionBurstBytes = l.IngestionRateBytes
	}
	return l, nil
}

// DefaultReloadInterval is how often the limits file is looked at again.
const DefaultReloadInterval = 10 * time.Second

// Config says where the limits are.
type Config struct {
	// File is the limits file; empty: no limits.
	File string
	// ReloadInterval is how often, at most, the file is looked at again
	// when a request comes. Zero: never.
	ReloadInterval time.Duration
}

// DefaultConfig returns no file and DefaultReloadInterval.
func DefaultConfig() Config { return Config{ReloadInterval: DefaultReloadInterval} }

// AddFlags registers --limits-file and --limits-reload-interval on fs.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.File, "limits-file", c.File,
		"YAML file of per-tenant limits: ingestion rate and burst, max bytes per trace, attributes/events/links per span, attribute value length, retention, search limit and lookback (see README, Limits; empty: none)")
	fs.DurationVar(&c.ReloadInterval, "limits-reload-interval", c.ReloadInterval,
		"how often --limits-file is looked at again when a request comes; changes apply to the next requests (0: never)")
}

// Overrides answers each tenant's limits from the file.
type Overrides struct {
	path     string
	interval time.Duration
	clock    telemetry.Clock
	log      *slog.Logger

	cur     atomic.Pointer[state]
	checked atomic.Int64 // Unix ns of the last look at the file
	mu      sync.Mutex   // held while reloading
	lastErr string       // of the last reload refused, not to log it again
}

type state struct {
	def     Limits
	tenants map[string]Limits
	size    int64
	modTime time.Time
	sum     [32]byte
}

// New reads and checks cfg.File. With no File it returns nil, whose For
// answers no limits.
func New(cfg Config, tel telemetry.Settings) (*Overrides, error) {
	if cfg.File == "" {
		return nil, nil
	}
	if cfg.ReloadInterval < 0 {
		return nil, fmt.Errorf("--limits-reload-interval must not be negative, got %s", cfg.ReloadInterval)
	}
	tel = tel.Complete()
	o := &Overrides{path: cfg.File, interval: cfg.ReloadInterval, clock: tel.Clock, log: tel.Logger}
	st, err := o.load(nil)
	if err != nil {
		return nil, fmt.Errorf("cannot use limits file %s: %w", cfg.File, err)
	}
	o.cur.Store(st)
	o.checked.Store(o.clock.Now().UnixNano())
	tel.Logger.Info("limits file loaded", "file", cfg.File, "tenants", len(st.tenants))
	return o, nil
}

// load reads the file, or returns nil when it has not changed since prev.
func (o *Overrides) load(prev *state) (*state, error) {
	fi, err := os.Stat(o.path)
	if err != nil {
		return nil, fmt.Errorf("cannot read limits file: %w", err)
	}
	if prev != nil && fi.Size() == prev.size && fi.ModTime().Equal(prev.modTime) {
		return nil, nil
	}
	raw, err := os.ReadFile(o.path)
	if err != nil {
		return nil, fmt.Errorf("cannot read limits file: %w", err)
	}
	sum := sha256.Sum256(raw)
	if prev != nil && bytes.Equal(sum[:], prev.sum[:]) {
		prev.size, prev.modTime = fi.Size(), fi.ModTime()
		return nil, nil
	}
	def, tenants, err := parse(raw)
	if err != nil {
		return nil, err
	}
	return &state{def: def, tenants: tenants, size: fi.Size(), modTime: fi.ModTime(), sum: sum}, nil
}

// current returns the loaded limits, looking at the file first when the
// reload interval has passed (one caller does; the others go on).
func (o *Overrides) current() *state {
	st := o.cur.Load()
	if o.interval <= 0 {
		return st
	}
	now := o.clock.Now()
	if now.UnixNano()-o.checked.Load() < int64(o.interval) || !o.mu.TryLock() {
		return st
	}
	defer o.mu.Unlock()
	o.checked.Store(now.UnixNano())
	st = o.cur.Load()
	next, err := o.load(st)
	switch {
	case err != nil:
		if err.Error() != o.lastErr {
			o.lastErr = err.Error()
			o.log.Error("cannot reload the limits file; the previous limits stay in force until it is right", "file", o.path, "error", err)
		}
	case next != nil:
		o.lastErr = ""
		o.cur.Store(next)
		o.log.Info("limits file changed; the next requests get the new limits", "file", o.path, "tenants", len(next.tenants))
		return next
	}
	return st
}

// For returns tenant's limits ("" is the default tenant): its entry in the
// file, else the defaults. A nil Overrides has no limits.
func (o *Overrides) For(tenant string) Limits {
	if o == nil {
		return Limits{}
	}
	st := o.current()
	if l, ok := st.tenants[tenant]; ok {
		return l
	}
	return st.def
}

// Tenants returns the tenants the file names, sorted.
func (o *Overrides) Tenants() []string {
	if o == nil {
		return nil
	}
	st := o.current()
	out := make([]string, 0, len(st.tenants))
	for t := range st.tenants {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// String describes l for logs.
func (l Limits) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rate=%s/s burst=%s trace=%s attrs=%d events=%d links=%d value=%d retention=%v search_limit=%d lookback=%v",
		bytesize.Format(l.IngestionRateBytes), bytesize.Format(l.IngestionBurstBytes), bytesize.Format(l.MaxBytesPerTrace),
		l.MaxAttributesPerSpan, l.MaxEventsPerSpan, l.MaxLinksPerSpan, l.MaxAttributeValueLength, l.Retention,
		l.MaxSearchLimit, l.MaxSearchLookback)
	return b.String()
}

// Retention returns tenant's retention (0: the store's own). It is
// badger.Config.TenantRetention's shape; a nil Overrides answers 0.
func (o *Overrides) Retention(tenant string) time.Duration { return o.For(tenant).Retention }
