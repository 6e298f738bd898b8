package testbin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BuildTimeout bounds one `go build`.
const BuildTimeout = 5 * time.Minute

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error

	buildMu sync.Mutex
	binDir  string // where binaries are built; removed by Cleanup
	built   = map[string]buildResult{}
)

type buildResult struct {
	path string
	err  error
}

// ModuleRoot returns the folder of the module's go.mod.
func ModuleRoot() (string, error) {
	rootOnce.Do(func() {
		b, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			rootErr = fmt.Errorf("cannot find the module root: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(b))
		if gomod == "" || gomod == os.DevNull {
			rootErr = errors.New("cannot find the module root: not inside a module")
			return
		}
		rootDir = filepath.Dir(gomod)
	})
	return rootDir, rootErr
}

// Build builds the main package pkg (a path relative to the module root,
// such as "./cmd/scry") with `go build` once per test process and returns
// the binary's path, logging how long the build took. A failed build fails
// the test (and every later one that asks for pkg).
func Build(t testing.TB, pkg string) string {
	t.Helper()
	path, took, err := build(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if took > 0 {
		t.Logf("built %s in %s", pkg, took.Round(time.Millisecond))
	}
	return path
}

// TryBuild is Build for code without a test at hand: it returns the error
// and how long the build took (0 when pkg was built before).
func TryBuild(pkg string) (path string, took time.Duration, err error) {
	return build(pkg)
}

func build(pkg string) (string, time.Duration, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if r, ok := built[pkg]; ok {
		return r.path, 0, r.err
	}
	st := time.Now()
	r := doBuild(pkg)
	built[pkg] = r
	return r.path, time.Since(st), r.err
}

func doBuild(pkg string) buildResult {
	root, err := ModuleRoot()
	if err != nil {
		return buildResult{err: err}
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "scry-testbin-")
		if err != nil {
			return buildResult{err: fmt.Errorf("cannot create binary folder: %w", err)}
		}
		binDir = dir
	}
	out := filepath.Join(binDir, filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return buildResult{err: fmt.Errorf("cannot build %s: %v\n%s", pkg, err, b)}
	}
	return buildResult{path: out}
}

// Cleanup removes the binaries built so far. Call it from TestMain after
// m.Run.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if binDir != "" {
		os.RemoveAll(binDir)
		binDir = ""
		built = map[string]buildResult{}
	}
}
