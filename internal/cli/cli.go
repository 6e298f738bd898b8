// Package cli is the configuration plumbing shared by Scry's binaries: every
// flag can also be set as SCRY_<FLAG> in the environment (dashes and dots become
// underscores) or in a YAML file given with --config. A flag on the command
// line wins over the environment, which wins over the file, which wins over
// the default. In the file a block stands for the flags its keys extend,
// with underscores as dashes: tls: {cert_file: x} is tls-cert-file: x, as
// the OpenTelemetry Collector spells its TLS settings.
package cli

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/scrytrace/scry/internal/telemetry"
)

// EnvName is the environment variable that sets flag name.
func EnvName(flag string) string {
	return "SCRY_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flag))
}

// AddConfigFlags adds --config, --log-level and --log-format to cmd.
func AddConfigFlags(cmd *cobra.Command) {
	cmd.Flags().String("config", "", "YAML file of flag values (keys are flag names)")
	cmd.Flags().String("log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().String("log-format", LogAuto, "log format on stderr: text (key=value lines), json (one object a line), or auto: text when stderr is a terminal, else json")
}

// Apply fills flags not given on the command line from the environment and
// then from the --config file. Call it at the start of RunE.
func Apply(cmd *cobra.Command) error {
	fs := cmd.Flags()
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Changed {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := setFlag(fs, f, v); err != nil {
				firstErr = fmt.Errorf("invalid %s: %w", EnvName(f.Name), err)
			}
		}
	})
	if firstErr != nil {
		return firstErr
	}
	path, _ := fs.GetString("config")
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read config file: %w", err)
	}
	var nested map[string]any
	if err := yaml.Unmarshal(raw, &nested); err != nil {
		return fmt.Errorf("cannot parse config file %s: %w", path, err)
	}
	values, keys := map[string]any{}, map[string]string{}
	flatten(nested, "", "", values, keys)
	for name, v := range values {
		f := fs.Lookup(name)
		if f == nil {
			// A block of a dotted flag's prefix: "multi-tenancy: {enabled:
			// true}" is --multi-tenancy.enabled.
			if d := strings.ReplaceAll(keys[name], "_", "-"); fs.Lookup(d) != nil {
				name, f = d, fs.Lookup(d)
			}
		}
		if f == nil {
			if keys[name] != name {
				return fmt.Errorf("config file %s: unknown setting %q (%s; settings are flag names, see --help)", path, keys[name], name)
			}
			return fmt.Errorf("config file %s: unknown setting %q (settings are flag names; see --help)", path, name)
		}
		if f.Changed {
			continue
		}
		if _, ok := os.LookupEnv(EnvName(name)); ok {
			continue
		}
		if err := setFlag(fs, f, v); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, name, err)
		}
	}
	return nil
}

// yamlAliases are keys of a config file block that name a flag otherwise
// than by its own name: the OpenTelemetry Collector's.
var yamlAliases = map[string]string{"server_name_override": "server-name"}

// flatten puts the settings of m into out under their flag names: the key
// of a block joined with each of its keys by a dash, underscores as
// dashes. keys has each flag name's key as written (tls.cert_file).
func flatten(m map[string]any, prefix, path string, out map[string]any, keys map[string]string) {
	for k, v := range m {
		key := k
		if path != "" {
			key = path + "." + k
			if a, ok := yamlAliases[k]; ok {
				k = a
			}
			k = prefix + "-" + strings.ReplaceAll(k, "_", "-")
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(sub, k, key, out, keys)
			continue
		}
		out[k], keys[k] = v, key
	}
}

func setFlag(fs *pflag.FlagSet, f *pflag.Flag, v any) error {
	switch x := v.(type) {
	case []any:
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			items := make([]string, len(x))
			for i, e := range x {
				items[i] = fmt.Sprint(e)
			}
			return sv.Replace(items)
		}
		return fmt.Errorf("takes one value, not a list")
	case string:
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			return sv.Replace(splitList(x))
		}
		return fs.Set(f.Name, x)
	default:
		return fs.Set(f.Name, fmt.Sprint(x))
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// EnvHelp is the paragraph every binary's --help ends with.
const EnvHelp = `Every flag can also be set in the environment as SCRY_<FLAG>, upper case
with dashes and dots as underscores (--data-dir is SCRY_DATA_DIR), or in the YAML file
given with --config (keys are flag names; a block such as
"tls: {cert_file: a.crt, key_file: a.key, client_ca_file: ca.crt, min_version: "1.3"}"
or "otlp-grpc-tls: {...}" sets the flags its keys extend, as the OpenTelemetry
Collector names them). The command line wins over the environment, which wins
over the file.`

// AddMemoryLimitFlag adds --memory-limit-mb, the Go runtime's soft memory
// limit (the GC works harder as the heap nears it; see runtime/debug).
func AddMemoryLimitFlag(cmd *cobra.Command, defaultMB int) {
	cmd.Flags().Int("memory-limit-mb", defaultMB, "soft limit in MiB for the Go heap: the garbage collector works harder near it (0: none; GOMEMLIMIT, if set, wins)")
}

// ApplyMemoryLimit sets the soft memory limit from --memory-limit-mb unless
// GOMEMLIMIT is set in the environment.
func ApplyMemoryLimit(cmd *cobra.Command) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return
	}
	if mb, _ := cmd.Flags().GetInt("memory-limit-mb"); mb > 0 {
		debug.SetMemoryLimit(int64(mb) << 20)
	}
}

// Setup does what every server binary does first: apply environment and
// config file, build the logger, set the memory limit, and make the
// telemetry every part is constructed with: that logger, a metrics registry
// with Go and process collectors (returned too, for the admin server to
// gather), the system clock and a collector of failures for app.Run.
func Setup(cmd *cobra.Command) (telemetry.Settings, *prometheus.Registry, error) {
	if err := Apply(cmd); err != nil {
		return telemetry.Settings{}, nil, err
	}
	log, err := Logger(cmd)
	if err != nil {
		return telemetry.Settings{}, nil, err
	}
	ApplyMemoryLimit(cmd)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tel := telemetry.Settings{Logger: log, Registerer: reg, Clock: telemetry.SystemClock{}, Failures: telemetry.NewFailures()}
	return tel, reg, nil
}

// AddAdminFlag adds --admin-addr with the binary's default.
func AddAdminFlag(cmd *cobra.Command, p *string, def string) {
	cmd.Flags().StringVar(p, "admin-addr", def, "admin listen address: /metrics, /healthz, /readyz, /debug/pprof/")
}
