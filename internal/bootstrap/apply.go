// Applying a plan, then saying what the user must do in GitHub. Everything is read (and the inputs validated) before the
// first write, so a bad input or an unreadable resource changes nothing; a
// write that fails stops the run and names what was already done, and the
// next run picks up from there because every step is idempotent.
package bootstrap

import (
	"context"
	"fmt"
	"io"

	"dagger/ship/internal/policy"
)

// Summary is what Apply did (or, in a dry run, would do).
type Summary struct {
	DryRun  bool
	Actions []Action
	Changed int // actions applied (dry run: that would be applied)
	// NamespaceManifests must be applied by an administrator (kubectl apply
	// with the admin kubeconfig): the CI role cannot create namespaces.
	NamespaceManifests []byte
	Warnings           []string
}

// ApplyError names the action that failed and those applied before it.
type ApplyError struct {
	Action  Action
	Applied []Action
	Err     error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("bootstrap stopped at %q after %d change(s); fix the cause and run again (every step is idempotent): %v",
		e.Action.String(), len(e.Applied), e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Apply plans, then applies every change unless dryRun, writing one line
// per action to out. A second run reports "no changes".
func Apply(ctx context.Context, c Clients, in policy.Inputs, dryRun bool, out io.Writer) (Summary, error) {
	b, err := policy.Generate(in)
	if err != nil {
		return Summary{}, err
	}
	actions, err := Plan(ctx, c, in)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{DryRun: dryRun, Actions: actions, NamespaceManifests: NamespaceManifests(b.Namespaces), Warnings: b.Warnings}
	for _, w := range b.Warnings {
		fmt.Fprintf(out, "WARNING: %s\n", w)
	}
	var applied []Action
	for _, a := range actions {
		if !a.Changes() {
			fmt.Fprintf(out, "  %s\n", a)
			continue
		}
		if dryRun {
			fmt.Fprintf(out, "  would %s\n", a)
			writeDiff(out, a.Diff)
			s.Changed++
			continue
		}
		if err := a.apply(ctx); err != nil {
			return s, &ApplyError{Action: a, Applied: applied, Err: err}
		}
		applied = append(applied, a)
		s.Changed++
		fmt.Fprintf(out, "  %s: done\n", a)
		writeDiff(out, a.Diff)
	}
	fmt.Fprintln(out, summaryLine(s))
	return s, nil
}

func writeDiff(out io.Writer, diff []string) {
	for _, line := range diff {
		fmt.Fprintf(out, "      %s\n", line)
	}
}

func summaryLine(s Summary) string {
	switch {
	case s.Changed == 0:
		return "no changes"
	case s.DryRun:
		return fmt.Sprintf("dry run: %d change(s) would be made; nothing was sent", s.Changed)
	default:
		return fmt.Sprintf("%d change(s) made", s.Changed)
	}
}
