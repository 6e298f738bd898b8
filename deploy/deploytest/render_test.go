package deploytest

// Rendering: kustomize overlays with kustomize's library, the chart with
// Helm's engine, both into strictly decoded Kubernetes objects.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	Kind, Name, Namespace string
	Source                string // where it was rendered from, for messages
	Obj                   any    // *appsv1.StatefulSet, *corev1.Service, ...
}

func (o object) String() string { return o.Kind + "/" + o.Name }

// apiTypes are the kinds the manifests may contain, by apiVersion and kind.
// Anything else fails the test: it has not been checked.
var apiTypes = map[string]func() any{
	"v1/Namespace":                  func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":                  func() any { return new(corev1.ConfigMap) },
	"v1/Service":                    func() any { return new(corev1.Service) },
	"apps/v1/StatefulSet":           func() any { return new(appsv1.StatefulSet) },
	"apps/v1/Deployment":            func() any { return new(appsv1.Deployment) },
	"apps/v1/DaemonSet":             func() any { return new(appsv1.DaemonSet) },
	"policy/v1/PodDisruptionBudget": func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/Ingress":  func() any { return new(networkingv1.Ingress) },
}

// decodeObjects splits a multi-document YAML stream and decodes each
// document strictly, failing the test on any error of tryDecodeObjects.
func decodeObjects(t testing.TB, source string, data []byte) []object {
	t.Helper()
	objs, err := tryDecodeObjects(source, data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// tryDecodeObjects decodes each document of a YAML stream into its API
// type: an unknown field, a field spelled in another case, a duplicate
// field, a value of the wrong type or a kind not in apiTypes is an error.
func tryDecodeObjects(source string, data []byte) ([]object, error) {
	var out []object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: cannot split YAML: %w", source, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: invalid YAML: %w\n%s", source, err, doc)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		newObj, ok := apiTypes[meta.APIVersion+"/"+meta.Kind]
		if !ok {
			return nil, fmt.Errorf("%s: %s %s/%s: not a kind this test knows (add it to apiTypes)", source, meta.APIVersion, meta.Kind, meta.Metadata.Name)
		}
		obj := newObj()
		strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, fmt.Errorf("%s: %s/%s: %w", source, meta.Kind, meta.Metadata.Name, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("%s: %s/%s does not decode strictly into %T: %w", source, meta.Kind, meta.Metadata.Name, obj, errors.Join(strict...))
		}
		if meta.Metadata.Name == "" {
			return nil, fmt.Errorf("%s: a %s without a name", source, meta.Kind)
		}
		out = append(out, object{Kind: meta.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, Source: source, Obj: obj})
	}
	return out, nil
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func kubernetesDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "deploy", "kubernetes")
}

// overlays lists the folders under deploy/kubernetes/overlays.
func overlays(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(kubernetesDir(t), "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no overlays under deploy/kubernetes/overlays")
	}
	return out
}

// renderOverlay runs kustomize build on deploy/kubernetes/overlays/<name>.
func renderOverlay(t testing.TB, name string) []object {
	t.Helper()
	return renderKustomization(t, filesys.MakeFsOnDisk(), filepath.Join(kubernetesDir(t), "overlays", name), "overlay "+name)
}

// renderWithComponent builds an overlay with one of the components that
// its kustomization.yaml lists commented out (under "# components:", as
// "#   - ../../components/<name>") turned on, the others left out, as its comment tells a user
// to do, in a copy of deploy/kubernetes in memory.
func renderWithComponent(t testing.TB, overlay, component string) []object {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	src := kubernetesDir(t)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join("/k", rel), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	kpath := filepath.Join("/k/overlays", overlay, "kustomization.yaml")
	k, err := mem.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	entry := "\n#   - ../../components/" + component + "\n"
	if !strings.Contains(string(k), "\n# components:\n") || !strings.Contains(string(k), entry) {
		t.Fatalf("overlays/%s/kustomization.yaml does not offer component %s as a commented %q under \"# components:\"", overlay, component, entry)
	}
	on := strings.Replace(string(k), "\n# components:\n", "\ncomponents:\n", 1)
	on = strings.Replace(on, entry, "\n  - ../../components/"+component+"\n", 1)
	if err := mem.WriteFile(kpath, []byte(on)); err != nil {
		t.Fatal(err)
	}
	return renderKustomization(t, mem, filepath.Join("/k/overlays", overlay), fmt.Sprintf("overlay %s + component %s", overlay, component))
}

func renderKustomization(t testing.TB, fsys filesys.FileSystem, dir, source string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", source, err)
	}
	b, err := m.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", source, err)
	}
	return decodeObjects(t, source, b)
}

func chartDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "deploy", "helm", "scry")
}

// helmRelease is the release the chart is rendered as: name and namespace
// as in the kustomize overlays, so that the two can be compared.
var helmRelease = chartutil.ReleaseOptions{Name: "scry", Namespace: "scry", Revision: 1, IsInstall: true}

// renderChart renders the chart as `helm template scry deploy/helm/scry -n
// scry -f values` would, in strict mode (a missing value is an error), and
// returns the objects and the NOTES.txt text.
func renderChart(t testing.TB, values string) ([]object, string) {
	t.Helper()
	objs, notes, err := tryRenderChart(t, values)
	if err != nil {
		t.Fatal(err)
	}
	return objs, notes
}

func tryRenderChart(t testing.TB, values string) ([]object, string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir(t))
	if err != nil {
		return nil, "", fmt.Errorf("cannot load the chart: %w", err)
	}
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		return nil, "", fmt.Errorf("values %q: %w", values, err)
	}
	rv, err := chartutil.ToRenderValues(ch, vals, helmRelease, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, "", fmt.Errorf("values %q: %w", values, err)
	}
	files, err := engine.Engine{Strict: true}.Render(ch, rv)
	if err != nil {
		return nil, "", fmt.Errorf("helm template with %q: %w", values, err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []object
	var notes string
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, "NOTES.txt"):
			notes = files[n]
		case strings.HasSuffix(n, ".yaml"):
			objs = append(objs, decodeObjects(t, fmt.Sprintf("chart %s with %q", n, values), []byte(files[n]))...)
		}
	}
	return objs, notes, nil
}

// TestDecodeIsStrict: the decoder that every check relies on refuses what
// the API server would refuse or silently drop.
func TestDecodeIsStrict(t *testing.T) {
	t.Parallel()
	good := "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - port: 80\n      targetPort: http\n"
	if objs, err := tryDecodeObjects("good", []byte(good)); err != nil || len(objs) != 1 {
		t.Fatalf("a valid Service: %v %v", objs, err)
	}
	for name, doc := range map[string]string{
		"unknown field":     "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  prots: []\n",
		"wrong case":        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - Port: 80\n",
		"duplicate field":   "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  name: t\n",
		"wrong type":        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - port: eighty\n",
		"unknown kind":      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n",
		"wrong api version": "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata:\n  name: s\n",
		"no name":           "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
	} {
		if _, err := tryDecodeObjects(name, []byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
