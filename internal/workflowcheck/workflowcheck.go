// Package workflowcheck lints the repository's GitHub workflows against the
// delivery rules of this project.
//
// Why it exists: the workflows hold the few things Dagger cannot enforce on
// its own (who may get an AWS token, which code runs with it, whether two
// deploys can race). A reviewer misses a tag-pinned action or a stray
// `aws eks update-kubeconfig`; this check, run by `go test`, does not.
package workflowcheck

import (
	"fmt"
	"os"
	"path/filepath"
)

// Problem is one broken rule: the file, the YAML path of the offending node
// (e.g. "jobs.deploy.steps[1].uses") and what to change.
type Problem struct {
	File, Path, Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", p.File, p.Path, p.Message)
}

// CheckDeploy returns every deploy-workflow rule that yaml breaks (none when
// it is fine). Problems carry File "deploy.yml".
func CheckDeploy(yaml []byte) []Problem {
	return check("deploy.yml", yaml, deployRules)
}

// CheckPR returns every pull-request-workflow rule that yaml breaks.
// Problems carry File "pr.yml".
func CheckPR(yaml []byte) []Problem {
	return check("pr.yml", yaml, prRules)
}

// CheckFile reads path and applies the checker chosen by its base name
// (deploy.yml or pr.yml), reporting problems against path.
func CheckFile(path string) ([]Problem, error) {
	var checker func([]byte) []Problem
	switch filepath.Base(path) {
	case "deploy.yml", "deploy.yaml":
		checker = CheckDeploy
	case "pr.yml", "pr.yaml":
		checker = CheckPR
	default:
		return nil, fmt.Errorf("workflowcheck: no rules for %q: name the file deploy.yml or pr.yml", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("workflowcheck: read workflow: %w", err)
	}
	problems := checker(data)
	for i := range problems {
		problems[i].File = path
	}
	return problems, nil
}

// check parses once and runs the rule set, stamping the file on each problem.
func check(file string, data []byte, rules func(*workflow, *report)) []Problem {
	r := &report{file: file}
	wf, err := parseWorkflow(data)
	if err != nil {
		r.add("", "not a valid workflow: %v", err)
		return r.problems
	}
	rules(wf, r)
	return r.problems
}

// report collects problems in the order rules find them.
type report struct {
	file     string
	problems []Problem
}

func (r *report) add(path, format string, args ...any) {
	r.problems = append(r.problems, Problem{File: r.file, Path: path, Message: fmt.Sprintf(format, args...)})
}
