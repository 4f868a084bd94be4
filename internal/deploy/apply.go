// Apply with all-or-nothing validation: Namespace objects first (objects inside a namespace cannot be
// dry-run before it exists), then a server-side dry-run of everything else, and only if the API server
// accepts every object, the real server-side apply, object by object. Owned objects no longer rendered are
// found before the apply and pruned only after the rollout is healthy: a rollback to the previous revision
// may still need them. Guards against a half-applied release when one object in the set is invalid or
// forbidden, and, when the real apply still fails half-way (an admission check that only runs for real,
// a change between dry-run and apply), says exactly which objects were changed so they can be followed.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/report"
)

// ApplyError is an apply that stopped after the dry-run had passed: Applied were changed, the rest were not.
type ApplyError struct {
	Applied []kube.Ref
	Failed  kube.Ref
	Cause   error
}

func (e *ApplyError) Error() string {
	var names []string
	for _, r := range e.Applied {
		names = append(names, r.String())
	}
	done := "nothing before it"
	if len(names) > 0 {
		done = strings.Join(names, ", ")
	}
	return fmt.Sprintf("the apply failed at %s after the dry-run had passed (already applied: %s): %v", e.Failed, done, e.Cause)
}

func (e *ApplyError) Unwrap() error { return e.Cause }

// applied is what the apply changed, also when it stopped half-way.
type applied struct {
	changes []report.Change
	refs    []kube.Ref // objects the server accepted, in order
}

// apply applies the namespaces, then everything else.
func apply(ctx context.Context, c *kube.Client, p *plan) (*applied, error) {
	res := &applied{}
	if len(p.namespaces) > 0 {
		if err := applyValidated(ctx, c, p.namespaces, res); err != nil {
			return res, err
		}
	}
	return res, applyValidated(ctx, c, p.objects, res)
}

// applyValidated dry-runs the set and reads what exists of it, all at once (each is a round trip), then
// applies object by object only if every dry-run passed.
func applyValidated(ctx context.Context, c *kube.Client, objs []kube.Object, res *applied) error {
	before := make([]string, len(objs)) // resourceVersion, "" when the object does not exist yet
	readErrs := make([]error, len(objs))
	var reads []func()
	for i, o := range objs {
		reads = append(reads, func() { before[i], readErrs[i] = currentVersion(ctx, c, o) })
	}
	if err := dryRun(ctx, c, objs, reads...); err != nil {
		return err
	}
	if err := firstError(readErrs); err != nil {
		return fmt.Errorf("reading the current objects before apply (nothing applied yet): %w", err)
	}
	for i, o := range objs {
		out, err := c.Apply(ctx, o.Body, kube.ApplyOptions{})
		if err != nil {
			return &ApplyError{Applied: append([]kube.Ref(nil), res.refs...), Failed: o.Ref, Cause: err}
		}
		res.refs = append(res.refs, o.Ref)
		res.changes = append(res.changes, report.Change{Object: o.Ref.String(), Action: changeOf(before[i], out.GetResourceVersion())})
	}
	return nil
}

// dryRun server-side dry-runs every object at once, alongside any other reads, and refuses the set if the
// cluster rejects any of them.
func dryRun(ctx context.Context, c *kube.Client, objs []kube.Object, alongside ...func()) error {
	dryErrs := make([]error, len(objs))
	fns := alongside
	for i, o := range objs {
		fns = append(fns, func() { _, dryErrs[i] = c.Apply(ctx, o.Body, kube.ApplyOptions{DryRun: true}) })
	}
	parallel(fns...)
	if err := rejected(dryErrs); err != nil {
		return fmt.Errorf("the cluster rejected the rendered manifests, nothing was applied: %w", err)
	}
	return nil
}

// rejected keeps the first rejection as the typed cause and names every other rejected object.
func rejected(errs []error) error {
	first := firstError(errs)
	if first == nil {
		return nil
	}
	var more []string
	for _, err := range errs {
		if err != nil && err != first {
			more = append(more, err.Error())
		}
	}
	if len(more) == 0 {
		return first
	}
	return fmt.Errorf("%w; and %s", first, strings.Join(more, "; "))
}

func currentVersion(ctx context.Context, c *kube.Client, o kube.Object) (string, error) {
	live, err := c.Get(ctx, o.Body.GroupVersionKind(), o.Namespace, o.Name)
	if kube.HasReason(err, kube.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return live.GetResourceVersion(), nil
}

// changeOf compares an object's resourceVersion before and after its apply.
func changeOf(before, after string) string {
	switch {
	case before == "":
		return "created"
	case before == after:
		return "unchanged"
	default:
		return "configured"
	}
}

// owned is what the namespace holds of this owner's objects that the new set no longer renders.
type owned struct {
	stale  []kube.Ref // ours, no longer rendered: pruned once the rollout is healthy
	legacy []kube.Ref // labelled by an older ship without the app label: never pruned
}

// prunable lists the owner's objects of the prunable kinds (and legacy-labelled ones) that the rendered
// set no longer contains: one request per kind for everything labelled with this overlay, all at once,
// sorted by their app label.
func prunable(ctx context.Context, c *kube.Client, p *plan) (*owned, error) {
	keep := map[string]bool{}
	for _, o := range p.objects {
		keep[o.Ref.String()] = true
	}
	owner, kinds := p.o.owner(), kube.PrunableKinds
	stale := make([][]kube.Ref, len(kinds))
	legacy := make([][]kube.Ref, len(kinds))
	errs := make([]error, len(kinds))
	var fns []func()
	for i, k := range kinds {
		fns = append(fns, func() { stale[i], legacy[i], errs[i] = listNotRendered(ctx, c, p.namespace, k, owner, keep) })
	}
	parallel(fns...)
	if err := firstError(errs); err != nil {
		return nil, fmt.Errorf("listing objects to prune: %w", err)
	}
	return &owned{stale: sorted(flatten(stale)), legacy: sorted(flatten(legacy))}, nil
}

// listNotRendered lists one kind's objects of the owner's overlay that are not rendered, split into the
// owner's and those of older versions (no app label); other apps' objects are left out.
func listNotRendered(ctx context.Context, c *kube.Client, ns string, k schema.GroupVersionKind, owner kube.Owner, keep map[string]bool) (mine, legacy []kube.Ref, err error) {
	list, err := c.List(ctx, k, ns, owner.OverlaySelector())
	if err != nil {
		return nil, nil, err
	}
	for i := range list.Items {
		item := &list.Items[i]
		ref := kube.Ref{Group: k.Group, Version: k.Version, Kind: k.Kind, Namespace: ns, Name: item.GetName()}
		if keep[ref.String()] || item.GetDeletionTimestamp() != nil || item.GetLabels()[kube.PreDeployJobLabel] != "" {
			continue
		}
		switch labels := item.GetLabels(); {
		case owner.Owns(labels):
			mine = append(mine, ref)
		case labels[kube.AppLabel] == "":
			legacy = append(legacy, ref)
		}
	}
	return mine, legacy, nil
}

// prune deletes the stale objects except those a rollback target still uses; it runs only once the new
// revision is healthy.
func prune(ctx context.Context, c *kube.Client, ns string, gone []kube.Ref, inUse map[string]string) ([]report.Change, error) {
	var changes []report.Change
	var errs []error
	for _, r := range gone {
		if rev, ok := inUse[r.String()]; ok {
			changes = append(changes, report.Change{Object: r.String(), Action: "kept: used by revision " + rev + ", a rollback target"})
			continue
		}
		err := c.Delete(ctx, r.GVK(), ns, r.Name, nil)
		if err != nil && !kube.HasReason(err, kube.NotFound) {
			errs = append(errs, err)
			continue
		}
		changes = append(changes, report.Change{Object: r.String(), Action: "pruned"})
	}
	if err := errors.Join(errs...); err != nil {
		return changes, fmt.Errorf("the new revision is healthy, but pruning failed: %w", err)
	}
	return changes, nil
}

func changesAll(refs []kube.Ref, action string) []report.Change {
	var out []report.Change
	for _, r := range refs {
		out = append(out, report.Change{Object: r.String(), Action: action})
	}
	return out
}

// parallel runs independent requests at once: each is a round trip.
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func flatten(parts [][]kube.Ref) []kube.Ref {
	var out []kube.Ref
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func sorted(refs []kube.Ref) []kube.Ref {
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	return refs
}

// ApplyObjects applies objects as they are, all or nothing (bootstrap's namespaces, as an administrator).
// With dryRun it stops after the server-side dry-run and reports what the apply would do.
func ApplyObjects(ctx context.Context, c *kube.Client, manifests []byte, dryRun bool) ([]report.Change, error) {
	objs, err := kube.ParseManifests(manifests)
	if err != nil {
		return nil, err
	}
	if !dryRun {
		res := &applied{}
		err := applyValidated(ctx, c, objs, res)
		return res.changes, err
	}
	var changes []report.Change
	for _, o := range objs {
		before, err := currentVersion(ctx, c, o)
		if err != nil {
			return nil, err
		}
		if _, err := c.Apply(ctx, o.Body, kube.ApplyOptions{DryRun: true}); err != nil {
			return nil, err
		}
		action := "would be created"
		if before != "" {
			action = "exists (would be applied)"
		}
		changes = append(changes, report.Change{Object: o.Ref.String(), Action: action})
	}
	return changes, nil
}
