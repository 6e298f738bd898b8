package deploytest

// Renderings that the tests share, and small lookups on their objects.

import (
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// rendering is one way the manifests come out.
type rendering struct {
	Name    string
	Objects []object
	// Cluster is what else the objects expect in the cluster (the
	// production overlay, for the agent overlays): references to Services
	// may point there.
	Cluster []object
}

// helmValueSets are the chart's renderings: each mode, and each optional
// part in each mode.
var helmValueSets = []struct{ Name, Values string }{
	{"allInOne", "mode: allInOne"},
	{"production", "mode: production"},
	{"allInOne+ingress+sidecar", "mode: allInOne\ningress: {enabled: true}\nexampleApp: {enabled: true}"},
	{"production+ingress+sidecar", "mode: production\ningress: {enabled: true, className: nginx}\nexampleApp: {enabled: true}"},
	{"production+daemonset", "mode: production\nagent: {daemonSet: {enabled: true}}\nexampleApp: {enabled: true, agent: daemonSet}"},
	{"allInOne+daemonset", "mode: allInOne\nagent: {daemonSet: {enabled: true}}"},
	{"allInOne+sidecar+security", "mode: allInOne\nexampleApp: {enabled: true}\n" + securityValues},
	{"production+sidecar+security", "mode: production\nexampleApp: {enabled: true}\n" + securityValues},
	{"production+daemonset+security", "mode: production\nagent: {daemonSet: {enabled: true}}\nexampleApp: {enabled: true, agent: daemonSet}\n" + securityValues},
	{"scaleOut", "mode: scaleOut"},
	{"scaleOut+ingress+sidecar", "mode: scaleOut\ningress: {enabled: true}\nexampleApp: {enabled: true}"},
	{"scaleOut+daemonset", "mode: scaleOut\nagent: {daemonSet: {enabled: true}}\nexampleApp: {enabled: true, agent: daemonSet}"},
	{"scaleOut+tenancy", "mode: scaleOut\nexampleApp: {enabled: true}\nmultiTenancy: {enabled: true, header: X-Org, tenants: [team-a]}\nagent: {tenant: team-a}\nlimits: {defaults: {ingestion_rate_bytes: 10MiB}}"},
}

// allRenderings renders every overlay, the production overlay with the
// ingress component, and the chart with each of helmValueSets.
func allRenderings(t *testing.T) []rendering {
	t.Helper()
	prod := renderOverlay(t, "production")
	var out []rendering
	for _, o := range overlays(t) {
		r := rendering{Name: "kustomize/" + o, Objects: renderOverlay(t, o)}
		if o == "sidecar" || o == "daemonset" {
			r.Cluster = prod
		}
		out = append(out, r)
	}
	out = append(out, rendering{Name: "kustomize/production+ingress", Objects: renderWithComponent(t, "production", "ingress")})
	prodSecure := renderWithComponent(t, "production", "security")
	out = append(out, rendering{Name: "kustomize/production+security", Objects: prodSecure})
	for _, o := range []string{"sidecar", "daemonset"} {
		out = append(out, rendering{Name: "kustomize/" + o + "+security", Objects: renderWithComponent(t, o, o+"-security"), Cluster: prodSecure})
	}
	// The agents unchanged, in front of the scale-out topology.
	scaleOut := renderOverlay(t, "scale-out")
	for _, o := range []string{"sidecar", "daemonset"} {
		out = append(out, rendering{Name: "kustomize/" + o + "+scale-out", Objects: renderOverlay(t, o), Cluster: scaleOut})
	}
	for _, v := range helmValueSets {
		objs, _ := renderChart(t, v.Values)
		out = append(out, rendering{Name: "helm/" + v.Name, Objects: objs})
	}
	return out
}

func renderingNamed(t *testing.T, all []rendering, name string) rendering {
	t.Helper()
	for _, r := range all {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rendering %s", name)
	return rendering{}
}

// scryWorkload returns the workloads of objs that run the Scry binary bin.
func scryWorkloads(objs []object, bin string) []workload {
	var out []workload
	for _, w := range workloadsOf(objs) {
		for _, c := range allContainers(&w.Template.Spec) {
			if scryBinary(c) == bin {
				out = append(out, w)
				break
			}
		}
	}
	return out
}

func scryContainer(w workload, bin string) *corev1.Container {
	for _, c := range allContainers(&w.Template.Spec) {
		if scryBinary(c) == bin {
			return c
		}
	}
	return nil
}

func mustArgs(t *testing.T, c *corev1.Container) []arg {
	t.Helper()
	a, err := parseArgs(c.Args)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// servicePorts returns the port numbers of s.
func servicePorts(s *corev1.Service) []int {
	var out []int
	for _, p := range s.Spec.Ports {
		out = append(out, int(p.Port))
	}
	return out
}

// servicesSelecting returns the Services of objs whose selector selects w.
func servicesSelecting(objs []object, w workload) []*corev1.Service {
	var out []*corev1.Service
	for _, s := range servicesOf(objs) {
		if s.Namespace == w.Namespace && len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.Template.Labels)) {
			out = append(out, s)
		}
	}
	return out
}
