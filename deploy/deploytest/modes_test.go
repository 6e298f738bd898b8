package deploytest

// The shape of each install mode, in the overlays and the chart: all in
// one, production, the agent as a sidecar and as a DaemonSet.

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checkStore: the workload is a StatefulSet whose store is on its own
// claim at --data-dir.
func checkStore(t *testing.T, w workload, bin string) {
	t.Helper()
	if w.Kind != "StatefulSet" {
		t.Errorf("%s runs %s: want a StatefulSet (each replica owns its claim; two pods never open one store)", w, bin)
	}
	c := scryContainer(w, bin)
	dir, ok := argValue(mustArgs(t, c), "data-dir")
	if !ok {
		t.Fatalf("%s: no --data-dir", w)
	}
	m, _, ok := mountFor(c, dir)
	if !ok || !slices.ContainsFunc(w.Claims, func(p corev1.PersistentVolumeClaim) bool { return p.Name == m.Name }) {
		t.Errorf("%s: --data-dir=%s is not on one of its volumeClaimTemplates", w, dir)
	}
}

// TestAllInOne: one scry on its own claim, one Service for intake and UI
// that reaches it while it is not ready (a full disk).
func TestAllInOne(t *testing.T) {
	t.Parallel()
	all := allRenderings(t)
	for _, name := range []string{"kustomize/all-in-one", "helm/allInOne"} {
		t.Run(name, func(t *testing.T) {
			r := renderingNamed(t, all, name)
			ws := scryWorkloads(r.Objects, "scry")
			if len(ws) != 1 || ws[0].Replicas != 1 {
				t.Fatalf("want one workload of one replica running scry, got %v", ws)
			}
			checkStore(t, ws[0], "scry")
			want := []int{4317, 4318, 14268, 9411, 16686}
			ok := false
			for _, s := range servicesSelecting(r.Objects, ws[0]) {
				ports := servicePorts(s)
				if !slices.ContainsFunc(want, func(p int) bool { return !slices.Contains(ports, p) }) {
					ok = true
					// Not ready on a full disk, and still read.
					if !s.Spec.PublishNotReadyAddresses {
						t.Errorf("Service %s does not list %s while it is not ready: the UI would go away on a full disk", s.Name, ws[0])
					}
				}
			}
			if !ok {
				t.Errorf("no Service of %s exposes all of %v", ws[0], want)
			}
		})
	}
}

// TestProduction: collectors on their own claims behind a headless
// Service, a normal Service for direct intake, scry-query over a headless
// Service of the stores that keeps collectors that are not ready (a full
// disk), a disruption budget.
func TestProduction(t *testing.T) {
	t.Parallel()
	all := allRenderings(t)
	for _, name := range []string{"kustomize/production", "helm/production"} {
		t.Run(name, func(t *testing.T) {
			r := renderingNamed(t, all, name)
			cs := scryWorkloads(r.Objects, "scry-collector")
			if len(cs) != 1 || cs[0].Replicas < 2 {
				t.Fatalf("want one workload of two or more replicas running scry-collector, got %v", cs)
			}
			col := cs[0]
			checkStore(t, col, "scry-collector")
			ss := col.Obj.(*appsv1.StatefulSet)
			if ss.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ss.Spec.UpdateStrategy.RollingUpdate != nil && ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil {
				t.Errorf("collector updateStrategy sets maxUnavailable; keep the default one-at-a-time rollout")
			}
			var headless, stores, intake *corev1.Service
			for _, s := range servicesSelecting(r.Objects, col) {
				ports := servicePorts(s)
				if s.Spec.ClusterIP == corev1.ClusterIPNone && slices.Contains(ports, 4317) {
					headless = s
				}
				if s.Spec.ClusterIP == corev1.ClusterIPNone && slices.Contains(ports, 17271) {
					stores = s
				}
				if s.Spec.ClusterIP != corev1.ClusterIPNone && slices.Contains(ports, 4317) && slices.Contains(ports, 4318) {
					intake = s
				}
			}
			if headless == nil {
				t.Fatal("no headless Service (clusterIP: None) with port 4317 selects the collectors")
			}
			// A collector whose disk is full is not ready but must still
			// be read: scry-query's Service lists not-ready collectors.
			if stores == nil || !stores.Spec.PublishNotReadyAddresses {
				t.Fatal("no headless Service with port 17271 and publishNotReadyAddresses selects the collectors")
			}
			if headless.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s, which the agents send to, lists collectors that are not ready", headless.Name)
			}
			if intake == nil {
				t.Error("no normal Service with OTLP ports 4317 and 4318 selects the collectors")
			}
			if ss.Spec.ServiceName != headless.Name {
				t.Errorf("collector serviceName %q, want the headless Service %q", ss.Spec.ServiceName, headless.Name)
			}
			qs := scryWorkloads(r.Objects, "scry-query")
			if len(qs) != 1 || qs[0].Kind != "Deployment" {
				t.Fatalf("want one Deployment running scry-query, got %v", qs)
			}
			storage, _ := argValue(mustArgs(t, scryContainer(qs[0], "scry-query")), "storage")
			if storage != stores.Name+":17271" {
				t.Errorf("scry-query --storage=%s, want %s:17271 (the headless Service of the stores)", storage, stores.Name)
			}
			pdbs := 0
			for _, o := range r.Objects {
				if pdb, ok := o.Obj.(*policyv1.PodDisruptionBudget); ok {
					sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
					if sel.Matches(labels.Set(col.Template.Labels)) {
						pdbs++
					}
				}
			}
			if pdbs != 1 {
				t.Errorf("%d PodDisruptionBudgets select the collectors, want 1", pdbs)
			}
		})
	}
}

// TestSidecar: the agent runs beside the app in one pod, and the app's
// environment points its SDK and Jaeger client at it on localhost.
func TestSidecar(t *testing.T) {
	t.Parallel()
	all := allRenderings(t)
	for _, name := range []string{"kustomize/sidecar", "helm/allInOne+ingress+sidecar", "helm/production+ingress+sidecar"} {
		t.Run(name, func(t *testing.T) {
			r := renderingNamed(t, all, name)
			ws := scryWorkloads(r.Objects, "scry-agent")
			if len(ws) != 1 || ws[0].Kind != "Deployment" {
				t.Fatalf("want one app Deployment with scry-agent in its pod, got %v", ws)
			}
			w := ws[0]
			agent := scryContainer(w, "scry-agent")
			var app *corev1.Container
			for i := range w.Template.Spec.Containers {
				if c := &w.Template.Spec.Containers[i]; c != agent && scryBinary(c) == "" {
					app = c
				}
			}
			if app == nil {
				t.Fatalf("%s: no app container beside scry-agent", w)
			}
			checkAppEnv(t, app, mustArgs(t, agent), "localhost", nil)
		})
	}
}

// TestDaemonSet: one agent per node on hostPorts (and a node-local
// Service), and the app sends to its node's address from the downward API.
func TestDaemonSet(t *testing.T) {
	t.Parallel()
	all := allRenderings(t)
	for _, name := range []string{"kustomize/daemonset", "helm/production+daemonset"} {
		t.Run(name, func(t *testing.T) {
			r := renderingNamed(t, all, name)
			ws := scryWorkloads(r.Objects, "scry-agent")
			if len(ws) != 1 || ws[0].Kind != "DaemonSet" {
				t.Fatalf("want one DaemonSet running scry-agent, got %v", ws)
			}
			agent := scryContainer(ws[0], "scry-agent")
			args := mustArgs(t, agent)
			hostPorts := map[string]int32{}
			for _, p := range agent.Ports {
				hostPorts[strconv.Itoa(int(p.ContainerPort))] = p.HostPort
			}
			for _, a := range args {
				if !strings.HasSuffix(a.Name, "-addr") || a.Name == "admin-addr" {
					continue
				}
				if port := portOf(t, a.Value); strconv.Itoa(int(hostPorts[port])) != port {
					t.Errorf("--%s=%s has no hostPort %s", a.Name, a.Value, port)
				}
			}
			local := false
			for _, s := range servicesSelecting(r.Objects, ws[0]) {
				local = local || (s.Spec.InternalTrafficPolicy != nil && *s.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal)
			}
			if !local {
				t.Error("no node-local Service (internalTrafficPolicy: Local) selects the agents")
			}
			var app *corev1.Container
			for _, w := range workloadsOf(r.Objects) {
				for i := range w.Template.Spec.Containers {
					if c := &w.Template.Spec.Containers[i]; scryBinary(c) == "" {
						app = c
					}
				}
			}
			if app == nil {
				t.Fatal("no example app")
			}
			checkAppEnv(t, app, args, "$(HOST_IP)", hostPorts)
		})
	}
}

// checkAppEnv: the app's OpenTelemetry and Jaeger client variables point at
// the agent's listeners on host (through hostPorts, when given).
func checkAppEnv(t *testing.T, app *corev1.Container, agentArgs []arg, host string, hostPorts map[string]int32) {
	t.Helper()
	port := func(flag string) string {
		v, ok := argValue(agentArgs, flag)
		if !ok {
			t.Fatalf("agent has no --%s", flag)
		}
		p := portOf(t, v)
		if hostPorts != nil {
			return strconv.Itoa(int(hostPorts[p]))
		}
		return p
	}
	want := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + host + ":" + port("otlp-grpc-addr"),
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"JAEGER_AGENT_HOST":           host,
		"JAEGER_AGENT_PORT":           port("udp-compact-addr"),
		"JAEGER_SAMPLING_ENDPOINT":    "http://" + host + ":" + port("sampling-addr") + "/sampling",
	}
	for k, v := range want {
		if e, ok := envValue(app, k); !ok || e.Value != v {
			t.Errorf("app env %s=%q, want %q", k, e.Value, v)
		}
	}
	if strings.HasPrefix(host, "$(") {
		name := strings.TrimSuffix(strings.TrimPrefix(host, "$("), ")")
		i := slices.IndexFunc(app.Env, func(e corev1.EnvVar) bool { return e.Name == name })
		if i < 0 || app.Env[i].ValueFrom == nil || app.Env[i].ValueFrom.FieldRef == nil || app.Env[i].ValueFrom.FieldRef.FieldPath != "status.hostIP" {
			t.Errorf("app env %s is not the downward API's status.hostIP", name)
		}
		for j, e := range app.Env {
			if strings.Contains(e.Value, host) && j < i {
				t.Errorf("app env %s uses %s before it is defined (Kubernetes expands only earlier variables)", e.Name, host)
			}
		}
	}
}
