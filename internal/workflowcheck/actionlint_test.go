// actionlint_test.go checks both workflows with actionlint beside
// workflowcheck's own rules. workflowcheck knows this project's policy;
// actionlint knows GitHub's: expression syntax and types, contexts a job
// cannot see (outputs of a job it does not need), unknown keys and values.
// A workflow can satisfy every project rule and still not run; this catches
// that in `go test` instead of on the first push.
package workflowcheck

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// actionlintTool is the separate module that wraps actionlint's Go API (its
// dependencies would move the ship module's; see its main.go).
const actionlintTool = "../tools/actionlint"

// lint runs actionlint on files and returns its findings, one per line.
func lint(t *testing.T, files ...string) []string {
	t.Helper()
	args := []string{"run", "."}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, abs)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = actionlintTool
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("run actionlint: %v\n%s", err, stderr.String())
	}
	return strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' })
}

func TestWorkflowsPassActionlint(t *testing.T) {
	for _, finding := range lint(t, filepath.Join(workflowsDir, "deploy.yml"), filepath.Join(workflowsDir, "pr.yml")) {
		t.Error(finding)
	}
}

// TestActionlintCatchesWhatWorkflowcheckDoesNot proves the lint is not a
// no-op: a report step whose condition names a step that does not exist
// breaks no project rule (workflowcheck passes it), and actionlint refuses it.
func TestActionlintCatchesWhatWorkflowcheckDoesNot(t *testing.T) {
	path := filepath.Join("testdata", "actionlint", "undefined_step.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ps := CheckDeploy(data); len(ps) != 0 {
		t.Fatalf("the fixture must pass workflowcheck, got %v", ps)
	}
	findings := lint(t, path)
	if len(findings) == 0 || !strings.Contains(strings.Join(findings, "\n"), "deplyo") {
		t.Errorf("actionlint did not flag steps.deplyo, a step that does not exist: %q", findings)
	}
}
