// Plan shows what a deploy would do without doing it: a server-side diff of the rendered set (so
// defaulting, admission and field ownership are the cluster's own) and which owned objects would be
// pruned. Guards against surprises at apply time, notably a prune nobody expected.
package deploy

import (
	"context"
	"fmt"
	"path"
	"strings"

	"dagger/ship/internal/kube"
)

// PlanResult is what a deploy would change.
type PlanResult struct {
	Namespace string
	Changed   []string // objects the diff touches, as group.version.Kind.namespace.name
	Prune     []string // owned objects no longer rendered
	Diff      string   // kubectl's unified diff (Secret data masked by kubectl)
}

// Empty reports whether the deploy would change nothing.
func (p *PlanResult) Empty() bool { return len(p.Changed) == 0 && len(p.Prune) == 0 }

// Summary is a readable account of the plan.
func (p *PlanResult) Summary() string {
	if p.Empty() {
		return fmt.Sprintf("namespace %s: no changes", p.Namespace)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "namespace %s: %d object(s) change, %d to prune\n", p.Namespace, len(p.Changed), len(p.Prune))
	for _, c := range p.Changed {
		fmt.Fprintf(&b, "  ~ %s\n", c)
	}
	for _, c := range p.Prune {
		fmt.Fprintf(&b, "  - %s (pruned: no longer rendered)\n", c)
	}
	return b.String()
}

// Plan diffs the rendered set against the cluster and lists what would be pruned.
func Plan(ctx context.Context, r kube.Runner, o Options) (*PlanResult, error) {
	p, err := prepare(o)
	if err != nil {
		return nil, err
	}
	all := append(append([]kube.Object{}, p.namespaces...), p.objects...)
	s := kube.Diff(p.namespace, kube.JoinDocs(all))
	res, err := r.Run(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if res.ExitCode > 1 {
		return nil, fmt.Errorf("plan: %w", kube.Classify(s, res))
	}
	out := &PlanResult{Namespace: p.namespace, Diff: string(res.Stdout), Changed: diffedObjects(string(res.Stdout))}
	if out.Prune, err = prunable(ctx, r, p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return out, nil
}

// diffedObjects reads the object names from `diff -u -N .../LIVE-x/apps.v1.Deployment.ns.name ...` headers.
func diffedObjects(diff string) []string {
	var out []string
	for _, line := range strings.Split(diff, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "diff" {
			for _, a := range f[1:] {
				if !strings.HasPrefix(a, "-") {
					out = append(out, path.Base(a))
					break
				}
			}
		}
	}
	return out
}
