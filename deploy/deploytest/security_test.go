package deploytest

// Security in the chart and the kustomize component: TLS on every
// listener and to the collectors, credentials from Secrets, limits from a
// ConfigMap, tenancy flags.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/scrytrace/scry/internal/limits"
	"github.com/scrytrace/scry/internal/telemetry"
)

// securityValues turns everything on.
const securityValues = `multiTenancy: {enabled: true, header: X-Org, tenants: [team-a, team-b]}
tls:
  enabled: true
  secretName: scry-tls
  minVersion: "1.3"
  clientCA: {secretName: scry-client-ca}
auth:
  secretName: scry-auth
  agentTokenSecret: scry-agent-token
  queryTokenSecret: scry-query-token
limits:
  defaults:
    ingestion_rate_bytes: 10MiB
    max_bytes_per_trace: 5MiB
    max_attributes_per_span: 128
    retention: 72h
  tenants:
    team-a: {ingestion_rate_bytes: 50MiB, max_search_lookback: 168h}
`

// securityModes are the modes the security values are rendered in (every
// workload the chart makes: scry, collectors, query, agents beside the app
// and on every node).
var securityModes = []struct{ Name, Values string }{
	{"allInOne+sidecar", "mode: allInOne\nexampleApp: {enabled: true}\n"},
	{"allInOne+daemonset", "mode: allInOne\nagent: {daemonSet: {enabled: true}}\nexampleApp: {enabled: true, agent: daemonSet}\n"},
	{"production+sidecar", "mode: production\nexampleApp: {enabled: true}\n"},
	{"production+daemonset", "mode: production\nagent: {daemonSet: {enabled: true}}\nexampleApp: {enabled: true, agent: daemonSet}\n"},
}

// wantFiles are the files each binary gets with securityValues: flag ->
// path, the Secret or ConfigMap it comes from, and the mode the binary
// needs (0: any mode that others cannot read).
type wantFile struct {
	flag, path, source string
	mode               int32
}

func securityFiles(bin, mode string) []wantFile {
	tls := []wantFile{
		{"tls-cert-file", "/etc/scry/tls/tls.crt", "secret/scry-tls", 0},
		{"tls-key-file", "/etc/scry/tls/tls.key", "secret/scry-tls", 0},
		{"tls-client-ca-file", "/etc/scry/client-ca/ca.crt", "secret/scry-client-ca", 0},
		{"auth-file", "/etc/scry/auth/auth.yaml", "secret/scry-auth", 0o400},
		{"limits-file", "/etc/scry/limits/limits.yaml", "configmap/scry-limits", 0},
	}
	switch bin {
	case "scry", "scry-collector":
		return tls
	case "scry-query":
		return append(tls,
			wantFile{"storage-tls-ca-file", "/etc/scry/tls/ca.crt", "secret/scry-tls", 0},
			wantFile{"storage-tls-cert-file", "/etc/scry/tls/tls.crt", "secret/scry-tls", 0},
			wantFile{"storage-tls-key-file", "/etc/scry/tls/tls.key", "secret/scry-tls", 0},
			wantFile{"storage-auth-token-file", "/etc/scry/token/token", "secret/scry-query-token", 0})
	case "scry-agent":
		return []wantFile{
			{"collector-tls-ca-file", "/etc/scry/tls/ca.crt", "secret/scry-tls", 0},
			{"collector-tls-cert-file", "/etc/scry/tls/tls.crt", "secret/scry-tls", 0},
			{"collector-tls-key-file", "/etc/scry/tls/tls.key", "secret/scry-tls", 0},
			{"collector-auth-token-file", "/etc/scry/token/token", "secret/scry-agent-token", 0},
		}
	}
	return nil
}

// TestChartSecurity: with TLS, mutual TLS, credentials and limits on, every
// Scry container of every mode gets its flags, each file on a read-only
// volume from the right Secret or ConfigMap with the right key, the auth
// file with mode 0400, no secret readable by others; the serving binaries'
// probes use HTTPS and their admin listener asks for no client
// certificate (the kubelet has none); the agents' sampling URL is https.
// (TestManifests renders the same values, and checks the flags against
// --help and every other invariant.)
func TestChartSecurity(t *testing.T) {
	t.Parallel()
	for _, m := range securityModes {
		t.Run(m.Name, func(t *testing.T) {
			objs, notes := renderChart(t, m.Values+securityValues)
			if !strings.Contains(notes, "https://127.0.0.1:16686/") {
				t.Errorf("NOTES.txt does not say the UI is on https:\n%s", notes)
			}
			seen := map[string]bool{}
			for _, w := range workloadsOf(objs) {
				for _, c := range allContainers(&w.Template.Spec) {
					bin := scryBinary(c)
					if bin == "" {
						continue
					}
					seen[bin] = true
					t.Run(w.String()+"/"+c.Name, func(t *testing.T) {
						checkSecurityContainer(t, objs, w, c, bin, m.Name)
					})
				}
			}
			for _, bin := range []string{"scry-agent"} {
				if !seen[bin] {
					t.Errorf("no %s rendered", bin)
				}
			}
			cm, ok := find[*corev1.ConfigMap](objs, "scry-limits")
			if !ok {
				t.Fatal("no ConfigMap scry-limits")
			}
			checkLimitsFile(t, cm.Data["limits.yaml"])
		})
	}
}

func checkSecurityContainer(t *testing.T, objs []object, w workload, c *corev1.Container, bin, mode string) {
	args := mustArgs(t, c)
	spec := &w.Template.Spec
	for _, f := range securityFiles(bin, mode) {
		v, ok := argValue(args, f.flag)
		if !ok {
			t.Errorf("no --%s", f.flag)
			continue
		}
		if v != f.path {
			t.Errorf("--%s=%s, want %s", f.flag, v, f.path)
		}
		m, rel, ok := mountFor(c, v)
		if !ok {
			t.Errorf("--%s=%s: no volume mounted there", f.flag, v)
			continue
		}
		if !m.ReadOnly {
			t.Errorf("--%s=%s: volume %s is not mounted read-only", f.flag, v, m.Name)
		}
		vol, ok := volumeNamed(spec, m.Name)
		if !ok {
			t.Errorf("--%s: no volume %s", f.flag, m.Name)
			continue
		}
		kind, name, _ := strings.Cut(f.source, "/")
		switch kind {
		case "secret":
			s := vol.Secret
			if s == nil || s.SecretName != name {
				t.Errorf("--%s: volume %s is %+v, want Secret %s", f.flag, m.Name, vol.VolumeSource, name)
				continue
			}
			mode := secretFileMode(s, rel)
			if mode&0o007 != 0 {
				t.Errorf("--%s: Secret %s's file %s has mode %04o: others can read it", f.flag, name, rel, mode)
			}
			if f.mode != 0 && mode != f.mode {
				t.Errorf("--%s: Secret %s's file %s has mode %04o, want %04o (the binary refuses a file readable by group or others)", f.flag, name, rel, mode, f.mode)
			}
			if !secretHasKey(s, rel) {
				t.Errorf("--%s: the volume of Secret %s has no file %s", f.flag, name, rel)
			}
		case "configmap":
			cmv := vol.ConfigMap
			if cmv == nil || cmv.Name != name {
				t.Errorf("--%s: volume %s is %+v, want ConfigMap %s", f.flag, m.Name, vol.VolumeSource, name)
			}
		}
	}
	if v, _ := argValue(args, "tls-min-version"); bin != "scry-agent" && v != "1.3" {
		t.Errorf("--tls-min-version=%q, want 1.3", v)
	}
	if bin == "scry-agent" {
		if v, _ := argValue(args, "collector-tls-min-version"); v != "1.3" {
			t.Errorf("--collector-tls-min-version=%q, want 1.3", v)
		}
		if u, _ := argValue(args, "sampling-url"); !strings.HasPrefix(u, "https://") {
			t.Errorf("--sampling-url=%s: the collectors' Jaeger HTTP listener serves TLS", u)
		}
	}
	serves := bin != "scry-agent"
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		want := corev1.URISchemeHTTP
		if serves {
			want = corev1.URISchemeHTTPS
		}
		if got := p.HTTPGet.Scheme; got != want && !(got == "" && want == corev1.URISchemeHTTP) {
			t.Errorf("probe %s: scheme %q, want %s", p.HTTPGet.Path, got, want)
		}
	}
	if serves {
		// Mutual TLS everywhere but on the admin listener.
		if v, ok := argValue(args, "admin-tls-client-ca-file"); !ok || v != "" {
			t.Errorf("--admin-tls-client-ca-file=%q (set: %v): the kubelet's probes present no client certificate; want it set to empty", v, ok)
		}
	}
}

// secretFileMode is the mode a Secret volume gives the file rel.
func secretFileMode(s *corev1.SecretVolumeSource, rel string) int32 {
	for _, it := range s.Items {
		if it.Path == rel && it.Mode != nil {
			return *it.Mode
		}
	}
	if s.DefaultMode != nil {
		return *s.DefaultMode
	}
	return 0o644 // the API server's default
}

// secretHasKey: the volume has the file rel: an item with that path, or
// (no items) a key the Secret must have: tls.crt, tls.key and ca.crt of a
// kubernetes.io/tls Secret made by cert-manager, token, auth.yaml.
func secretHasKey(s *corev1.SecretVolumeSource, rel string) bool {
	if len(s.Items) == 0 {
		return rel == "tls.crt" || rel == "tls.key" || rel == "ca.crt"
	}
	for _, it := range s.Items {
		if it.Path == rel && it.Key == rel {
			return true
		}
	}
	return false
}

// checkLimitsFile loads the rendered limits file with the binaries' own
// loader.
func checkLimitsFile(t *testing.T, content string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "limits.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	ov, err := limits.New(limits.Config{File: p}, telemetry.Settings{})
	if err != nil {
		t.Fatalf("the rendered limits file does not load: %v\n%s", err, content)
	}
	if l := ov.For("team-a"); l.IngestionRateBytes != 50<<20 || l.MaxBytesPerTrace != 5<<20 {
		t.Errorf("team-a's limits %+v: want the rate 50MiB and the defaults' 5MiB per trace", l)
	}
}

// TestChartSecurityOff: without the values, no pod mounts a Secret or
// gets a security flag, and the probes stay plain HTTP: installing the
// chart as before changes nothing.
func TestChartSecurityOff(t *testing.T) {
	t.Parallel()
	for _, m := range securityModes {
		objs, _ := renderChart(t, m.Values)
		for _, w := range workloadsOf(objs) {
			for _, v := range w.Template.Spec.Volumes {
				if v.Secret != nil {
					t.Errorf("%s: %s mounts Secret %s", m.Name, w, v.Secret.SecretName)
				}
			}
			for _, c := range allContainers(&w.Template.Spec) {
				if scryBinary(c) == "" {
					continue
				}
				for _, a := range mustArgs(t, c) {
					if strings.Contains(a.Name, "tls") || strings.Contains(a.Name, "auth") || strings.Contains(a.Name, "limits") || strings.Contains(a.Name, "tenan") {
						t.Errorf("%s: %s/%s: --%s=%s without the values", m.Name, w, c.Name, a.Name, a.Value)
					}
				}
				if s := c.LivenessProbe.HTTPGet.Scheme; s != "" && s != corev1.URISchemeHTTP {
					t.Errorf("%s: %s/%s: probe scheme %s", m.Name, w, c.Name, s)
				}
			}
		}
		if _, ok := find[*corev1.ConfigMap](objs, "scry-limits"); ok {
			t.Errorf("%s: a limits ConfigMap without limits", m.Name)
		}
	}
}

// TestChartTenancy: multiTenancy and agent.tenant reach the flags of
// every serving binary and of the agents (which send the tenant in the
// collectors' header), flags their --help lists.
func TestChartTenancy(t *testing.T) {
	t.Parallel()
	for _, m := range securityModes {
		t.Run(m.Name, func(t *testing.T) {
			values := m.Values + "multiTenancy: {enabled: true, header: X-Scope-OrgID, tenants: [team-a, team-b]}\n"
			if strings.Contains(values, "agent: {daemonSet: {enabled: true}}") {
				values = strings.Replace(values, "agent: {daemonSet: {enabled: true}}", "agent: {daemonSet: {enabled: true}, tenant: team-a}", 1)
			} else {
				values += "agent: {tenant: team-a}\n"
			}
			objs, _ := renderChart(t, values)
			for _, w := range workloadsOf(objs) {
				for _, c := range allContainers(&w.Template.Spec) {
					bin := scryBinary(c)
					if bin == "" {
						continue
					}
					args := mustArgs(t, c)
					want := map[string]string{"multi-tenancy.enabled": "true", "multi-tenancy.header": "X-Scope-OrgID", "multi-tenancy.tenants": "team-a,team-b"}
					if bin == "scry-agent" {
						want = map[string]string{"tenant": "team-a", "tenant-header": "X-Scope-OrgID"}
					}
					for flag, v := range want {
						if got, ok := argValue(args, flag); !ok || got != v {
							t.Errorf("%s/%s: --%s=%q, want %q", w, c.Name, flag, got, v)
						}
					}
					flags := flagsOf(t, bin)
					for flag := range want {
						if _, ok := flags[flag]; !ok {
							t.Errorf("%s/%s: --%s: %s --help has no such flag", w, c.Name, flag, bin)
						}
					}
				}
			}
		})
	}
}

// TestChartRejectsBadSecurityValues: security values that cannot work fail
// at install time, naming the value.
func TestChartRejectsBadSecurityValues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ values, want string }{
		{"tls: {enabled: true}", "secretName"},
		{"tls: {enabled: true, secretName: \"\"}", "secretName"},
		{"tls: {enabled: true, secretName: scry-tls, minVersion: \"1.1\"}", "minVersion"},
		{"tls: {enabled: true, secretName: scry-tls, minVersion: 1.3}", "minVersion"},
		{"tls: {enabled: yes-please}", "enabled"},
		{"tls: {secretName: Scry_TLS}", "secretName"},
		{"tls: {enabeld: true}", "enabeld"},
		{"tls: {clientCA: {secretName: ca}}", "tls.enabled"},
		{"auth: {agentTokenSecret: t}", "tls.enabled"},
		{"mode: production\nauth: {queryTokenSecret: t}", "tls.enabled"},
		{"auth: {file: auth.yaml}", "file"},
		{"limits: {default: {retention: 72h}}", "default"},
		{"limits: {defaults: {max_bytes_per_trace: 5 megs}}", "max_bytes_per_trace"},
		{"limits: {defaults: {max_bytes_per_trace: 5242880}}", "max_bytes_per_trace"},
		{"limits: {defaults: {retention: 3 days}}", "retention"},
		{"limits: {defaults: {max_spans: 3}}", "max_spans"},
		{"limits: {tenants: {\"a/b\": {retention: 1h}}}", "a/b"},
		{"multiTenancy: {enabled: true, header: \"x tenant\"}", "header"},
		{"multiTenancy: {tenants: [\"..\"]}", "tenants"},
		{"agent: {tenant: team-a}", "multiTenancy.enabled"},
	} {
		t.Run(c.values, func(t *testing.T) {
			_, _, err := tryRenderChart(t, c.values)
			if err == nil {
				t.Fatalf("values %q rendered; want an error", c.values)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestChartTLSServerName: tls.serverName is the name the agents and
// scry-query expect in the collectors' certificates.
func TestChartTLSServerName(t *testing.T) {
	t.Parallel()
	objs, _ := renderChart(t, "mode: production\nexampleApp: {enabled: true}\ntls: {enabled: true, secretName: scry-tls, serverName: collectors.scry.example}\n")
	for bin, flag := range map[string]string{"scry-agent": "collector-tls-server-name", "scry-query": "storage-tls-server-name"} {
		ws := scryWorkloads(objs, bin)
		if len(ws) != 1 {
			t.Fatalf("%s: %d workloads", bin, len(ws))
		}
		if v, _ := argValue(mustArgs(t, scryContainer(ws[0], bin)), flag); v != "collectors.scry.example" {
			t.Errorf("%s: --%s=%q, want collectors.scry.example", bin, flag, v)
		}
		if _, ok := flagsOf(t, bin)[flag]; !ok {
			t.Errorf("%s --help has no --%s", bin, flag)
		}
	}
}
