package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scrytrace/scry/internal/testbin"
)

const module = "github.com/scrytrace/scry"

// backends are the storage packages that are a store, as against the
// interfaces in storage itself and the storagetest suite.
var backends = []string{"storage/badger", "storage/memory", "storage/remote"}

// layers are the parts the UI package must not reach.
var layers = []string{"agent", "collector", "query", "storage"}

// A rule forbids the packages under from (each path and its sub-packages,
// relative to the module) to link, directly or through other packages,
// any package that forbids reports.
type rule struct {
	name    string
	from    []string
	forbids func(pkg string) bool
}

var rules = []rule{
	{
		name:    "model imports no Scry package outside model",
		from:    []string{"model"},
		forbids: func(p string) bool { return !under(p, "model") },
	},
	{
		name:    "query imports no storage backend",
		from:    []string{"query"},
		forbids: underAny(backends...),
	},
	{
		name:    "the agent links no storage backend and nothing under ui",
		from:    []string{"agent", "cmd/scry-agent"},
		forbids: underAny(append(slices.Clone(backends), "ui")...),
	},
	{
		name:    "collector does not import query",
		from:    []string{"collector"},
		forbids: underAny("query"),
	},
	{
		name:    "ui imports none of agent, collector, query, storage",
		from:    []string{"ui"},
		forbids: underAny(layers...),
	},
}

// An allowance lets one direct import break a rule for now. Each says why
// and what removes it; the test fails once the import is gone, so the entry
// is deleted with the fix.
type allowance struct {
	rule, from, to string
}

// allowed is empty: no import breaks a rule today.
var allowed []allowance

func TestImportRules(t *testing.T) {
	g, err := loadGraph()
	if err != nil {
		t.Fatal(err)
	}
	violations, unused := check(g, rules, allowed)
	for _, v := range violations {
		t.Error(v)
	}
	for _, a := range unused {
		t.Errorf("allow-list entry %s imports %s (rule: %s) is no longer needed: delete it from allowed", a.from, a.to, a.rule)
	}
}

// TestCheckNamesTheChain checks the check itself on a made-up tree: a
// rule broken through two packages names both files, and an allowance for
// an import that no longer exists is reported.
func TestCheckNamesTheChain(t *testing.T) {
	g := graph{
		"agent":           {imports: []string{"internal/wiring"}, files: map[string]string{"internal/wiring": "agent/forward.go"}},
		"internal/wiring": {imports: []string{"storage/badger"}, files: map[string]string{"storage/badger": "internal/wiring/store.go"}},
		"storage/badger":  {},
		"query":           {imports: []string{"storage/remote"}, files: map[string]string{"storage/remote": "query/handler.go"}},
		"storage/remote":  {},
	}
	rs := []rule{
		{name: "the agent links no storage backend", from: []string{"agent"}, forbids: underAny(backends...)},
		{name: "query imports no storage backend", from: []string{"query"}, forbids: underAny(backends...)},
	}
	stale := allowance{rule: "the agent links no storage backend", from: "agent", to: "storage/memory"}
	violations, unused := check(g, rs, []allowance{stale})
	want := []string{
		"agent imports storage/badger via agent/forward.go → internal/wiring/store.go: rule: the agent links no storage backend",
		"query imports storage/remote via query/handler.go: rule: query imports no storage backend",
	}
	if !slices.Equal(violations, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(violations, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(unused, []allowance{stale}) {
		t.Errorf("unused allowances = %v, want %v", unused, []allowance{stale})
	}

	// With the query import allowed, it is no longer reported, nor is what
	// lies behind it, and the allowance counts as used.
	ok := allowance{rule: "query imports no storage backend", from: "query", to: "storage/remote"}
	violations, unused = check(g, rs, []allowance{ok})
	if !slices.Equal(violations, want[:1]) || len(unused) != 0 {
		t.Errorf("with an allowance: violations %q, unused %v; want %q and none", violations, unused, want[:1])
	}
}

// check walks every rule from its packages and returns one message per
// forbidden package reached (by a shortest chain), and the allowances no
// rule needed.
func check(g graph, rs []rule, allow []allowance) (violations []string, unused []allowance) {
	used := make([]bool, len(allow))
	for _, r := range rs {
		var roots []string
		for p := range g {
			if slices.ContainsFunc(r.from, func(f string) bool { return under(p, f) }) {
				roots = append(roots, p)
			}
		}
		slices.Sort(roots)
		// Breadth first from all roots at once; prev records the chain.
		prev := map[string]string{}
		seen := map[string]bool{}
		for _, p := range roots {
			seen[p] = true
		}
		queue := slices.Clone(roots)
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, q := range g[p].imports {
				if i := slices.Index(allow, allowance{rule: r.name, from: p, to: q}); i >= 0 {
					used[i] = true
					continue
				}
				if seen[q] {
					continue
				}
				seen[q] = true
				prev[q] = p
				if r.forbids(q) {
					violations = append(violations, describe(g, prev, q, r.name))
					continue // what lies behind it is the same break
				}
				queue = append(queue, q)
			}
		}
	}
	for i, a := range allow {
		if !used[i] {
			unused = append(unused, a)
		}
	}
	return violations, unused
}

// describe names the chain that reached target: the root, and the file of
// each package on the way that imports the next.
func describe(g graph, prev map[string]string, target, ruleName string) string {
	var files []string
	root := target
	for {
		p, ok := prev[root]
		if !ok {
			break
		}
		files = append(files, g[p].files[root])
		root = p
	}
	slices.Reverse(files)
	return fmt.Sprintf("%s imports %s via %s: rule: %s", root, target, strings.Join(files, " → "), ruleName)
}

// graph is the module's packages by path relative to the module, with
// their imports of other module packages from non-test files.
type graph map[string]pkgInfo

type pkgInfo struct {
	imports []string          // module packages, sorted
	files   map[string]string // import → the first file (relative to the module) that has it
}

// loadGraph lists the module's packages with `go list -json` and finds
// which file makes each import.
func loadGraph() (graph, error) {
	root, err := testbin.ModuleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.Bytes())
	}
	type listed struct {
		ImportPath        string
		Dir               string
		GoFiles, CgoFiles []string
		Imports           []string
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var lp listed
		if err := dec.Decode(&lp); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("cannot read go list output: %w", err)
		}
		info := pkgInfo{files: map[string]string{}}
		for _, imp := range lp.Imports {
			if rel, ok := inModule(imp); ok {
				info.imports = append(info.imports, rel)
			}
		}
		slices.Sort(info.imports)
		if err := findFiles(root, lp.Dir, append(lp.GoFiles, lp.CgoFiles...), &info); err != nil {
			return nil, err
		}
		rel, _ := inModule(lp.ImportPath)
		g[rel] = info
	}
	if len(g) == 0 {
		return nil, errors.New("go list found no packages")
	}
	return g, nil
}

// findFiles fills info.files from the import lines of files in dir.
func findFiles(root, dir string, files []string, info *pkgInfo) error {
	slices.Sort(files)
	fset := token.NewFileSet()
	for _, name := range files {
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("cannot read imports: %w", err)
		}
		relFile, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: bad import %s", relFile, spec.Path.Value)
			}
			if rel, ok := inModule(imp); ok {
				if _, seen := info.files[rel]; !seen {
					info.files[rel] = filepath.ToSlash(relFile)
				}
			}
		}
	}
	return nil
}

// inModule returns path relative to the module, and whether it is in it.
func inModule(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// under reports whether pkg is dir or a package below it.
func under(pkg, dir string) bool {
	return pkg == dir || strings.HasPrefix(pkg, dir+"/")
}

func underAny(dirs ...string) func(string) bool {
	return func(p string) bool {
		return slices.ContainsFunc(dirs, func(d string) bool { return under(p, d) })
	}
}
