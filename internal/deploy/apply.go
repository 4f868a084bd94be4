// Apply with all-or-nothing validation: Namespace objects first (objects inside a namespace cannot be
// dry-run before it exists), then a server-side dry-run of everything else, and only if the apiserver
// accepts every object, the real server-side apply and the prune of owned objects no longer rendered.
// Guards against a half-applied release when one object in the set is invalid or forbidden.
package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/report"
)

// apply returns what changed per object.
func apply(ctx context.Context, r kube.Runner, p *plan) ([]report.Change, error) {
	var changes []report.Change
	if len(p.namespaces) > 0 {
		c, err := applyValidated(ctx, r, p.namespace, p.namespaces)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c...)
	}
	c, err := applyValidated(ctx, r, p.namespace, p.objects)
	if err != nil {
		return changes, err
	}
	changes = append(changes, c...)
	pruned, err := prune(ctx, r, p)
	if err != nil {
		return changes, err
	}
	return append(changes, pruned...), nil
}

func applyValidated(ctx context.Context, r kube.Runner, ns string, objs []kube.Object) ([]report.Change, error) {
	docs := kube.JoinDocs(objs)
	if _, err := kube.Exec(ctx, r, kube.ServerSideDryRun(ns, docs)); err != nil {
		return nil, fmt.Errorf("the cluster rejected the rendered manifests, nothing was applied: %w", err)
	}
	out, err := kube.Exec(ctx, r, kube.CurrentVersions(ns, docs))
	if err != nil {
		return nil, fmt.Errorf("reading the current objects before apply (nothing applied yet): %w", err)
	}
	before, err := kube.ParseVersions(out)
	if err != nil {
		return nil, err
	}
	if out, err = kube.Exec(ctx, r, kube.Apply(ns, docs)); err != nil {
		return nil, fmt.Errorf("applying the manifests (the dry-run had passed; some objects may be applied): %w", err)
	}
	after, err := kube.ParseVersions(out)
	if err != nil {
		return nil, err
	}
	return changesOf(objs, before, after), nil
}

// changesOf compares resourceVersions before and after the apply.
func changesOf(objs []kube.Object, before, after kube.Versions) []report.Change {
	var out []report.Change
	for _, o := range objs {
		key := o.Ref.String()
		action := "configured"
		switch prev, existed := before[key]; {
		case !existed:
			action = "created"
		case prev == after[key]:
			action = "unchanged"
		}
		out = append(out, report.Change{Object: key, Action: action})
	}
	return out
}

// prunable lists owned objects of this overlay that the rendered set no longer contains.
func prunable(ctx context.Context, r kube.Runner, p *plan) ([]string, error) {
	out, err := kube.Exec(ctx, r, kube.ListOwned(p.namespace, p.o.Overlay))
	if err != nil {
		return nil, fmt.Errorf("listing objects to prune: %w", err)
	}
	keep := map[string]bool{}
	for _, o := range p.objects {
		keep[o.Ref.String()] = true
	}
	var gone []string
	for _, name := range strings.Fields(string(out)) {
		if !keep[name] {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	return gone, nil
}

func prune(ctx context.Context, r kube.Runner, p *plan) ([]report.Change, error) {
	gone, err := prunable(ctx, r, p)
	if err != nil || len(gone) == 0 {
		return nil, err
	}
	if _, err := kube.Exec(ctx, r, kube.Delete(p.namespace, gone)); err != nil {
		return nil, fmt.Errorf("pruning %s (the new objects are applied): %w", strings.Join(gone, ", "), err)
	}
	var out []report.Change
	for _, g := range gone {
		out = append(out, report.Change{Object: g, Action: "pruned"})
	}
	return out, nil
}
