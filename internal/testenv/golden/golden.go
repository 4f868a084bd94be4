// Package golden compares a test's output with a file checked into testdata, and rewrites the file when the
// test runs with -update. It exists so every golden test reports a difference the same way, as a unified
// diff a reviewer can read, and so accepting a change is always `go test -update` after reading it.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
)

var update = flag.Bool("update", false, "rewrite the golden files with what the tests produce")

// Check fails the test if got differs from the file at path, showing the difference. With -update it writes
// got to path first (creating its directory), so the comparison passes and the change shows in git.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(want)),
			B: difflib.SplitLines(string(got)), FromFile: path, ToFile: "got", Context: 2})
		t.Errorf("output differs from %s (review, then go test -update to accept):\n%s", path, diff)
	}
}
