package deploytest

// The Dockerfile, read without Docker: every instruction well formed, every
// source it copies present in the repository and not left out of the build
// context, one image per binary built the way the project builds releases.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Line  int
	Cmd   string   // upper case
	Flags []string // leading --name=value
	Args  string   // the rest
}

// stage is a FROM and what follows it.
type stage struct {
	Name, Base string
	Index      int
	Instrs     []instruction
}

type dockerfile struct {
	Args   map[string]string // ARGs before the first FROM, with defaults
	Stages []*stage
}

var knownInstructions = []string{"FROM", "ARG", "ENV", "WORKDIR", "COPY", "RUN", "LABEL", "EXPOSE", "USER", "ENTRYPOINT", "CMD", "VOLUME", "HEALTHCHECK", "STOPSIGNAL", "SHELL", "ADD"}

// parseDockerfile reads a Dockerfile's instructions (comments and parser
// directives skipped, backslash continuations joined).
func parseDockerfile(text string) (*dockerfile, error) {
	df := &dockerfile{Args: map[string]string{}}
	lines := strings.Split(text, "\n")
	var cur *stage
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				continue
			}
			line = strings.TrimSuffix(line, "\\") + " " + next
		}
		if strings.HasSuffix(line, "\\") {
			return nil, fmt.Errorf("line %d: continuation at the end of the file", start)
		}
		cmd, rest, _ := strings.Cut(line, " ")
		in := instruction{Line: start, Cmd: strings.ToUpper(cmd)}
		if cmd != in.Cmd {
			return nil, fmt.Errorf("line %d: instruction %q: write instructions in upper case", start, cmd)
		}
		if !slices.Contains(knownInstructions, in.Cmd) {
			return nil, fmt.Errorf("line %d: unknown instruction %q", start, cmd)
		}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			flag, after, _ := strings.Cut(rest, " ")
			if !regexp.MustCompile(`^--[a-z]+(=\S+)?$`).MatchString(flag) {
				return nil, fmt.Errorf("line %d: malformed flag %q", start, flag)
			}
			in.Flags = append(in.Flags, flag)
			rest = strings.TrimSpace(after)
		}
		in.Args = rest
		if in.Args == "" {
			return nil, fmt.Errorf("line %d: %s without arguments", start, in.Cmd)
		}
		switch in.Cmd {
		case "FROM":
			f := strings.Fields(in.Args)
			st := &stage{Base: f[0], Index: len(df.Stages)}
			switch {
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.Name = f[2]
			case len(f) != 1:
				return nil, fmt.Errorf("line %d: FROM %s: want FROM [--platform=...] <image> [AS <name>]", start, in.Args)
			}
			for _, s := range df.Stages {
				if st.Name != "" && s.Name == st.Name {
					return nil, fmt.Errorf("line %d: stage %s twice", start, st.Name)
				}
			}
			cur = st
			df.Stages = append(df.Stages, st)
			continue
		case "ARG":
			if cur == nil {
				name, def, _ := strings.Cut(in.Args, "=")
				df.Args[name] = def
				continue
			}
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: %s before the first FROM", start, in.Cmd)
		}
		cur.Instrs = append(cur.Instrs, in)
	}
	if len(df.Stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return df, nil
}

func (df *dockerfile) stage(name string) *stage {
	for _, s := range df.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// expand substitutes ${NAME} and $NAME from the ARGs before the first FROM.
func (df *dockerfile) expand(s string) string {
	return regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`).ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := df.Args[name]; ok {
			return v
		}
		return m
	})
}

func flagValue(flags []string, name string) (string, bool) {
	for _, f := range flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// ignoreMatcher follows .dockerignore: patterns with *, ** and ?, matched
// against a path and its parents; a later pattern wins, ! re-includes.
type ignoreMatcher []struct {
	re     *regexp.Regexp
	negate bool
}

func parseIgnore(text string) ignoreMatcher {
	var m ignoreMatcher
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		p := strings.Trim(strings.TrimPrefix(line, "!"), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case p[i] == '*':
				re.WriteString("[^/]*")
			case p[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		re.WriteString("$")
		m = append(m, struct {
			re     *regexp.Regexp
			negate bool
		}{regexp.MustCompile(re.String()), neg})
	}
	return m
}

// excluded reports whether the path (relative to the context, with
// slashes) stays out of the build context.
func (m ignoreMatcher) excluded(p string) bool {
	p = strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/")
	parts := strings.Split(p, "/")
	out := false
	for _, pat := range m {
		for i := 1; i <= len(parts); i++ {
			if pat.re.MatchString(strings.Join(parts[:i], "/")) {
				out = !pat.negate
				break
			}
		}
	}
	return out
}

func readDockerfile(t *testing.T) (*dockerfile, ignoreMatcher) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "docker")
	b, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df, err := parseDockerfile(string(b))
	if err != nil {
		t.Fatalf("deploy/docker/Dockerfile: %v", err)
	}
	ig, err := os.ReadFile(filepath.Join(dir, "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatalf("no Dockerfile.dockerignore beside the Dockerfile: %v", err)
	}
	return df, parseIgnore(string(ig))
}

// TestDockerfile: every instruction is well formed, every COPY source is an
// earlier stage or a path in the repository that the context keeps, and
// everything the Go builds need stays in the context.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	df, ig := readDockerfile(t)
	for _, s := range df.Stages {
		base := df.expand(s.Base)
		if strings.Contains(base, "$") {
			t.Errorf("stage %s: FROM %s: unresolved variable (declare it with a default before the first FROM)", s.Name, s.Base)
		}
		if prev := df.stage(base); prev != nil && prev.Index >= s.Index {
			t.Errorf("stage %s: FROM %s, a later stage", s.Name, base)
		}
		if df.stage(base) == nil && !regexp.MustCompile(`^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*:[A-Za-z0-9._-]+$`).MatchString(base) {
			t.Errorf("stage %s: FROM %s: not an image reference with a tag", s.Name, base)
		}
		for _, in := range s.Instrs {
			switch in.Cmd {
			case "COPY":
				checkCopy(t, df, s, in, root, ig)
			case "ENTRYPOINT", "CMD":
				var argv []string
				if err := json.Unmarshal([]byte(in.Args), &argv); err != nil || len(argv) == 0 {
					t.Errorf("line %d: %s %s: want the exec form, a JSON array", in.Line, in.Cmd, in.Args)
				}
			case "RUN":
				for _, f := range in.Flags {
					if !strings.HasPrefix(f, "--mount=type=cache,target=/") {
						t.Errorf("line %d: RUN flag %s", in.Line, f)
					}
				}
			case "ENV", "LABEL":
				for _, kv := range splitAssignments(in.Args) {
					if !strings.Contains(kv, "=") {
						t.Errorf("line %d: %s %s: want KEY=value pairs", in.Line, in.Cmd, kv)
					}
				}
			case "EXPOSE":
				for _, p := range strings.Fields(in.Args) {
					if !regexp.MustCompile(`^\d+(/(tcp|udp))?$`).MatchString(p) {
						t.Errorf("line %d: EXPOSE %s", in.Line, p)
					}
				}
			}
		}
	}
	// What the Go builds need must stay in the context.
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module outside the repository
		}
		if ig.excluded(rel) {
			t.Errorf("package folder %s is left out of the build context by Dockerfile.dockerignore", rel)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "ui/dist/.gitkeep"} {
		if ig.excluded(p) {
			t.Errorf("%s is left out of the build context", p)
		}
	}
	for _, p := range []string{"ui/dist/index.html", "ui/web/node_modules/x", ".git/HEAD", "bin/scry"} {
		if !ig.excluded(p) {
			t.Errorf("%s would be sent into the build context", p)
		}
	}
}

// splitAssignments splits KEY=value pairs, keeping quoted values whole.
func splitAssignments(s string) []string {
	var out []string
	var cur strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == ' ':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteByte(c)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func checkCopy(t *testing.T, df *dockerfile, s *stage, in instruction, root string, ig ignoreMatcher) {
	t.Helper()
	f := strings.Fields(in.Args)
	if len(f) < 2 {
		t.Errorf("line %d: COPY %s: want sources and a destination", in.Line, in.Args)
		return
	}
	for _, fl := range in.Flags {
		name := strings.SplitN(strings.TrimPrefix(fl, "--"), "=", 2)[0]
		if !slices.Contains([]string{"from", "chown", "chmod", "link"}, name) {
			t.Errorf("line %d: COPY flag %s", in.Line, fl)
		}
	}
	if owner, ok := flagValue(in.Flags, "chown"); ok && !regexp.MustCompile(`^\d+:\d+$`).MatchString(owner) {
		t.Errorf("line %d: --chown=%s: want numeric uid:gid (the base has no user database to look names up in)", in.Line, owner)
	}
	if from, ok := flagValue(in.Flags, "from"); ok {
		prev := df.stage(from)
		if prev == nil || prev.Index >= s.Index {
			t.Errorf("line %d: COPY --from=%s: no earlier stage of that name", in.Line, from)
		}
		return
	}
	for _, src := range f[:len(f)-1] {
		p := filepath.Join(root, filepath.FromSlash(src))
		matches, _ := filepath.Glob(p)
		if len(matches) == 0 {
			t.Errorf("line %d: COPY %s: no such file in the repository", in.Line, src)
			continue
		}
		if src != "." && ig.excluded(src) {
			t.Errorf("line %d: COPY %s: left out of the build context by Dockerfile.dockerignore", in.Line, src)
		}
	}
}

// TestDockerImages: one image (target) per binary, each a static stripped
// binary built from the repository on a non-root distroless base, with its
// listeners on 0.0.0.0 in SCRY_* variables that are flags of that binary
// and exposed; the images that serve the UI build it in a node stage.
func TestDockerImages(t *testing.T) {
	t.Parallel()
	df, _ := readDockerfile(t)
	goStage := df.stage("go")
	if goStage == nil {
		t.Fatal("no stage go")
	}
	if env := stageEnv(goStage); env["CGO_ENABLED"] != "0" {
		t.Errorf("stage go: CGO_ENABLED=%q, want 0 (static binaries)", env["CGO_ENABLED"])
	}
	ui := df.stage("ui")
	if ui == nil {
		t.Fatal("no stage ui")
	}
	checkUIStage(t, ui)
	for _, bin := range scryBinaries {
		t.Run(bin, func(t *testing.T) {
			img := df.stage(bin)
			if img == nil {
				t.Fatalf("no target %s", bin)
			}
			if base := df.expand(img.Base); !strings.HasPrefix(base, "gcr.io/distroless/static") || !strings.HasSuffix(base, ":nonroot") {
				t.Errorf("base %s, want gcr.io/distroless/static-*:nonroot", base)
			}
			var user, entry string
			var buildStage *stage
			var exposed []string
			for _, in := range img.Instrs {
				switch in.Cmd {
				case "USER":
					user = in.Args
				case "ENTRYPOINT":
					entry = in.Args
				case "EXPOSE":
					exposed = append(exposed, strings.Fields(in.Args)...)
				case "COPY":
					from, _ := flagValue(in.Flags, "from")
					if f := strings.Fields(in.Args); f[len(f)-1] == "/usr/local/bin/"+bin {
						buildStage = df.stage(from)
					}
				case "RUN":
					t.Errorf("line %d: RUN in the final image (the base has no shell)", in.Line)
				}
			}
			if user != "65532:65532" {
				t.Errorf("USER %q, want 65532:65532 (numeric, so that runAsNonRoot can verify it)", user)
			}
			if entry != fmt.Sprintf(`["/usr/local/bin/%s"]`, bin) {
				t.Errorf("ENTRYPOINT %s", entry)
			}
			if buildStage == nil {
				t.Fatalf("no COPY of /usr/local/bin/%s from a build stage", bin)
			}
			checkGoBuild(t, df, buildStage, bin)

			// The listeners: every one on 0.0.0.0, a flag of the binary,
			// exposed.
			env := stageEnv(img)
			flags := flagsOf(t, bin)
			var ports []string
			for k, v := range env {
				name, ok := strings.CutPrefix(k, "SCRY_")
				if !ok {
					continue
				}
				flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
				if _, ok := flags[flag]; !ok {
					t.Errorf("ENV %s: %s has no flag --%s", k, bin, flag)
				}
				if host, port, err := net.SplitHostPort(v); err == nil {
					if host != "0.0.0.0" {
						t.Errorf("ENV %s=%s: want 0.0.0.0", k, v)
					}
					if strings.HasPrefix(flag, "udp-") {
						port += "/udp"
					}
					ports = append(ports, port)
				}
			}
			for _, f := range listenerFlags(flags) {
				if _, ok := env["SCRY_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_"))]; !ok {
					t.Errorf("listener --%s is not set (its default binds 127.0.0.1 only)", f)
				}
			}
			slices.Sort(ports)
			slices.Sort(exposed)
			if !slices.Equal(ports, exposed) {
				t.Errorf("EXPOSE %v, but the listeners are on %v", exposed, ports)
			}
		})
	}
}

// stageEnv returns the ENV of a stage.
func stageEnv(s *stage) map[string]string {
	env := map[string]string{}
	for _, in := range s.Instrs {
		if in.Cmd != "ENV" {
			continue
		}
		for _, kv := range splitAssignments(in.Args) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = strings.Trim(v, `"`)
		}
	}
	return env
}

// checkGoBuild: the build stage of bin builds ./cmd/<bin> with -trimpath
// and -ldflags "-s -w -X main.version=...", from the go stage, and copies
// the built UI in exactly when bin serves it.
func checkGoBuild(t *testing.T, df *dockerfile, s *stage, bin string) {
	t.Helper()
	if s.Base != "go" {
		t.Errorf("stage %s: FROM %s, want the go stage", s.Name, s.Base)
	}
	built, withUI := false, false
	for _, in := range s.Instrs {
		if from, _ := flagValue(in.Flags, "from"); in.Cmd == "COPY" && from == "ui" {
			withUI = strings.Contains(in.Args, "/src/ui/dist/ ui/dist/")
		}
		if in.Cmd != "RUN" || !strings.Contains(in.Args, "go build") {
			continue
		}
		built = true
		for _, want := range []string{"-trimpath", `-ldflags "-s -w -X main.version=`, "-o /out/" + bin + " ./cmd/" + bin} {
			if !strings.Contains(in.Args, want) {
				t.Errorf("line %d: go build without %s", in.Line, want)
			}
		}
	}
	if !built {
		t.Errorf("stage %s runs no go build", s.Name)
	}
	servesUI := bin == "scry" || bin == "scry-query"
	if servesUI != withUI {
		t.Errorf("stage %s copies the built UI: %v, want %v", s.Name, withUI, servesUI)
	}
}

// checkUIStage: the node stage installs from the lock file and builds the
// app where package.json is.
func checkUIStage(t *testing.T, ui *stage) {
	t.Helper()
	root := repoRoot(t)
	var workdir string
	ci, build := false, false
	for _, in := range ui.Instrs {
		switch in.Cmd {
		case "WORKDIR":
			workdir = in.Args
		case "RUN":
			ci = ci || strings.Contains(in.Args, "npm ci")
			build = build || (ci && strings.Contains(in.Args, "npm run build"))
		}
	}
	if !ci || !build {
		t.Errorf("stage ui: want npm ci, then npm run build (ci %v, build %v)", ci, build)
	}
	rel, ok := strings.CutPrefix(workdir, "/src/")
	if !ok {
		t.Fatalf("stage ui: WORKDIR %s is not under /src", workdir)
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		if _, err := os.Stat(filepath.Join(root, rel, f)); err != nil {
			t.Errorf("stage ui builds in %s, which has no %s in the repository", rel, f)
		}
	}
}
