package deploytest

// The Helm chart against the kustomize overlays, its values' validation,
// and helm lint.

import (
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/yaml"
)

// TestChartMatchesOverlays: the chart, released as "scry" in namespace
// scry, makes the same objects as the overlays (same kinds and names, the
// same pod specs, Service, claim and budget specs, the same sampling
// strategies), so that the two ways to install cannot drift apart. Labels
// differ (the chart adds Helm's), and so does the sampling ConfigMap's name
// (kustomize adds a hash of its content).
func TestChartMatchesOverlays(t *testing.T) {
	t.Parallel()
	prod := renderOverlay(t, "production")
	prodSecure := renderWithComponent(t, "production", "security")
	scaleOut := renderOverlay(t, "scale-out")
	cases := []struct {
		values string
		want   []object
	}{
		{"mode: allInOne", renderOverlay(t, "all-in-one")},
		{"mode: production", prod},
		{"mode: production\ningress: {enabled: true}", renderWithComponent(t, "production", "ingress")},
		{"mode: production\n" + securedByComponents, prodSecure},
		{"mode: production\nexampleApp: {enabled: true}", append(renderOverlay(t, "sidecar"), prod...)},
		{"mode: production\nagent: {daemonSet: {enabled: true}}\nexampleApp: {enabled: true, agent: daemonSet}", append(renderOverlay(t, "daemonset"), prod...)},
		{"mode: production\nexampleApp: {enabled: true}\n" + securedByComponents, append(renderWithComponent(t, "sidecar", "sidecar-security"), prodSecure...)},
		{"mode: production\nagent: {daemonSet: {enabled: true}}\nexampleApp: {enabled: true, agent: daemonSet}\n" + securedByComponents, append(renderWithComponent(t, "daemonset", "daemonset-security"), prodSecure...)},
		{"mode: scaleOut", scaleOut},
		{"mode: scaleOut\nexampleApp: {enabled: true}", append(renderOverlay(t, "sidecar"), scaleOut...)},
		{"mode: scaleOut\nagent: {daemonSet: {enabled: true}}\nexampleApp: {enabled: true, agent: daemonSet}", append(renderOverlay(t, "daemonset"), scaleOut...)},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.values, "\n", " "), func(t *testing.T) {
			got, _ := renderChart(t, c.values)
			matched := map[int]bool{}
			for _, w := range c.want {
				if w.Kind == "Namespace" { // helm install --create-namespace
					continue
				}
				i := matchingObject(got, w)
				if i < 0 {
					t.Errorf("the chart makes no %s %s", w.Kind, w.Name)
					continue
				}
				matched[i] = true
				compareObjects(t, w, got[i])
			}
			for i, g := range got {
				if !matched[i] {
					t.Errorf("the chart makes %s %s, which the overlays do not", g.Kind, g.Name)
				}
			}
		})
	}
}

// securedByComponents are the chart's values that components/security
// and components/sidecar-security (or daemonset-security) stand for.
const securedByComponents = "tls: {enabled: true, secretName: scry-tls}\nauth: {secretName: scry-auth, agentTokenSecret: scry-agent-token, queryTokenSecret: scry-query-token}"

// matchingObject finds the chart's object for an overlay's: same kind and
// name (the chart prefixes the example app's name with the release's, and
// the overlays suffix the ConfigMap's with a hash).
func matchingObject(objs []object, w object) int {
	for i, g := range objs {
		if g.Kind != w.Kind {
			continue
		}
		if g.Name == w.Name || g.Name == "scry-"+w.Name || (w.Kind == "ConfigMap" && strings.HasPrefix(w.Name, g.Name+"-")) {
			if w.Namespace == "" || w.Namespace == g.Namespace {
				return i
			}
		}
	}
	return -1
}

func compareObjects(t *testing.T, want, got object) {
	t.Helper()
	same := func(what string, a, b any) {
		t.Helper()
		if !equality.Semantic.DeepEqual(a, b) {
			t.Errorf("%s %s: %s differ (- overlay, + chart):\n%s", want.Kind, want.Name, what, diff.Diff(a, b))
		}
	}
	switch w := want.Obj.(type) {
	case *appsv1.StatefulSet:
		g := got.Obj.(*appsv1.StatefulSet)
		ws, gs := w.Spec.DeepCopy(), g.Spec.DeepCopy()
		for _, s := range []*appsv1.StatefulSetSpec{ws, gs} {
			normalizePod(&s.Template)
			s.Selector = nil // labels differ by design; checked to match the pods in TestManifests
		}
		same("specs", ws, gs)
	case *appsv1.Deployment:
		g := got.Obj.(*appsv1.Deployment)
		ws, gs := w.Spec.DeepCopy(), g.Spec.DeepCopy()
		for _, s := range []*appsv1.DeploymentSpec{ws, gs} {
			normalizePod(&s.Template)
			s.Selector = nil
		}
		same("specs", ws, gs)
	case *appsv1.DaemonSet:
		g := got.Obj.(*appsv1.DaemonSet)
		ws, gs := w.Spec.DeepCopy(), g.Spec.DeepCopy()
		for _, s := range []*appsv1.DaemonSetSpec{ws, gs} {
			normalizePod(&s.Template)
			s.Selector = nil
		}
		same("specs", ws, gs)
	case *corev1.Service:
		g := got.Obj.(*corev1.Service)
		ws, gs := w.Spec.DeepCopy(), g.Spec.DeepCopy()
		ws.Selector, gs.Selector = nil, nil
		same("specs", ws, gs)
	case *policyv1.PodDisruptionBudget:
		g := got.Obj.(*policyv1.PodDisruptionBudget)
		same("maxUnavailable", w.Spec.MaxUnavailable, g.Spec.MaxUnavailable)
		same("minAvailable", w.Spec.MinAvailable, g.Spec.MinAvailable)
	case *networkingv1.Ingress:
		same("specs", w.Spec, got.Obj.(*networkingv1.Ingress).Spec)
	case *corev1.ConfigMap:
		g := got.Obj.(*corev1.ConfigMap)
		if len(w.Data) != len(g.Data) {
			t.Errorf("ConfigMap %s: keys %v, chart's %v", w.Name, keys(w.Data), keys(g.Data))
		}
		for k, v := range w.Data {
			if strings.HasSuffix(k, ".conf") { // nats-server's format
				a, err := parseNATSConf(v)
				if err != nil {
					t.Fatalf("ConfigMap %s key %s: %v", w.Name, k, err)
				}
				b, err := parseNATSConf(g.Data[k])
				if err != nil {
					t.Fatalf("chart's ConfigMap %s key %s: %v\n%s", g.Name, k, err, g.Data[k])
				}
				if !reflect.DeepEqual(a, b) {
					t.Errorf("ConfigMap %s key %s differs from the chart's:\n%s", w.Name, k, diff.Diff(a, b))
				}
				continue
			}
			var a, b any
			if err := yaml.Unmarshal([]byte(v), &a); err != nil {
				t.Fatalf("ConfigMap %s key %s: %v", w.Name, k, err)
			}
			if err := yaml.Unmarshal([]byte(g.Data[k]), &b); err != nil {
				t.Fatalf("chart's ConfigMap %s key %s: %v", g.Name, k, err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("ConfigMap %s key %s differs from the chart's:\n%s", w.Name, k, diff.Diff(a, b))
			}
		}
	default:
		t.Errorf("no comparison for %s", want.Kind)
	}
}

// normalizePod removes what differs by design between the overlays and the
// chart: labels and annotations, ConfigMap names (kustomize's hash suffix),
// and the selector labels of spread constraints.
func normalizePod(p *corev1.PodTemplateSpec) {
	p.Labels, p.Annotations = nil, nil
	for i := range p.Spec.Volumes {
		if cm := p.Spec.Volumes[i].ConfigMap; cm != nil {
			cm.Name = "<configmap>"
		}
	}
	for i := range p.Spec.TopologySpreadConstraints {
		p.Spec.TopologySpreadConstraints[i].LabelSelector = nil
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestChartRejectsBadValues: values that cannot work fail at install time
// with a message that says why, not in the cluster.
func TestChartRejectsBadValues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ values, want string }{
		{"mode: cluster", "mode"},
		{"mdoe: production", "mdoe"},
		{"collector: {replica: 3}", "replica"},
		{"exampleApp: {enabled: true, agent: daemonSet}", "agent.daemonSet.enabled"},
		{"allInOne: {resources: {requests: {cpu: 1, memory: 1G}, limits: {cpu: 1, memory: 1G}}}", "memory-limit-mb"},
		{"retention: 3 days", "retention"},
		{"retentionSize: lots", "retentionSize"},
		{"slowThreshold: 2 seconds", "slowThreshold"},
		{"minFreeDisk: some", "minFreeDisk"},
		{"query: {basePath: scry/}", "basePath"},
		{"collector: {extraArgs: [-v]}", "extraArgs"},
		{"mode: scaleOut\nnats: {replicas: 1}", "replicas"},
		{"mode: scaleOut\nnats: {replicas: 3, streams: {replicas: 5}}", "nats.streams.replicas"},
		{"mode: scaleOut\nnats: {streams: {replicas: 2}}", "replicas"},
		{"mode: scaleOut\nnats: {streams: {partitions: 2}}\ningester: {replicas: 3}", "ingester.replicas"},
		{"mode: scaleOut\nnats: {streams: {maxBytes: lots}}", "maxBytes"},
		{"mode: scaleOut\nnats: {jetstream: {maxFileStore: 9 gigs}}", "maxFileStore"},
		{"mode: scaleOut\ningester: {replica: 3}", "replica"},
		{"mode: scaleOut\ntls: {enabled: true, secretName: scry-tls}", "scaleOut"},
		{"mode: scaleOut\nauth: {secretName: scry-auth}", "scaleOut"},
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

// TestChartValues: the values a user changes reach the objects.
func TestChartValues(t *testing.T) {
	t.Parallel()
	objs, _ := renderChart(t, `mode: production
image: {registry: registry.example.com/tracing, tag: v1.2.3}
retention: 168h
retentionSize: 85Gi
retentionErrors: 336h
minFreeDisk: 2Gi
collector:
  replicas: 3
  storage: {size: 100Gi, storageClassName: fast-ssd}
  resources: {requests: {cpu: "1", memory: 2Gi}, limits: {cpu: "4", memory: 4Gi}}
query: {basePath: /scry}
`)
	col := scryWorkloads(objs, "scry-collector")
	if len(col) != 1 {
		t.Fatalf("collectors: %v", col)
	}
	c := scryContainer(col[0], "scry-collector")
	if c.Image != "registry.example.com/tracing/scry-collector:v1.2.3" {
		t.Errorf("image %s", c.Image)
	}
	args := mustArgs(t, c)
	for flag, want := range map[string]string{"retention": "168h", "retention-size": "85Gi", "retention-errors": "336h", "min-free-disk": "2Gi", "memory-limit-mb": "3276"} {
		if v, _ := argValue(args, flag); v != want {
			t.Errorf("--%s=%s, want %s", flag, v, want)
		}
	}
	if v, ok := argValue(args, "retention-slow"); ok {
		t.Errorf("--retention-slow=%s without retentionSlow set", v)
	}
	if col[0].Replicas != 3 {
		t.Errorf("replicas %d", col[0].Replicas)
	}
	pvc := col[0].Claims[0]
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "100Gi" || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "fast-ssd" {
		t.Errorf("claim %v", pvc.Spec)
	}
	q := scryWorkloads(objs, "scry-query")
	if v, _ := argValue(mustArgs(t, scryContainer(q[0], "scry-query")), "base-path"); v != "/scry" {
		t.Errorf("--base-path=%s", v)
	}
}

// TestChartNotes: the notes after install say how to reach the UI.
func TestChartNotes(t *testing.T) {
	t.Parallel()
	for values, want := range map[string]string{
		"mode: allInOne":   "port-forward svc/scry 16686",
		"mode: production": "port-forward svc/scry-query 16686",
		"mode: scaleOut":   "port-forward svc/scry-query 16686",
	} {
		_, notes := renderChart(t, values)
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt with %q does not say %q:\n%s", values, want, notes)
		}
	}
}

// TestChartLint runs Helm's own linter (helm lint --strict) in each mode.
func TestChartLint(t *testing.T) {
	t.Parallel()
	for _, v := range helmValueSets {
		vals, err := chartutil.ReadValues([]byte(v.Values))
		if err != nil {
			t.Fatal(err)
		}
		l := lint.All(chartDir(t), vals, helmRelease.Namespace, false)
		for _, m := range l.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("helm lint with %q: %v", v.Values, m)
			} else {
				t.Logf("helm lint with %q: %v", v.Values, m)
			}
		}
	}
}
