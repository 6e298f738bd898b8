package deploytest

// Invariants of every rendering: every overlay, and the chart in each mode.

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// TestManifests checks every object of every rendering: workloads, their
// containers, Services, disruption budgets and ingresses.
func TestManifests(t *testing.T) {
	t.Parallel()
	for _, r := range allRenderings(t) {
		t.Run(r.Name, func(t *testing.T) {
			if len(workloadsOf(r.Objects)) == 0 {
				t.Fatal("no workloads")
			}
			checkNames(t, r)
			for _, w := range workloadsOf(r.Objects) {
				t.Run(w.String(), func(t *testing.T) { checkWorkload(t, r, w) })
			}
			for _, o := range r.Objects {
				switch x := o.Obj.(type) {
				case *corev1.Service:
					t.Run(o.String(), func(t *testing.T) { checkService(t, r, x) })
				case *policyv1.PodDisruptionBudget:
					t.Run(o.String(), func(t *testing.T) { checkPDB(t, r, x) })
				case *networkingv1.Ingress:
					t.Run(o.String(), func(t *testing.T) { checkIngress(t, r, x) })
				}
			}
		})
	}
}

// checkNames: names are unique per kind and namespace, and when the
// rendering makes a Namespace, everything else is in it.
func checkNames(t *testing.T, r rendering) {
	seen := map[string]bool{}
	ns := ""
	for _, o := range r.Objects {
		key := o.Kind + "/" + o.Namespace + "/" + o.Name
		if seen[key] {
			t.Errorf("%s %s twice", o.Kind, o.Name)
		}
		seen[key] = true
		if o.Kind == "Namespace" {
			ns = o.Name
		}
	}
	if ns == "" {
		return
	}
	for _, o := range r.Objects {
		if o.Kind != "Namespace" && o.Namespace != ns {
			t.Errorf("%s is in namespace %q, not in %q that the rendering makes", o, o.Namespace, ns)
		}
	}
}

func checkWorkload(t *testing.T, r rendering, w workload) {
	spec := &w.Template.Spec
	sel, err := metav1.LabelSelectorAsSelector(w.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("selector %v: %v", w.Selector, err)
	}
	if !sel.Matches(labels.Set(w.Template.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v", w.Selector, w.Template.Labels)
	}
	if psc := spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot is not true")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken is not false (no container talks to the API server)")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("pod shares the host's network, PID or IPC namespace")
	}
	claims := map[string]bool{}
	for _, c := range w.Claims {
		claims[c.Name] = true
		if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			t.Errorf("volumeClaimTemplate %s requests no storage", c.Name)
		}
	}
	for _, c := range allContainers(spec) {
		for _, m := range c.VolumeMounts {
			if _, ok := volumeNamed(spec, m.Name); !ok && !claims[m.Name] {
				t.Errorf("container %s mounts %s, which is neither a volume nor a claim template", c.Name, m.Name)
			}
		}
	}
	if ss, ok := w.Obj.(*appsv1.StatefulSet); ok {
		svc, found := find[*corev1.Service](r.Objects, ss.Spec.ServiceName)
		if !found {
			t.Errorf("serviceName %q: no such Service", ss.Spec.ServiceName)
		} else if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.Template.Labels)) {
			t.Errorf("serviceName %q: that Service does not select the pods", ss.Spec.ServiceName)
		}
	}
	for _, c := range allContainers(spec) {
		t.Run(c.Name, func(t *testing.T) { checkContainer(t, r, w, c) })
	}
}

func checkContainer(t *testing.T, r rendering, w workload, c *corev1.Container) {
	spec := &w.Template.Spec
	if !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":") {
		t.Errorf("image %q has no tag", c.Image)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s", p.name)
			continue
		}
		if _, ok := containerPort(c, p.probe.HTTPGet.Port.String(), corev1.ProtocolTCP); !ok {
			t.Errorf("%s port %s: no such TCP port on the container", p.name, p.probe.HTTPGet.Port.String())
		}
	}

	res := c.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := res.Requests[name]
		lim, hasLim := res.Limits[name]
		if !hasReq || !hasLim {
			t.Errorf("resources: %s request or limit missing (%v)", name, res)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("resources: %s request %s above the limit %s", name, req.String(), lim.String())
		}
	}

	sc := c.SecurityContext
	psc := spec.SecurityContext
	if sc == nil {
		t.Fatal("no securityContext")
	}
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		t.Error("runAsNonRoot is not true")
	}
	if uid := sc.RunAsUser; uid != nil && *uid == 0 {
		t.Error("runAsUser is 0")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %v: want drop [ALL] and nothing added", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && psc != nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %v: want RuntimeDefault", seccomp)
	}

	if bin := scryBinary(c); bin != "" {
		checkScryContainer(t, r, w, c, bin)
	}
}

// checkScryContainer checks what the arguments of a Scry binary promise:
// the admin port is the probes', the memory limit fits the container's,
// paths lie on volumes, addresses name Services that reach the right
// listener, and the binary has every flag (built and asked with --help).
func checkScryContainer(t *testing.T, r rendering, w workload, c *corev1.Container, bin string) {
	spec := &w.Template.Spec
	args, err := parseArgs(c.Args)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Command) > 0 {
		t.Errorf("command %v replaces the image's entrypoint; give args only", c.Command)
	}

	// Probes: /healthz and /readyz on the admin listener.
	admin, ok := argValue(args, "admin-addr")
	if !ok {
		t.Fatal("no --admin-addr")
	}
	_, adminPort, _ := net.SplitHostPort(admin)
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			continue // reported above
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("probe path %s, want %s", p.probe.HTTPGet.Path, p.path)
		}
		cp, ok := containerPort(c, p.probe.HTTPGet.Port.String(), corev1.ProtocolTCP)
		if ok && strconv.Itoa(int(cp.ContainerPort)) != adminPort {
			t.Errorf("probe %s on port %d, but --admin-addr is %s", p.path, cp.ContainerPort, admin)
		}
	}

	// The Go heap's soft limit: ~80% of the container's memory limit.
	if _, ok := envValue(c, "GOMEMLIMIT"); !ok {
		v, ok := argValue(args, "memory-limit-mb")
		mb, err := strconv.Atoi(v)
		lim, hasLim := c.Resources.Limits[corev1.ResourceMemory]
		switch {
		case !ok:
			t.Error("neither --memory-limit-mb nor GOMEMLIMIT: the binary's default does not follow the container's limit")
		case err != nil:
			t.Errorf("--memory-limit-mb=%s: %v", v, err)
		case hasLim:
			limMB := lim.Value() >> 20
			if f := float64(mb) / float64(limMB); f < 0.7 || f > 0.9 {
				t.Errorf("--memory-limit-mb=%d is %.0f%% of the memory limit %s; want about 80%%", mb, 100*f, lim.String())
			}
		}
	}

	// Paths: on a volume (the root filesystem is read-only).
	for _, a := range args {
		if !strings.HasPrefix(a.Value, "/") {
			continue
		}
		m, rel, ok := mountFor(c, a.Value)
		if !ok {
			t.Errorf("--%s=%s is on the read-only root filesystem: no volume is mounted there", a.Name, a.Value)
			continue
		}
		if a.Name == "data-dir" {
			if !slices.ContainsFunc(w.Claims, func(pvc corev1.PersistentVolumeClaim) bool { return pvc.Name == m.Name }) {
				t.Errorf("--data-dir=%s is on volume %s, not on a PersistentVolumeClaim of the StatefulSet: the store would not survive the pod", a.Value, m.Name)
			}
			if m.ReadOnly {
				t.Errorf("--data-dir=%s is mounted read-only", a.Value)
			}
		}
		v, ok := volumeNamed(spec, m.Name)
		if !ok || v.ConfigMap == nil {
			continue
		}
		cm, found := find[*corev1.ConfigMap](append(slices.Clone(r.Objects), r.Cluster...), v.ConfigMap.Name)
		if !found {
			t.Errorf("--%s=%s: volume %s is ConfigMap %s, which is not in the rendering", a.Name, a.Value, m.Name, v.ConfigMap.Name)
			continue
		}
		content, ok := cm.Data[rel]
		if !ok {
			t.Errorf("--%s=%s: ConfigMap %s has no key %q", a.Name, a.Value, cm.Name, rel)
			continue
		}
		if a.Name == "sampling-strategies-file" {
			checkStrategies(t, content)
		}
	}

	// Addresses of other parts: a Service in the cluster, whose port
	// reaches the right listener on every pod it selects; headless when
	// it selects more than one pod (a virtual IP would reach just one).
	cluster := append(slices.Clone(r.Objects), r.Cluster...)
	targets := map[string]string{ // flag -> listener flag of the target
		"storage":      "storage-addr",
		"collector":    "otlp-grpc-addr",
		"sampling-url": "jaeger-http-addr",
	}
	for _, a := range args {
		listener, ok := targets[a.Name]
		if !ok {
			continue
		}
		values := strings.Split(a.Value, ",")
		if a.Name == "sampling-url" {
			u, err := url.Parse(a.Value)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "/api/sampling" {
				t.Errorf("--sampling-url=%s: want http[s]://<collector>:<jaeger-http port>/api/sampling", a.Value)
				continue
			}
			values = []string{u.Host}
		}
		for _, hp := range values {
			ref, ok := parseServiceRef(hp, w.Namespace)
			if !ok {
				t.Errorf("--%s=%s: %q is not <service>[.<namespace>[.svc.cluster.local]]:<port>", a.Name, a.Value, hp)
				continue
			}
			svc, sp, ok := resolveService(cluster, ref)
			if !ok {
				t.Errorf("--%s=%s: no Service %s in namespace %q with port %d", a.Name, a.Value, ref.Name, ref.Namespace, ref.Port)
				continue
			}
			pods := selected(cluster, svc.Namespace, svc.Spec.Selector)
			if len(pods) == 0 {
				t.Errorf("--%s=%s: Service %s selects no pods", a.Name, a.Value, svc.Name)
			}
			for _, p := range pods {
				if p.Replicas > 1 && svc.Spec.ClusterIP != corev1.ClusterIPNone && a.Name != "sampling-url" {
					t.Errorf("--%s=%s: Service %s has a virtual IP but selects %d replicas of %s: only a headless Service reaches every one", a.Name, a.Value, svc.Name, p.Replicas, p)
				}
				checkTargetListener(t, a, sp, p, listener)
			}
		}
	}

	t.Run("flags", func(t *testing.T) { checkFlags(t, bin, args, c) })
}

// checkTargetListener: the Service port sp reaches, on the pods of p, the
// Scry container whose flag listener listens there.
func checkTargetListener(t *testing.T, a arg, sp *corev1.ServicePort, p workload, listener string) {
	target := sp.TargetPort.String()
	if target == "0" || target == "" {
		target = strconv.Itoa(int(sp.Port))
	}
	for _, pc := range allContainers(&p.Template.Spec) {
		cp, ok := containerPort(pc, target, sp.Protocol)
		if !ok || scryBinary(pc) == "" {
			continue
		}
		pargs, _ := parseArgs(pc.Args)
		addr, _ := argValue(pargs, listener)
		if _, port, _ := net.SplitHostPort(addr); port != strconv.Itoa(int(cp.ContainerPort)) {
			t.Errorf("--%s=%s reaches port %d of %s/%s, where --%s is %q", a.Name, a.Value, cp.ContainerPort, p, pc.Name, listener, addr)
		}
		return
	}
	t.Errorf("--%s=%s: port %s reaches no Scry container of %s", a.Name, a.Value, target, p)
}

// checkStrategies: a Jaeger sampling strategies file.
func checkStrategies(t *testing.T, content string) {
	var s struct {
		DefaultStrategy *struct {
			Type  string   `json:"type"`
			Param *float64 `json:"param"`
		} `json:"default_strategy"`
		ServiceStrategies []struct {
			Service string   `json:"service"`
			Type    string   `json:"type"`
			Param   *float64 `json:"param"`
		} `json:"service_strategies"`
	}
	if err := json.Unmarshal([]byte(content), &s); err != nil {
		t.Errorf("sampling strategies: %v", err)
		return
	}
	if s.DefaultStrategy == nil || s.DefaultStrategy.Param == nil {
		t.Error("sampling strategies: no default_strategy with a param")
	}
	for _, ss := range s.ServiceStrategies {
		if ss.Service == "" || (ss.Type != "probabilistic" && ss.Type != "ratelimiting") || ss.Param == nil {
			t.Errorf("sampling strategies: service strategy %+v: want service, type probabilistic or ratelimiting, param", ss)
		}
	}
}

// checkFlags: every argument is a flag of the binary, and every listener of
// the binary is given explicitly on 0.0.0.0 with a matching container port.
func checkFlags(t *testing.T, bin string, args []arg, c *corev1.Container) {
	flags := flagsOf(t, bin)
	for _, a := range args {
		if _, ok := flags[a.Name]; !ok {
			t.Errorf("--%s: %s --help has no such flag", a.Name, bin)
		}
	}
	listenPorts := map[int32]bool{}
	for _, a := range args {
		host, port, err := net.SplitHostPort(a.Value)
		if err != nil || !strings.HasSuffix(a.Name, "-addr") {
			continue
		}
		p, _ := strconv.Atoi(port)
		if host == "0.0.0.0" {
			listenPorts[int32(p)] = true
		}
	}
	for _, f := range listenerFlags(flags) {
		if unusedListener(bin, args, f) {
			continue
		}
		v, ok := argValue(args, f)
		if !ok {
			t.Errorf("listener --%s is not given (its default, %s, is loopback only)", f, flags[f].Default)
			continue
		}
		host, port, err := net.SplitHostPort(v)
		if err != nil || host != "0.0.0.0" {
			t.Errorf("--%s=%s: want 0.0.0.0:<port>", f, v)
			continue
		}
		proto := corev1.ProtocolTCP
		if strings.HasPrefix(f, "udp-") {
			proto = corev1.ProtocolUDP
		}
		if _, ok := containerPort(c, port, proto); !ok {
			t.Errorf("--%s=%s: the container declares no %s port %s", f, v, proto, port)
		}
	}
	for _, p := range c.Ports {
		if !listenPorts[p.ContainerPort] {
			t.Errorf("container port %s (%d) is not a listener given in the args", p.Name, p.ContainerPort)
		}
	}
}

// unusedListener: the listener flag f of bin opens nothing with these
// args. A scry-collector with --nats-url keeps no store and so serves no
// storage API (its --help says so): --storage-addr is unused.
func unusedListener(bin string, args []arg, f string) bool {
	_, nats := argValue(args, "nats-url")
	return bin == "scry-collector" && nats && f == "storage-addr"
}

// checkService: the selector selects pods, and every port reaches a
// container port of each of them, by name or number, with its protocol.
func checkService(t *testing.T, r rendering, s *corev1.Service) {
	pods := selected(r.Objects, s.Namespace, s.Spec.Selector)
	if len(pods) == 0 {
		t.Fatalf("selector %v selects no pods", s.Spec.Selector)
	}
	if len(s.Spec.Ports) == 0 {
		t.Fatal("no ports")
	}
	for _, sp := range s.Spec.Ports {
		target := sp.TargetPort.String()
		if target == "0" || target == "" {
			target = strconv.Itoa(int(sp.Port))
		}
		for _, p := range pods {
			found := false
			for _, c := range allContainers(&p.Template.Spec) {
				if _, ok := containerPort(c, target, sp.Protocol); ok {
					found = true
				}
			}
			if !found {
				t.Errorf("port %s (%d -> %s/%s) reaches no container port of %s", sp.Name, sp.Port, target, protoOrTCP(sp.Protocol), p)
			}
		}
	}
}

func protoOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func checkPDB(t *testing.T, r rendering, pdb *policyv1.PodDisruptionBudget) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("selector %v: %v", pdb.Spec.Selector, err)
	}
	n := 0
	for _, w := range workloadsOf(r.Objects) {
		if w.Namespace == pdb.Namespace && sel.Matches(labels.Set(w.Template.Labels)) {
			n++
			if mu := pdb.Spec.MaxUnavailable; mu != nil && mu.IntValue() >= int(w.Replicas) {
				t.Errorf("maxUnavailable %s lets every replica of %s (%d) go at once", mu.String(), w, w.Replicas)
			}
		}
	}
	if n == 0 {
		t.Error("selects no workload")
	}
}

func checkIngress(t *testing.T, r rendering, ing *networkingv1.Ingress) {
	if len(ing.Spec.Rules) == 0 {
		t.Fatal("no rules")
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			t.Errorf("rule %s has no paths", rule.Host)
			continue
		}
		for _, p := range rule.HTTP.Paths {
			b := p.Backend.Service
			if b == nil {
				t.Errorf("path %s has no Service backend", p.Path)
				continue
			}
			svc, ok := find[*corev1.Service](r.Objects, b.Name)
			if !ok {
				t.Errorf("path %s: no Service %s", p.Path, b.Name)
				continue
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
				return (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Number != 0 && sp.Port == b.Port.Number)
			}) {
				t.Errorf("path %s: Service %s has no port %v", p.Path, b.Name, b.Port)
			}
			// The backend must be the UI: a Service port that reaches the
			// query HTTP listener.
			pods := selected(r.Objects, svc.Namespace, svc.Spec.Selector)
			for _, w := range pods {
				for _, c := range w.Template.Spec.Containers {
					if bin := scryBinary(&c); bin != "scry" && bin != "scry-query" {
						t.Errorf("path %s: Service %s reaches %s, not the UI (scry or scry-query)", p.Path, b.Name, bin)
					}
				}
			}
		}
	}
}
