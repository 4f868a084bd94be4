// Plan shows what a deploy would do without doing it: for every rendered object, the live object next to
// what the API server would make of the apply (a server-side dry-run, so defaulting, admission and field
// ownership are the cluster's own), as a unified diff computed here; and which owned objects would be
// pruned. It guards against two traps: a plan that silently says "no changes" because it parsed the output
// of whatever diff(1) the kubectl image happened to ship (BusyBox prints no "diff -u" header), and a plan
// role that may only read (a dry-run needs write rights), which then gets a comparison of the rendered
// fields with the live objects instead of an error.
package deploy

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/predeploy"
)

// PlanResult is what a deploy would change.
type PlanResult struct {
	Namespace string
	Changed   []string // objects that would change, as group.version.Kind.namespace.name
	Prune     []string // owned objects no longer rendered
	Jobs      []string // pre-deploy jobs, with what the deploy would do with each
	runsJobs  bool     // a pre-deploy job would run
	Diff      string   // unified diff, live -> planned, Secret values masked
	ReadOnly  bool     // compared without a dry-run: the identity may not write
	Notes     []string
}

// Empty reports whether the deploy would change nothing.
func (p *PlanResult) Empty() bool { return len(p.Changed) == 0 && len(p.Prune) == 0 && !p.runsJobs }

// Summary is a readable account of the plan.
func (p *PlanResult) Summary() string {
	var b strings.Builder
	if p.Empty() {
		fmt.Fprintf(&b, "namespace %s: no changes\n", p.Namespace)
	} else {
		fmt.Fprintf(&b, "namespace %s: %d object(s) change, %d to prune\n", p.Namespace, len(p.Changed), len(p.Prune))
	}
	for _, j := range p.Jobs {
		fmt.Fprintf(&b, "  > %s\n", j)
	}
	for _, c := range p.Changed {
		fmt.Fprintf(&b, "  ~ %s\n", c)
	}
	for _, c := range p.Prune {
		fmt.Fprintf(&b, "  - %s (pruned: no longer rendered)\n", c)
	}
	if p.ReadOnly {
		b.WriteString("(the identity may not write here, so this compares the rendered fields with the live objects, without a server-side dry-run: defaults and admission changes are not shown)\n")
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// Plan diffs the rendered set against the cluster and lists what would be pruned.
func Plan(ctx context.Context, c *kube.Client, o Options) (*PlanResult, error) {
	p, err := prepare(o)
	if err != nil {
		return nil, err
	}
	out := &PlanResult{Namespace: p.namespace}
	all := append(append([]kube.Object{}, p.namespaces...), p.objects...)
	var diffs []string
	for _, obj := range all {
		live, planned, note, err := planObject(ctx, c, obj, out)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		if note != "" {
			out.Notes = append(out.Notes, note)
		}
		if d := objectDiff(obj, live, planned); d != "" {
			out.Changed = append(out.Changed, planName(obj))
			diffs = append(diffs, d)
		}
	}
	out.Diff = strings.Join(diffs, "")
	for _, j := range p.jobs {
		action, runs, err := predeploy.Plan(ctx, c, j)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		out.Jobs = append(out.Jobs, fmt.Sprintf("%s (pre-deploy job %s): %s", j.Ref, j.Base, action))
		out.runsJobs = out.runsJobs || runs
	}
	owned, err := prunable(ctx, c, p)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	for _, r := range owned.stale {
		out.Prune = append(out.Prune, r.String())
	}
	return out, nil
}

// planObject returns the live object (nil if absent) and what the apply would make of it.
func planObject(ctx context.Context, c *kube.Client, obj kube.Object, res *PlanResult) (live, planned *unstructured.Unstructured, note string, err error) {
	live, err = c.Get(ctx, obj.Body.GroupVersionKind(), obj.Namespace, obj.Name)
	switch {
	case kube.HasReason(err, kube.NotFound):
		live = nil
	case kube.HasReason(err, kube.Forbidden):
		return nil, nil, "", err
	case err != nil:
		return nil, nil, "", err
	}
	if !res.ReadOnly {
		planned, err = c.Apply(ctx, obj.Body, kube.ApplyOptions{DryRun: true})
		switch {
		case err == nil:
			return live, planned, "", nil
		case kube.HasReason(err, kube.Forbidden):
			res.ReadOnly = true
		case kube.HasReason(err, kube.NamespaceNotFound):
			return live, obj.Body, fmt.Sprintf("%s: its namespace does not exist yet; shown as rendered", obj.Ref), nil
		default:
			return nil, nil, "", err
		}
	}
	if live == nil {
		return nil, obj.Body, "", nil
	}
	return fieldsOf(live, obj.Body), obj.Body, "", nil
}

// planName is "group.version.Kind.namespace.name" (core: "version.Kind..."), kubectl diff's file name.
func planName(o kube.Object) string {
	gv := o.Body.GetAPIVersion()
	name := strings.ReplaceAll(gv, "/", ".") + "." + o.Kind
	if o.Namespace != "" {
		name += "." + o.Namespace
	}
	return name + "." + o.Name
}
