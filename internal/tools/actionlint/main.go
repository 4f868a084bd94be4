// Command actionlint runs github.com/rhysd/actionlint's Go API on the given
// workflow files and prints one line per finding, exiting 1 when there is
// any. It lives in its own module because actionlint requires newer
// golang.org/x/{net,crypto,text,term} than the ship module builds with, and
// the module's go.mod is what Dagger downloads to run it: a test-only linter
// must not move those. internal/workflowcheck's tests run it with `go run`.
//
// Shellcheck and pyflakes integration stay off, so the result does not
// depend on what the machine has installed.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/rhysd/actionlint"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: actionlint WORKFLOW.yml...")
		os.Exit(2)
	}
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "actionlint: %v\n", err)
		os.Exit(2)
	}
	errs, err := l.LintFiles(os.Args[1:], nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "actionlint: %v\n", err)
		os.Exit(2)
	}
	for _, e := range errs {
		fmt.Printf("%s:%d:%d: %s [%s]\n", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
}
