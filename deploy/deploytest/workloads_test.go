package deploytest

// Views of rendered objects that the checks share: workloads and their pod
// templates, Services and what they select, Scry containers and their
// arguments.

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// workload is an object that runs pods.
type workload struct {
	object
	Template *corev1.PodTemplateSpec
	Selector *metav1.LabelSelector
	Replicas int32                          // 1 for a DaemonSet
	Claims   []corev1.PersistentVolumeClaim // a StatefulSet's volumeClaimTemplates
}

func workloadsOf(objs []object) []workload {
	var out []workload
	for _, o := range objs {
		switch x := o.Obj.(type) {
		case *appsv1.StatefulSet:
			out = append(out, workload{object: o, Template: &x.Spec.Template, Selector: x.Spec.Selector, Replicas: replicas(x.Spec.Replicas), Claims: x.Spec.VolumeClaimTemplates})
		case *appsv1.Deployment:
			out = append(out, workload{object: o, Template: &x.Spec.Template, Selector: x.Spec.Selector, Replicas: replicas(x.Spec.Replicas)})
		case *appsv1.DaemonSet:
			out = append(out, workload{object: o, Template: &x.Spec.Template, Selector: x.Spec.Selector, Replicas: 1})
		}
	}
	return out
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// allContainers returns the init containers and containers of a pod.
func allContainers(spec *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range spec.InitContainers {
		out = append(out, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		out = append(out, &spec.Containers[i])
	}
	return out
}

func servicesOf(objs []object) []*corev1.Service {
	var out []*corev1.Service
	for _, o := range objs {
		if s, ok := o.Obj.(*corev1.Service); ok {
			out = append(out, s)
		}
	}
	return out
}

func find[T any](objs []object, name string) (T, bool) {
	var zero T
	for _, o := range objs {
		if x, ok := o.Obj.(T); ok && o.Name == name {
			return x, true
		}
	}
	return zero, false
}

// selected returns the workloads of objs in namespace ns whose pods a
// Service's selector selects.
func selected(objs []object, ns string, selector map[string]string) []workload {
	if len(selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(selector)
	var out []workload
	for _, w := range workloadsOf(objs) {
		if w.Namespace == ns && sel.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// containerPort finds the port of c that a Service's or probe's target
// names (by name or number), with the given protocol.
func containerPort(c *corev1.Container, target string, proto corev1.Protocol) (corev1.ContainerPort, bool) {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, p := range c.Ports {
		pp := p.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if pp != proto {
			continue
		}
		if p.Name == target || strconv.Itoa(int(p.ContainerPort)) == target {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

// scryBinary returns the Scry binary a container runs (from its image
// <registry>/<binary>:<tag>), or "".
func scryBinary(c *corev1.Container) string {
	repo := c.Image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	b := path.Base(repo)
	for _, s := range scryBinaries {
		if s == b {
			return b
		}
	}
	return ""
}

// arg is one --name=value argument.
type arg struct{ Name, Value string }

// parseArgs reads a Scry container's args, which must all be --name=value
// (one form, so that every check and reader sees the same thing).
func parseArgs(args []string) ([]arg, error) {
	var out []arg
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok || name == "" {
			return nil, fmt.Errorf("argument %q: want --name=value", a)
		}
		out = append(out, arg{name, value})
	}
	return out, nil
}

func argValue(args []arg, name string) (string, bool) {
	for _, a := range args {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// serviceRef is a host:port that names a Service, in any of the DNS forms
// a pod can use: name, name.ns, name.ns.svc, name.ns.svc.cluster.local.
type serviceRef struct {
	Name, Namespace string
	Port            int
}

// parseServiceRef reads host:port as a Service reference; ns is the
// namespace of the pod that uses it (for the short forms).
func parseServiceRef(hostport, ns string) (serviceRef, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || net.ParseIP(host) != nil {
		return serviceRef{}, false
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return serviceRef{}, false
	}
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	switch {
	case len(parts) == 1:
		return serviceRef{parts[0], ns, p}, true
	case len(parts) == 2, len(parts) == 3 && parts[2] == "svc",
		len(parts) == 5 && parts[2] == "svc" && parts[3] == "cluster" && parts[4] == "local":
		return serviceRef{parts[0], parts[1], p}, true
	}
	return serviceRef{}, false
}

// resolveService finds the Service a reference names, and its port.
func resolveService(objs []object, ref serviceRef) (*corev1.Service, *corev1.ServicePort, bool) {
	for _, o := range objs {
		s, ok := o.Obj.(*corev1.Service)
		if !ok || s.Name != ref.Name || s.Namespace != ref.Namespace {
			continue
		}
		for i := range s.Spec.Ports {
			if int(s.Spec.Ports[i].Port) == ref.Port {
				return s, &s.Spec.Ports[i], true
			}
		}
		return s, nil, false
	}
	return nil, nil, false
}

// mountFor returns the volume mount of c under which the absolute path p
// lies, and p relative to it.
func mountFor(c *corev1.Container, p string) (corev1.VolumeMount, string, bool) {
	var best corev1.VolumeMount
	found := false
	for _, m := range c.VolumeMounts {
		mp := strings.TrimSuffix(m.MountPath, "/")
		if (p == mp || strings.HasPrefix(p, mp+"/")) && len(mp) >= len(best.MountPath) {
			best, found = m, true
		}
	}
	if !found {
		return best, "", false
	}
	return best, strings.TrimPrefix(strings.TrimPrefix(p, strings.TrimSuffix(best.MountPath, "/")), "/"), true
}

func volumeNamed(spec *corev1.PodSpec, name string) (corev1.Volume, bool) {
	for _, v := range spec.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return corev1.Volume{}, false
}

func envValue(c *corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}
