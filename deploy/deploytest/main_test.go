package deploytest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/scrytrace/scry/internal/testbin"
)

// The Scry binaries that images and manifests run.
var scryBinaries = []string{"scry", "scry-collector", "scry-ingester", "scry-query", "scry-agent"}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// repoRoot returns the module root (the folder of go.mod).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// binary builds ./cmd/<name> once per test run and returns its path; a
// binary that fails to build fails the test.
func binary(t testing.TB, name string) string {
	t.Helper()
	return testbin.Build(t, "./cmd/"+name)
}

// flagInfo is one flag in a binary's --help.
type flagInfo struct {
	Name, Type, Default string
}

var (
	helpMu sync.Mutex
	helps  = map[string]map[string]flagInfo{}
)

// helpLine matches a flag line of cobra's --help, such as
//
//	-v, --version                     version for scry
//	    --data-dir string             folder for the Badger store (default "scry-data")
var helpLine = regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9][a-z0-9.-]*)(?: (\w+))?\s{2,}(.*)$`)
var helpDefault = regexp.MustCompile(`\(default (.*)\)$`)

// flagsOf returns the flags that `<binary> --help` lists, by name.
func flagsOf(t testing.TB, name string) map[string]flagInfo {
	t.Helper()
	bin := binary(t, name)
	helpMu.Lock()
	defer helpMu.Unlock()
	if f, ok := helps[name]; ok {
		return f
	}
	out, err := exec.Command(bin, "--help").Output()
	if err != nil {
		t.Fatalf("%s --help: %v", name, err)
	}
	flags := map[string]flagInfo{}
	for _, line := range strings.Split(string(out), "\n") {
		m := helpLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fi := flagInfo{Name: m[1], Type: m[2]}
		if d := helpDefault.FindStringSubmatch(m[3]); d != nil {
			fi.Default = strings.Trim(d[1], `"`)
		}
		flags[fi.Name] = fi
	}
	if len(flags) < 3 {
		t.Fatalf("%s --help lists %d flags; cannot read it:\n%s", name, len(flags), out)
	}
	helps[name] = flags
	return flags
}

// listenerFlags are the flags of a binary that take a listen address: those
// ending in -addr whose default is a loopback address.
func listenerFlags(flags map[string]flagInfo) []string {
	var out []string
	for name, f := range flags {
		if strings.HasSuffix(name, "-addr") && strings.HasPrefix(f.Default, "127.0.0.1:") {
			out = append(out, name)
		}
	}
	return out
}
