// Package kube defines every kubectl invocation the deployer makes, in one place, so the Dagger module
// (kubectl in a container) and the tests (a local kubectl) run exactly the same sequence of commands.
// This file holds the Step/Runner contract and the local ExecRunner; it guards against steps that depend
// on local files or ambient environment, which would work on a laptop and fail in the container.
package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Step is one kubectl invocation: the argv after "kubectl" and optional stdin. Steps are built only by
// functions in this package, so the module and the tests run the same sequence.
type Step struct {
	Name  string
	Args  []string
	Stdin []byte
}

// String names the step and its arguments, never its stdin (which may hold manifests with secrets).
func (s Step) String() string { return fmt.Sprintf("%s (kubectl %s)", s.Name, joinArgs(s.Args)) }

// Result is what kubectl printed and how it exited.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Runner runs a step. err is for infrastructure failures only; a non-zero kubectl exit is in Result.ExitCode.
type Runner interface {
	Run(ctx context.Context, s Step) (Result, error)
}

// ExecRunner runs a local kubectl binary (tests, and anyone with kubectl on PATH).
type ExecRunner struct {
	Kubectl    string   // path to kubectl; "kubectl" when empty
	Kubeconfig string   // passed as KUBECONFIG, the only variable steps rely on
	Env        []string // extra environment, e.g. HOME for kubectl's discovery cache
}

// Run executes kubectl with a minimal environment, mirroring the container the module uses.
func (r ExecRunner) Run(ctx context.Context, s Step) (Result, error) {
	bin := r.Kubectl
	if bin == "" {
		bin = "kubectl"
	}
	cmd := exec.CommandContext(ctx, bin, s.Args...)
	// PATH: `kubectl diff` runs diff(1). Nothing else from the local environment leaks in.
	base := []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}
	cmd.Env = append(append(base, r.Env...), "KUBECONFIG="+r.Kubeconfig)
	if s.Stdin != nil {
		cmd.Stdin = bytes.NewReader(s.Stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return res, fmt.Errorf("%s: %w", s.Name, ctx.Err())
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		return res, nil
	default:
		return res, fmt.Errorf("%s: starting kubectl %q: %w", s.Name, bin, err)
	}
}

// Exec runs a step and turns a non-zero exit into a typed *Error.
func Exec(ctx context.Context, r Runner, s Step) ([]byte, error) {
	res, err := r.Run(ctx, s)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return res.Stdout, Classify(s, res)
	}
	return res.Stdout, nil
}

func joinArgs(args []string) string {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a)
	}
	return b.String()
}
