package check

import (
	"bufio"
	"go/version"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerfile checks what would break the image's build, which no
// container runtime runs here: a Go image older than go.mod's go line,
// a COPY of a file that is not there, a build of anything but a static
// spanlog.
func TestDockerfile(t *testing.T) {
	lines := dockerfileInstructions(t, repoPath(t, "Dockerfile"))

	goLine := ""
	mod, err := os.ReadFile(repoPath(t, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(mod)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "go "); ok {
			goLine = "go" + v
		}
	}

	var golang, build string
	for _, l := range lines {
		fields := strings.Fields(l)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			if img, ok := strings.CutPrefix(fields[1], "golang:"); ok {
				golang = "go" + strings.SplitN(img, "-", 2)[0]
			}
		case "COPY":
			var srcs []string
			from := false
			for _, f := range fields[1 : len(fields)-1] {
				from = from || strings.HasPrefix(f, "--from=")
				if !strings.HasPrefix(f, "--") {
					srcs = append(srcs, f)
				}
			}
			if from {
				continue // from an earlier stage, not the context
			}
			for _, src := range srcs {
				if _, err := os.Stat(repoPath(t, src)); err != nil {
					t.Errorf("%s: %v", l, err)
				}
			}
		case "RUN":
			if strings.Contains(l, "go build") {
				build = l
			}
		}
	}
	if !version.IsValid(golang) || version.Compare(golang, goLine) < 0 {
		t.Errorf("the build stage's Go image is %q; go.mod needs %s", golang, goLine)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, " ./cmd/spanlog") {
		t.Errorf("the image builds with %q; want a static build of ./cmd/spanlog (CGO_ENABLED=0)", build)
	}
}

// dockerfileInstructions returns the instructions of a Dockerfile, one a
// line: comments dropped, continued lines joined.
func dockerfileInstructions(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || l == "" && cur == "" {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur += c + " "
			continue
		}
		out = append(out, strings.Join(strings.Fields(cur+l), " "))
		cur = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s is empty", filepath.Base(path))
	}
	return out
}
