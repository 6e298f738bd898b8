package deploytest

// The scale-out topology (overlays/scale-out, the chart's mode scaleOut):
// a NATS JetStream StatefulSet, stateless collectors, ingesters that own
// the partitions, scry-query over the ingesters' leases.

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/conf"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/scrytrace/scry/internal/bytesize"
	"github.com/scrytrace/scry/internal/testbin"
)

// scaleOutRenderings are the renderings of the scale-out topology.
var scaleOutRenderings = []string{"kustomize/scale-out", "helm/scaleOut", "helm/scaleOut+ingress+sidecar", "helm/scaleOut+daemonset", "helm/scaleOut+tenancy"}

// natsServerName is what the test gives $SERVER_NAME in nats.conf: the
// first pod's name, as the downward API would.
const natsServerNameVar = "SERVER_NAME"

// parseNATSConf parses a nats-server configuration with nats-server's own
// parser, $SERVER_NAME standing for "<server name>".
func parseNATSConf(content string) (map[string]any, error) {
	return parseNATSConfAs(content, "<server name>")
}

func parseNATSConfAs(content, serverName string) (map[string]any, error) {
	// A variable defined before its use wins over the environment.
	m, err := conf.Parse(natsServerNameVar + ": " + strconv.Quote(serverName) + "\n" + content)
	if err != nil {
		return nil, err
	}
	delete(m, natsServerNameVar)
	return m, nil
}

// natsWorkload returns the workload of objs running nats-server, and its
// container.
func natsWorkload(t *testing.T, objs []object) (workload, *corev1.Container) {
	t.Helper()
	var ws []workload
	for _, w := range workloadsOf(objs) {
		for _, c := range allContainers(&w.Template.Spec) {
			if isNATS(c) {
				ws = append(ws, w)
			}
		}
	}
	if len(ws) != 1 {
		t.Fatalf("want one workload running nats-server, got %v", ws)
	}
	for _, c := range allContainers(&ws[0].Template.Spec) {
		if isNATS(c) {
			return ws[0], c
		}
	}
	return ws[0], nil
}

func isNATS(c *corev1.Container) bool {
	repo := c.Image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo == "nats" || strings.HasSuffix(repo, "/nats")
}

// natsConfig returns the configuration file that the nats container's
// --config names, from its ConfigMap, parsed for pod ordinal 0.
func natsConfig(t *testing.T, objs []object, w workload, c *corev1.Container) (string, map[string]any) {
	t.Helper()
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("nats container args %v: want --config <file>", c.Args)
	}
	path := c.Args[i+1]
	m, rel, ok := mountFor(c, path)
	if !ok {
		t.Fatalf("--config %s: no volume mounted there", path)
	}
	v, ok := volumeNamed(&w.Template.Spec, m.Name)
	if !ok || v.ConfigMap == nil {
		t.Fatalf("--config %s: volume %s is not a ConfigMap", path, m.Name)
	}
	cm, ok := find[*corev1.ConfigMap](objs, v.ConfigMap.Name)
	if !ok {
		t.Fatalf("--config %s: no ConfigMap %s", path, v.ConfigMap.Name)
	}
	text, ok := cm.Data[rel]
	if !ok {
		t.Fatalf("--config %s: ConfigMap %s has no key %s", path, cm.Name, rel)
	}
	parsed, err := parseNATSConfAs(text, w.Name+"-0")
	if err != nil {
		t.Fatalf("nats.conf: %v\n%s", err, text)
	}
	return text, parsed
}

func confString(t *testing.T, m map[string]any, keys ...string) string {
	t.Helper()
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("nats.conf: %s is not a block", strings.Join(keys, "."))
		}
		cur = mm[k]
	}
	switch v := cur.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		t.Fatalf("nats.conf: no %s", strings.Join(keys, "."))
	}
	t.Fatalf("nats.conf: %s is %T", strings.Join(keys, "."), cur)
	return ""
}

// confPort: a listen address's port in nats.conf ("0.0.0.0:4222").
func confPort(t *testing.T, m map[string]any, keys ...string) int32 {
	t.Helper()
	v := confString(t, m, keys...)
	host, port, err := net.SplitHostPort(v)
	if err != nil || host != "0.0.0.0" {
		t.Fatalf("nats.conf %s: %q, want 0.0.0.0:<port>", strings.Join(keys, "."), v)
	}
	p, _ := strconv.Atoi(port)
	return int32(p)
}

// TestScaleOut checks the shape of the scale-out topology in the overlay
// and in the chart: NATS, collectors, ingesters and scry-query, and how
// their arguments and the NATS configuration fit together.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	all := allRenderings(t)
	for _, name := range scaleOutRenderings {
		t.Run(name, func(t *testing.T) {
			r := renderingNamed(t, all, name)
			nw, nc := natsWorkload(t, r.Objects)
			_, cfg := natsConfig(t, r.Objects, nw, nc)
			t.Run("nats", func(t *testing.T) { checkNATS(t, r, nw, nc, cfg) })
			t.Run("collector", func(t *testing.T) { checkScaleOutCollector(t, r, nw, cfg) })
			t.Run("ingester", func(t *testing.T) { checkIngester(t, r) })
			t.Run("query", func(t *testing.T) {
				qs := scryWorkloads(r.Objects, "scry-query")
				if len(qs) != 1 || qs[0].Kind != "Deployment" {
					t.Fatalf("want one Deployment running scry-query, got %v", qs)
				}
				args := mustArgs(t, scryContainer(qs[0], "scry-query"))
				if v, ok := argValue(args, "storage"); ok {
					t.Errorf("scry-query --storage=%s: in the scale-out topology it reads the ingesters the leases name (--nats-url)", v)
				}
			})
			t.Run("nats-url", func(t *testing.T) {
				n := 0
				for _, w := range workloadsOf(r.Objects) {
					for _, c := range allContainers(&w.Template.Spec) {
						if scryBinary(c) == "" || scryBinary(c) == "scry-agent" {
							continue
						}
						n++
						checkNATSURL(t, r, w, c, nw, nc, cfg)
					}
				}
				if n != 3 {
					t.Errorf("%d Scry workloads besides the agents, want 3 (collector, ingester, query)", n)
				}
			})
		})
	}
}

func checkNATS(t *testing.T, r rendering, w workload, c *corev1.Container, cfg map[string]any) {
	ss, ok := w.Obj.(*appsv1.StatefulSet)
	if !ok {
		t.Fatalf("%s: want a StatefulSet (each server keeps its JetStream store on its own claim)", w)
	}
	if w.Replicas < 3 {
		t.Errorf("%d nats-servers: R3 streams need 3", w.Replicas)
	}
	if ss.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: want Parallel (the servers must start together to elect a leader)", ss.Spec.PodManagementPolicy)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, want := range map[string]int32{"client": 4222, "cluster": 6222, "monitor": 8222} {
		if ports[name] != want {
			t.Errorf("container port %s: %d, want %d", name, ports[name], want)
		}
	}
	// The configuration listens where the ports are.
	for key, port := range map[string]string{"listen": "client", "http": "monitor"} {
		if got := confPort(t, cfg, key); got != ports[port] {
			t.Errorf("nats.conf %s on %d, container port %s is %d", key, got, port, ports[port])
		}
	}
	if got := confPort(t, cfg, "cluster", "listen"); got != ports["cluster"] {
		t.Errorf("nats.conf cluster.listen on %d, container port cluster is %d", got, ports["cluster"])
	}
	if n := confString(t, cfg, "cluster", "name"); n != "scry" {
		t.Errorf("cluster name %q, want scry", n)
	}
	// server_name is the pod's name, from the downward API.
	if n := confString(t, cfg, "server_name"); n != w.Name+"-0" {
		t.Errorf("server_name %q in pod %s-0: want $%s", n, w.Name, natsServerNameVar)
	}
	if e, ok := envValue(c, natsServerNameVar); !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("env %s is not the downward API's metadata.name", natsServerNameVar)
	}

	// Probes: /healthz?js-enabled-only=true on the monitor port.
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			continue // TestManifests reports it
		}
		if p.HTTPGet.Path != "/healthz?js-enabled-only=true" {
			t.Errorf("%s probe path %s, want /healthz?js-enabled-only=true", name, p.HTTPGet.Path)
		}
		if cp, ok := containerPort(c, p.HTTPGet.Port.String(), corev1.ProtocolTCP); !ok || cp.ContainerPort != ports["monitor"] {
			t.Errorf("%s probe on port %s, not the monitor port", name, p.HTTPGet.Port.String())
		}
	}

	// JetStream on the claim.
	storeDir := confString(t, cfg, "jetstream", "store_dir")
	m, _, ok := mountFor(c, storeDir)
	var claim *corev1.PersistentVolumeClaim
	for i := range w.Claims {
		if ok && w.Claims[i].Name == m.Name {
			claim = &w.Claims[i]
		}
	}
	if claim == nil {
		t.Fatalf("jetstream.store_dir %s is not on one of the volumeClaimTemplates", storeDir)
	}
	maxFile, ok := cfg["jetstream"].(map[string]any)["max_file_store"].(int64)
	size := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok || maxFile <= 0 || maxFile > size.Value() {
		t.Errorf("jetstream.max_file_store %v: want a size of at most the claim's %s", cfg["jetstream"].(map[string]any)["max_file_store"], size.String())
	}

	// The headless Service of the StatefulSet and the routes through it:
	// one per replica, to the cluster port.
	headless, ok := find[*corev1.Service](r.Objects, ss.Spec.ServiceName)
	if !ok {
		t.Fatalf("serviceName %s: no such Service", ss.Spec.ServiceName)
	}
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: want headless with publishNotReadyAddresses (the servers find each other before they are ready)", headless.Name)
	}
	routes, _ := cfg["cluster"].(map[string]any)["routes"].([]any)
	var want, got []string
	for i := range int(w.Replicas) {
		want = append(want, fmt.Sprintf("nats://%s-%d.%s.%s.svc:%d", w.Name, i, headless.Name, w.Namespace, ports["cluster"]))
	}
	for _, rt := range routes {
		got = append(got, fmt.Sprint(rt))
	}
	if !slices.Equal(got, want) {
		t.Errorf("cluster.routes %v, want one per replica: %v", got, want)
	}
	if _, sp, ok := resolveService(r.Objects, serviceRef{headless.Name, w.Namespace, int(ports["cluster"])}); !ok || sp.TargetPort.String() != "cluster" {
		t.Errorf("Service %s has no port %d to the cluster port", headless.Name, ports["cluster"])
	}

	// A client Service with a virtual IP on 4222.
	client := false
	for _, s := range servicesSelecting(r.Objects, w) {
		if s.Spec.ClusterIP != corev1.ClusterIPNone && slices.Contains(servicePorts(s), 4222) {
			client = true
		}
	}
	if !client {
		t.Error("no Service with a virtual IP and port 4222 selects the nats-servers")
	}

	// One server at a time may go, and they spread over nodes.
	pdbs := 0
	for _, o := range r.Objects {
		if pdb, ok := o.Obj.(*policyv1.PodDisruptionBudget); ok {
			sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if sel.Matches(labels.Set(w.Template.Labels)) {
				pdbs++
				if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("PodDisruptionBudget %s: maxUnavailable %v, want 1 (two of three keep the quorum)", pdb.Name, pdb.Spec.MaxUnavailable)
				}
			}
		}
	}
	if pdbs != 1 {
		t.Errorf("%d PodDisruptionBudgets select the nats-servers, want 1", pdbs)
	}
	aff := w.Template.Spec.Affinity
	spread := false
	if aff != nil && aff.PodAntiAffinity != nil {
		for _, term := range aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			sel, err := metav1.LabelSelectorAsSelector(term.PodAffinityTerm.LabelSelector)
			if err == nil && !sel.Empty() && term.PodAffinityTerm.TopologyKey == "kubernetes.io/hostname" && sel.Matches(labels.Set(w.Template.Labels)) {
				spread = true
			}
		}
	}
	if !spread {
		t.Error("no preferred podAntiAffinity on kubernetes.io/hostname against its own pods")
	}
}

func checkScaleOutCollector(t *testing.T, r rendering, nw workload, cfg map[string]any) {
	cs := scryWorkloads(r.Objects, "scry-collector")
	if len(cs) != 1 {
		t.Fatalf("want one workload running scry-collector, got %v", cs)
	}
	w := cs[0]
	if w.Kind != "Deployment" {
		t.Errorf("%s: want a Deployment (the collectors keep no store)", w)
	}
	if len(w.Claims) > 0 {
		t.Errorf("%s has volumeClaimTemplates", w)
	}
	for _, v := range w.Template.Spec.Volumes {
		if v.ConfigMap == nil && v.Secret == nil {
			t.Errorf("volume %s: a collector keeps nothing but configuration", v.Name)
		}
	}
	args := mustArgs(t, scryContainer(w, "scry-collector"))
	if v, ok := argValue(args, "data-dir"); ok {
		t.Errorf("--data-dir=%s: the collector keeps no store", v)
	}
	if v, _ := argValue(args, "nats-init"); v != "true" {
		t.Error("no --nats-init=true: nothing creates the partition streams")
	}
	replicas, err := strconv.Atoi(flagOr(args, "nats-replicas", "3"))
	if err != nil || replicas != 3 || replicas > int(nw.Replicas) {
		t.Errorf("--nats-replicas=%d: want 3 (R3), at most the %d nats-servers", replicas, nw.Replicas)
	}
	partitions, err := strconv.Atoi(flagOr(args, "nats-partitions", "8"))
	if err != nil || partitions < 1 {
		t.Errorf("--nats-partitions=%d", partitions)
	}
	// The streams fit in max_file_store: each server holds
	// max-bytes x partitions x replicas / servers.
	maxBytes, err := bytesize.Parse(flagOr(args, "nats-stream-max-bytes", "1GiB"))
	if err != nil {
		t.Fatal(err)
	}
	maxFile, _ := cfg["jetstream"].(map[string]any)["max_file_store"].(int64)
	perServer := maxBytes * int64(partitions) * int64(replicas) / int64(nw.Replicas)
	if perServer > maxFile {
		t.Errorf("the partition streams take up to %d bytes on each nats-server (%d partitions x %d bytes x R%d / %d servers), above max_file_store %d", perServer, partitions, maxBytes, replicas, nw.Replicas, maxFile)
	}
	if ing := scryWorkloads(r.Objects, "scry-ingester"); len(ing) == 1 {
		n, _ := strconv.Atoi(flagOr(mustArgs(t, scryContainer(ing[0], "scry-ingester")), "ingesters", "0"))
		if n > partitions {
			t.Errorf("--ingesters=%d above --nats-partitions=%d: some ingester owns nothing", n, partitions)
		}
	}
	// The agents' names are here.
	for _, name := range []string{"scry-collector-headless", "scry-collector"} {
		found := false
		for _, s := range servicesSelecting(r.Objects, w) {
			found = found || s.Name == name
		}
		if !found {
			t.Errorf("no Service %s selects the collectors (the agents and SDKs send there)", name)
		}
	}
}

func flagOr(args []arg, name, def string) string {
	if v, ok := argValue(args, name); ok {
		return v
	}
	return def
}

func checkIngester(t *testing.T, r rendering) {
	ws := scryWorkloads(r.Objects, "scry-ingester")
	if len(ws) != 1 {
		t.Fatalf("want one workload running scry-ingester, got %v", ws)
	}
	w := ws[0]
	checkStore(t, w, "scry-ingester")
	c := scryContainer(w, "scry-ingester")
	args := mustArgs(t, c)
	if v := flagOr(args, "ingesters", ""); v != strconv.Itoa(int(w.Replicas)) {
		t.Errorf("--ingesters=%s, but the StatefulSet has %d replicas: partitions would be owned by no one, or by too few", v, w.Replicas)
	}
	if w.Replicas < 2 {
		t.Errorf("%d ingesters: two replicas per partition need two", w.Replicas)
	}
	if v := flagOr(args, "ordinal", ""); v != "-1" {
		t.Errorf("--ordinal=%s, want -1 (the pod's ordinal, from its name)", v)
	}
	if _, ok := argValue(args, "partitions"); ok {
		t.Error("--partitions: the ordinal decides the partitions")
	}
	// The advertised address is the pod's name under the headless Service,
	// on the storage listener's port.
	ss := w.Obj.(*appsv1.StatefulSet)
	svc, ok := find[*corev1.Service](r.Objects, ss.Spec.ServiceName)
	if !ok {
		t.Fatalf("serviceName %s: no such Service", ss.Spec.ServiceName)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: want headless with publishNotReadyAddresses (the leases, not the pod's readiness, say which partitions an ingester serves)", svc.Name)
	}
	storagePort := portOf(t, flagOr(args, "storage-addr", ""))
	want := fmt.Sprintf("$(POD_NAME).%s.%s.svc:%s", svc.Name, w.Namespace, storagePort)
	if v := flagOr(args, "advertise-addr", ""); v != want {
		t.Errorf("--advertise-addr=%s, want %s", v, want)
	}
	if e, ok := envValue(c, "POD_NAME"); !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Error("env POD_NAME is not the downward API's metadata.name")
	}
	p, _ := strconv.Atoi(storagePort)
	if _, sp, ok := resolveService(r.Objects, serviceRef{svc.Name, w.Namespace, p}); !ok {
		t.Errorf("Service %s has no port %d", svc.Name, p)
	} else if cp, ok := containerPort(c, sp.TargetPort.String(), corev1.ProtocolTCP); !ok || strconv.Itoa(int(cp.ContainerPort)) != storagePort {
		t.Errorf("Service %s port %d does not reach --storage-addr's port %s", svc.Name, p, storagePort)
	}
	// One ingester at a time may go: the other owner serves its partitions.
	pdbs := 0
	for _, o := range r.Objects {
		if pdb, ok := o.Obj.(*policyv1.PodDisruptionBudget); ok {
			sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if sel.Matches(labels.Set(w.Template.Labels)) {
				pdbs++
				if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("PodDisruptionBudget %s: maxUnavailable %v, want 1", pdb.Name, pdb.Spec.MaxUnavailable)
				}
			}
		}
	}
	if pdbs != 1 {
		t.Errorf("%d PodDisruptionBudgets select the ingesters, want 1", pdbs)
	}
}

// checkNATSURL: --nats-url of a Scry container is nats://<Service>:<port>,
// a Service that reaches the nats-servers' client listener.
func checkNATSURL(t *testing.T, r rendering, w workload, c *corev1.Container, nw workload, nc *corev1.Container, cfg map[string]any) {
	v, ok := argValue(mustArgs(t, c), "nats-url")
	if !ok {
		t.Errorf("%s/%s: no --nats-url", w, c.Name)
		return
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "nats" || u.Path != "" {
		t.Errorf("%s/%s: --nats-url=%s: want nats://<service>:<port>", w, c.Name, v)
		return
	}
	ref, ok := parseServiceRef(u.Host, w.Namespace)
	if !ok {
		t.Errorf("%s/%s: --nats-url=%s does not name a Service", w, c.Name, v)
		return
	}
	svc, sp, ok := resolveService(r.Objects, ref)
	if !ok {
		t.Errorf("%s/%s: --nats-url=%s: no Service %s with port %d", w, c.Name, v, ref.Name, ref.Port)
		return
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(nw.Template.Labels)) {
		t.Errorf("%s/%s: --nats-url=%s: Service %s does not select the nats-servers", w, c.Name, v, svc.Name)
	}
	cp, ok := containerPort(nc, sp.TargetPort.String(), corev1.ProtocolTCP)
	if !ok || cp.ContainerPort != confPort(t, cfg, "listen") {
		t.Errorf("%s/%s: --nats-url=%s reaches port %s of the nats container, not its client listener %s", w, c.Name, v, sp.TargetPort.String(), confString(t, cfg, "listen"))
	}
}

// TestNATSConfig runs the nats-server that go.mod pins (the image's
// version) with the nats container's own arguments and each rendering's
// configuration, in its check mode (-t): the configuration must be one
// that server starts with, no warning.
func TestNATSConfig(t *testing.T) {
	t.Parallel()
	all := allRenderings(t)
	bin := testbin.Build(t, "github.com/nats-io/nats-server/v2")
	for _, name := range scaleOutRenderings {
		t.Run(name, func(t *testing.T) {
			r := renderingNamed(t, all, name)
			w, c := natsWorkload(t, r.Objects)
			text, _ := natsConfig(t, r.Objects, w, c)
			if !strings.HasSuffix(c.Image, ":"+natsServerVersion(t)+"-alpine") {
				t.Errorf("image %s: want the nats-server of go.mod, %s (the tests check that version)", c.Image, natsServerVersion(t))
			}
			if len(c.Command) != 1 || c.Command[0] != "nats-server" {
				t.Errorf("command %v, want [nats-server]", c.Command)
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "nats.conf")
			if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := slices.Clone(c.Args)
			args[slices.Index(args, "--config")+1] = file
			cmd := exec.Command(bin, append(args, "-t")...)
			cmd.Env = append(os.Environ(), natsServerNameVar+"="+w.Name+"-0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("nats-server %s -t: %v\n%s\n%s", strings.Join(args, " "), err, out, text)
			}
		})
	}
}

// natsServerVersion is the version of github.com/nats-io/nats-server/v2 in
// go.mod, without the v.
func natsServerVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/nats-io/nats-server/v2" {
			return strings.TrimPrefix(f[1], "v")
		}
	}
	t.Fatal("go.mod does not require github.com/nats-io/nats-server/v2")
	return ""
}

// TestChartScaleOutValues: the scale-out values reach the objects, and
// what must agree is derived from one value: --ingesters from
// ingester.replicas, the routes from nats.replicas, the stream flags from
// nats.streams, the namespace of the routes and the advertised address from
// the release's.
func TestChartScaleOutValues(t *testing.T) {
	t.Parallel()
	objs, _ := renderChart(t, `mode: scaleOut
nats:
  replicas: 5
  storage: {size: 50Gi, storageClassName: fast-ssd}
  jetstream: {maxFileStore: 45Gi}
  streams: {partitions: 16, replicas: 3, maxBytes: 2GiB, maxAge: 168h}
ingester:
  replicas: 4
  storage: {size: 100Gi}
`)
	nw, nc := natsWorkload(t, objs)
	_, cfg := natsConfig(t, objs, nw, nc)
	if nw.Replicas != 5 {
		t.Errorf("nats replicas %d, want 5", nw.Replicas)
	}
	routes, _ := cfg["cluster"].(map[string]any)["routes"].([]any)
	if len(routes) != 5 || fmt.Sprint(routes[4]) != "nats://scry-nats-4.scry-nats.scry.svc:6222" {
		t.Errorf("routes %v: want 5, the last nats://scry-nats-4.scry-nats.scry.svc:6222", routes)
	}
	if v := cfg["jetstream"].(map[string]any)["max_file_store"]; v != int64(45<<30) {
		t.Errorf("max_file_store %v, want 45Gi", v)
	}
	if q := nw.Claims[0].Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "50Gi" || nw.Claims[0].Spec.StorageClassName == nil || *nw.Claims[0].Spec.StorageClassName != "fast-ssd" {
		t.Errorf("nats claim %v", nw.Claims[0].Spec)
	}
	col := scryWorkloads(objs, "scry-collector")
	args := mustArgs(t, scryContainer(col[0], "scry-collector"))
	for flag, want := range map[string]string{"nats-partitions": "16", "nats-replicas": "3", "nats-stream-max-bytes": "2GiB", "nats-stream-max-age": "168h"} {
		if v, _ := argValue(args, flag); v != want {
			t.Errorf("collector --%s=%s, want %s", flag, v, want)
		}
	}
	ing := scryWorkloads(objs, "scry-ingester")
	iargs := mustArgs(t, scryContainer(ing[0], "scry-ingester"))
	if ing[0].Replicas != 4 || flagOr(iargs, "ingesters", "") != "4" {
		t.Errorf("ingesters: %d replicas, --ingesters=%s; want 4 and 4", ing[0].Replicas, flagOr(iargs, "ingesters", ""))
	}
	if v := flagOr(iargs, "advertise-addr", ""); v != "$(POD_NAME).scry-ingester.scry.svc:17271" {
		t.Errorf("--advertise-addr=%s", v)
	}
}
