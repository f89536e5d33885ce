package check

import (
	"path/filepath"
	"testing"
)

// repoRoot is the repository's root, from this package's directory, where
// go test runs its tests.
const repoRoot = "../.."

// repoPath is a path of the repository, absolute.
func repoPath(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{repoRoot}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// relPath is path relative to the repository's root, for messages.
func relPath(t testing.TB, path string) string {
	t.Helper()
	rel, err := filepath.Rel(repoPath(t), path)
	if err != nil {
		return path
	}
	return rel
}
