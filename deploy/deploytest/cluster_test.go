package deploytest

// A stand-in for a cluster on loopback addresses: it runs the Scry
// containers of rendered manifests as local processes with the manifests'
// own arguments, translated as Kubernetes would resolve them. Each pod gets
// an address of its own in 127.0.0.0/8 (Linux routes the whole range to
// loopback) and a folder for its volumes; every container port P is
// listened on at one free host port H(P), the same on every pod address, as
// a pod's port is the same on every pod IP. A headless Service name stands
// for the list of its pods' addresses (the binaries' list form of
// --storage and --collector; DNS names are tested in storage/remote and
// agent), a Service with a virtual IP for one of its pods.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/scrytrace/scry/internal/testbin"
)

const readyTimeout = 45 * time.Second // from exec to the readiness probe answering 200

// pod is one pod of a workload, planned or running.
type pod struct {
	W       workload
	Ordinal int
	IP      string
	Dir     string // its volumes: <Dir>/<volume name>
}

func (p *pod) String() string { return fmt.Sprintf("%s-%d", p.W.Name, p.Ordinal) }

type cluster struct {
	t    *testing.T
	objs []object
	// secrets are the Secrets the manifests mount, by name and key: the
	// cluster's, which no manifest makes.
	secrets map[string]map[string][]byte
	pods    []*pod
	ports   map[int32]int // container port -> host port, on every pod address
	procs   []*testbin.Proc
}

// newCluster plans pods for the given workloads of objs: plan maps a
// workload's name to the addresses of the pods to run (fewer than its
// replicas is fine: a Deployment's second query replica adds nothing here).
func newCluster(t *testing.T, objs []object, plan map[string][]string) *cluster {
	t.Helper()
	cl := &cluster{t: t, objs: objs}
	for _, w := range workloadsOf(objs) {
		for i, ip := range plan[w.Name] {
			cl.pods = append(cl.pods, &pod{W: w, Ordinal: i, IP: ip, Dir: t.TempDir()})
		}
	}
	for name := range plan {
		if !slices.ContainsFunc(cl.pods, func(p *pod) bool { return p.W.Name == name }) {
			t.Fatalf("no workload %s in the manifests", name)
		}
	}
	return cl
}

// podsOf returns the planned pods of workload name.
func (cl *cluster) podsOf(name string) []*pod {
	var out []*pod
	for _, p := range cl.pods {
		if p.W.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// pickPorts chooses H(P) for every container port of the planned pods: a
// port free on every pod address a moment ago.
func (cl *cluster) pickPorts() {
	cl.t.Helper()
	var ips []string
	need := map[int32]bool{}
	for _, p := range cl.pods {
		if !slices.Contains(ips, p.IP) {
			ips = append(ips, p.IP)
		}
		for _, c := range allContainers(&p.W.Template.Spec) {
			for _, cp := range c.Ports {
				need[cp.ContainerPort] = true
			}
		}
	}
	cl.ports = map[int32]int{}
	var held []io.Closer
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	for cp := range need {
		for attempt := 0; ; attempt++ {
			if attempt == 50 {
				cl.t.Fatalf("cannot find a port free on all of %v", ips)
			}
			ln, err := net.Listen("tcp", ips[0]+":0")
			if err != nil {
				cl.t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			hs := []io.Closer{ln}
			ok := true
			for _, ip := range ips {
				if ip != ips[0] {
					l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
					if err != nil {
						ok = false
						break
					}
					hs = append(hs, l)
				}
				u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
				if err != nil {
					ok = false
					break
				}
				hs = append(hs, u)
			}
			held = append(held, hs...)
			if ok {
				cl.ports[cp] = port
				break
			}
		}
	}
}

// hostPort returns H(P) of a container port named or numbered target of c.
func (cl *cluster) hostPort(c *corev1.Container, target string, proto corev1.Protocol) (int, error) {
	cp, ok := containerPort(c, target, proto)
	if !ok {
		return 0, fmt.Errorf("container %s has no port %s", c.Name, target)
	}
	return cl.ports[cp.ContainerPort], nil
}

// serviceAddrs returns what a pod reaches at a Service reference: every
// selected pod's address for a headless Service, one for a virtual IP.
func (cl *cluster) serviceAddrs(hostport, ns string) ([]string, error) {
	ref, ok := parseServiceRef(hostport, ns)
	if !ok {
		return nil, fmt.Errorf("%q does not name a Service", hostport)
	}
	svc, sp, ok := resolveService(cl.objs, ref)
	if !ok {
		return nil, fmt.Errorf("no Service for %s", hostport)
	}
	target := sp.TargetPort.String()
	if target == "0" || target == "" {
		target = strconv.Itoa(int(sp.Port))
	}
	var out []string
	for _, w := range selected(cl.objs, svc.Namespace, svc.Spec.Selector) {
		for _, p := range cl.podsOf(w.Name) {
			for _, c := range allContainers(&w.Template.Spec) {
				if h, err := cl.hostPort(c, target, sp.Protocol); err == nil {
					out = append(out, net.JoinHostPort(p.IP, strconv.Itoa(h)))
					break
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("Service %s reaches no planned pod", svc.Name)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		out = out[:1] // a virtual IP: the connection lands on one pod
	}
	return out, nil
}

// volumePath maps an absolute path in container c of pod p to the pod's
// folder: claims and emptyDirs are folders, ConfigMaps are written out.
func (cl *cluster) volumePath(p *pod, c *corev1.Container, path string) (string, error) {
	m, rel, ok := mountFor(c, path)
	if !ok {
		return "", fmt.Errorf("%s is on no volume", path)
	}
	dir := filepath.Join(p.Dir, m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if v, ok := volumeNamed(&p.W.Template.Spec, m.Name); ok && v.Secret != nil {
		if err := cl.writeSecret(dir, &p.W.Template.Spec, v.Secret); err != nil {
			return "", err
		}
	}
	if v, ok := volumeNamed(&p.W.Template.Spec, m.Name); ok && v.ConfigMap != nil {
		cm, ok := find[*corev1.ConfigMap](cl.objs, v.ConfigMap.Name)
		if !ok {
			return "", fmt.Errorf("no ConfigMap %s", v.ConfigMap.Name)
		}
		for k, data := range cm.Data {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(data), 0o644); err != nil {
				return "", err
			}
		}
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), nil
}

// writeSecret writes a Secret volume's files into dir as the kubelet
// does: the items (or every key), each with its item's mode or the
// volume's defaultMode (the API server's default, 0644, when unset), and
// group read on top when the pod has an fsGroup, whatever the mode says
// (kubernetes/kubernetes#57923); the group is the test's, which the
// processes share, as they share the pod's fsGroup.
func (cl *cluster) writeSecret(dir string, spec *corev1.PodSpec, v *corev1.SecretVolumeSource) error {
	data, ok := cl.secrets[v.SecretName]
	if !ok {
		return fmt.Errorf("no Secret %s in the cluster", v.SecretName)
	}
	mode := int32(0o644)
	if v.DefaultMode != nil {
		mode = *v.DefaultMode
	}
	files := map[string]int32{}
	keys := map[string]string{}
	if len(v.Items) == 0 {
		for k := range data {
			files[k], keys[k] = mode, k
		}
	}
	for _, it := range v.Items {
		files[it.Path], keys[it.Path] = mode, it.Key
		if it.Mode != nil {
			files[it.Path] = *it.Mode
		}
	}
	for path, m := range files {
		b, ok := data[keys[path]]
		if !ok {
			return fmt.Errorf("Secret %s has no key %s", v.SecretName, keys[path])
		}
		f := filepath.Join(dir, path)
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return err
		}
		if spec.SecurityContext != nil && spec.SecurityContext.FSGroup != nil {
			m |= 0o440
		}
		if err := os.Chmod(f, os.FileMode(m)); err != nil {
			return err
		}
	}
	return nil
}

// args translates the manifest's args of container c in pod p. extra is
// appended.
func (cl *cluster) args(p *pod, c *corev1.Container, extra ...string) ([]string, error) {
	parsed, err := parseArgs(c.Args)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range parsed {
		v := expandEnv(p, c, a.Value)
		host, port, splitErr := net.SplitHostPort(v)
		switch {
		case splitErr == nil && cl.podNamed(host) != nil:
			// A StatefulSet pod's own name under its headless Service.
			v, err = cl.podAddr(host, port)
		case a.Name == "nats-url":
			v, err = cl.natsURLs(p, v)
		case splitErr == nil && host == "0.0.0.0":
			pn, _ := strconv.Atoi(port)
			v = net.JoinHostPort(p.IP, strconv.Itoa(cl.ports[int32(pn)]))
		case strings.HasPrefix(v, "/"):
			v, err = cl.volumePath(p, c, v)
		case a.Name == "storage" || a.Name == "collector":
			var all []string
			for _, hp := range strings.Split(v, ",") {
				addrs, e := cl.serviceAddrs(hp, p.W.Namespace)
				if e != nil {
					err = e
				}
				all = append(all, addrs...)
			}
			v = strings.Join(all, ",")
		case a.Name == "sampling-url":
			u, e := url.Parse(v)
			if e != nil {
				return nil, e
			}
			addrs, e := cl.serviceAddrs(u.Host, p.W.Namespace)
			if e != nil {
				return nil, e
			}
			u.Host = addrs[0]
			v = u.String()
		}
		if err != nil {
			return nil, fmt.Errorf("--%s=%s: %w", a.Name, a.Value, err)
		}
		out = append(out, "--"+a.Name+"="+v)
	}
	return append(out, extra...), nil
}

// expandEnv expands $(NAME) in an argument as the kubelet does, from the
// container's environment: values, and the downward API's metadata.name
// (the pod's name).
func expandEnv(p *pod, c *corev1.Container, v string) string {
	for _, e := range c.Env {
		val := e.Value
		if f := e.ValueFrom; f != nil && f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.name" {
			val = p.String()
		} else if e.ValueFrom != nil {
			continue
		}
		v = strings.ReplaceAll(v, "$("+e.Name+")", val)
	}
	return v
}

// podNamed returns the planned StatefulSet pod that host names as
// <pod>.<service>.<namespace>.svc[.cluster.local], where service is the
// StatefulSet's serviceName, or nil.
func (cl *cluster) podNamed(host string) *pod {
	parts := strings.Split(strings.TrimSuffix(strings.TrimSuffix(host, "."), ".cluster.local"), ".")
	if len(parts) != 4 || parts[3] != "svc" {
		return nil
	}
	for _, p := range cl.pods {
		ss, ok := p.W.Obj.(*appsv1.StatefulSet)
		if ok && p.String() == parts[0] && ss.Spec.ServiceName == parts[1] && p.W.Namespace == parts[2] {
			return p
		}
	}
	return nil
}

// podAddr is what a pod's DNS name and a container port come to: the pod's
// address and H(port).
func (cl *cluster) podAddr(host, port string) (string, error) {
	p := cl.podNamed(host)
	pn, _ := strconv.Atoi(port)
	h, ok := cl.ports[int32(pn)]
	if p == nil || !ok {
		return "", fmt.Errorf("%s:%s is no port of a planned pod", host, port)
	}
	return net.JoinHostPort(p.IP, strconv.Itoa(h)), nil
}

// natsURLs translates nats://<Service>:<port>[,...] (--nats-url) to the
// addresses the Services reach.
func (cl *cluster) natsURLs(p *pod, v string) (string, error) {
	var out []string
	for _, raw := range strings.Split(v, ",") {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "nats" {
			return "", fmt.Errorf("%q is not nats://host:port", raw)
		}
		addrs, err := cl.serviceAddrs(u.Host, p.W.Namespace)
		if err != nil {
			return "", err
		}
		for _, a := range addrs {
			out = append(out, "nats://"+a)
		}
	}
	return strings.Join(out, ","), nil
}

// endpointFor translates a URL from a container's environment (such as
// OTEL_EXPORTER_OTLP_ENDPOINT) as pod p would resolve it: localhost is the
// pod itself, a Service name one of the pods behind it.
func (cl *cluster) endpointFor(p *pod, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", err
	}
	if host == "localhost" || host == "127.0.0.1" {
		pn, _ := strconv.Atoi(port)
		h, ok := cl.ports[int32(pn)]
		if !ok {
			return "", fmt.Errorf("%s: no container of the pod listens on %s", raw, port)
		}
		u.Host = net.JoinHostPort(p.IP, strconv.Itoa(h))
		return u.String(), nil
	}
	addrs, err := cl.serviceAddrs(u.Host, p.W.Namespace)
	if err != nil {
		return "", err
	}
	u.Host = addrs[0]
	return u.String(), nil
}

// start runs the Scry container of pod p running bin with its translated
// args and waits until its readiness probe answers 200.
func (cl *cluster) start(p *pod, bin string, extra ...string) (*testbin.Proc, error) {
	cl.t.Helper()
	c := scryContainer(p.W, bin)
	if c == nil {
		return nil, fmt.Errorf("%s runs no %s", p.W, bin)
	}
	args, err := cl.args(p, c, extra...)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", p, c.Name, err)
	}
	rp := c.ReadinessProbe
	if rp == nil || rp.HTTPGet == nil {
		return nil, fmt.Errorf("%s/%s: no HTTP readiness probe", p, c.Name)
	}
	h, err := cl.hostPort(c, rp.HTTPGet.Port.String(), corev1.ProtocolTCP)
	if err != nil {
		return nil, err
	}
	scheme, readyTLS := "http", (*tls.Config)(nil)
	if rp.HTTPGet.Scheme == corev1.URISchemeHTTPS {
		// As the kubelet: TLS without checking the certificate.
		scheme, readyTLS = "https", &tls.Config{InsecureSkipVerify: true}
	}
	pr, err := testbin.Cmd{
		Bin: binary(cl.t, bin), Args: args, Name: p.String() + "/" + c.Name,
		Ready:        scheme + "://" + net.JoinHostPort(p.IP, strconv.Itoa(h)) + rp.HTTPGet.Path,
		ReadyTLS:     readyTLS,
		ReadyTimeout: readyTimeout,
		// Neither the test's OpenTelemetry settings nor its memory limit.
		DropEnv: []string{"OTEL_", "GOMEMLIMIT="},
	}.Start()
	if err != nil {
		return nil, err
	}
	cl.procs = append(cl.procs, pr)
	if err := pr.WaitReady(); err != nil {
		return nil, err
	}
	return pr, nil
}

// stop stops every process (SIGTERM, in reverse start order) and reports
// any that did not exit cleanly; on a failed test it logs their output.
func (cl *cluster) stop() {
	for i := len(cl.procs) - 1; i >= 0; i-- {
		p := cl.procs[i]
		if err := p.Stop(); err != nil {
			cl.t.Errorf("%s did not stop cleanly: %v", p.Name, err)
		}
	}
	if cl.t.Failed() {
		for _, p := range cl.procs {
			cl.t.Logf("output of %s %s:\n%s", p.Name, strings.Join(p.Args, " "), p.Output())
		}
	}
	cl.procs = nil
}

// runTopology builds a cluster with newCluster and calls start with it,
// again with new ports when start fails with testbin.ErrPortTaken; the processes
// are stopped when the test ends.
func runTopology(t *testing.T, objs []object, plan map[string][]string, start func(*cluster) error) *cluster {
	t.Helper()
	for _, ips := range plan {
		for _, ip := range ips {
			ln, err := net.Listen("tcp", ip+":0")
			if err != nil {
				t.Skipf("cannot listen on %s (%v): this test needs the loopback range 127.0.0.0/8, as Linux has it", ip, err)
			}
			ln.Close()
		}
	}
	for attempt := 1; ; attempt++ {
		cl := newCluster(t, objs, plan)
		cl.pickPorts()
		err := start(cl)
		if err == nil {
			t.Cleanup(cl.stop)
			return cl
		}
		cl.stop()
		if attempt < testbin.StartRetries && errors.Is(err, testbin.ErrPortTaken) {
			t.Logf("starting again: %v", err)
			continue
		}
		t.Fatal(err)
	}
}
