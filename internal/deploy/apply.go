// Apply with all-or-nothing validation: Namespace objects first (objects inside a namespace cannot be
// dry-run before it exists), then a server-side dry-run of everything else, and only if the apiserver
// accepts every object, the real server-side apply. Owned objects no longer rendered are found before the
// apply and pruned only after the rollout is healthy: a rollback to the previous revision may still need
// them. Guards against a half-applied release when one object in the set is invalid or forbidden.
package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

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
	return append(changes, c...), err
}

// applyValidated dry-runs the set and reads what exists of it at the same time (both are reads, and each is
// a kubectl round trip), then applies only if the dry-run passed.
func applyValidated(ctx context.Context, r kube.Runner, ns string, objs []kube.Object) ([]report.Change, error) {
	docs := kube.JoinDocs(objs)
	var out []byte
	var dryErr, readErr error
	parallel(func() { _, dryErr = kube.Exec(ctx, r, kube.ServerSideDryRun(ns, docs)) },
		func() { out, readErr = kube.Exec(ctx, r, kube.CurrentVersions(ns, docs)) })
	if dryErr != nil {
		return nil, fmt.Errorf("the cluster rejected the rendered manifests, nothing was applied: %w", dryErr)
	}
	if readErr != nil {
		return nil, fmt.Errorf("reading the current objects before apply (nothing applied yet): %w", readErr)
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

// prune deletes the owned objects found by prunable; it runs only once the new revision is healthy.
func prune(ctx context.Context, r kube.Runner, ns string, gone []string) ([]report.Change, error) {
	if len(gone) == 0 {
		return nil, nil
	}
	if _, err := kube.Exec(ctx, r, kube.Delete(ns, gone)); err != nil {
		return nil, fmt.Errorf("the new revision is healthy, but pruning %s failed: %w", strings.Join(gone, ", "), err)
	}
	return changesAll(gone, "pruned"), nil
}

func changesAll(objects []string, action string) []report.Change {
	var out []report.Change
	for _, o := range objects {
		out = append(out, report.Change{Object: o, Action: action})
	}
	return out
}

// parallel runs independent kubectl reads at once: each is a process (or container) start plus a round trip.
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
}
