// Roll back a failed rollout. Only Deployments whose revision this deploy changed are undone, to exactly
// the revision they had before (`rollout undo --to-revision`), then waited on until healthy again. Guards
// against undoing a workload the deploy did not touch, and against a rollback reported as done that never
// became healthy.
package deploy

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/report"
	"dagger/ship/internal/rollout"
)

// revision is a Deployment's revision and pod-template images at one moment.
type revision struct {
	Number string
	Images []string
}

// deploymentRevisions reads the current revision of every Deployment in the namespace.
func deploymentRevisions(ctx context.Context, r kube.Runner, ns, selector string) (map[string]revision, error) {
	out, err := kube.Exec(ctx, r, kube.GetWorkloads(ns, selector))
	if err != nil {
		return nil, err
	}
	objs, err := kube.DecodeList(out)
	if err != nil {
		return nil, err
	}
	revs := map[string]revision{}
	for _, d := range objs.Deployments {
		revs[d.Name] = revision{Number: d.Annotations[rollout.RevisionAnnotation], Images: templateImages(d)}
	}
	return revs, nil
}

func templateImages(d appsv1.Deployment) []string { return podImages(d.Spec.Template.Spec.Containers) }

func podImages(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Image)
	}
	return out
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// undoTarget is one Deployment to roll back.
type undoTarget struct {
	Ref  kube.Ref
	From string   // the failed revision
	To   revision // the revision to restore
}

// rollbackTargets picks failed Deployments whose revision this deploy changed; notes explain the rest.
func rollbackTargets(failed []rollout.WorkloadResult, before map[string]revision) ([]undoTarget, []string) {
	var targets []undoTarget
	var notes []string
	for _, w := range failed {
		name := rollout.Short(w.Workload)
		prev, existed := before[w.Workload.Name]
		switch {
		case w.Workload.Kind != "Deployment":
			notes = append(notes, fmt.Sprintf("%s: automatic rollback covers Deployments only; run `kubectl rollout undo %s`", name, name))
		case !existed || prev.Number == "":
			notes = append(notes, fmt.Sprintf("%s: first deploy, nothing to roll back to", name))
		case prev.Number == w.Revision:
			notes = append(notes, fmt.Sprintf("%s: this deploy did not change its revision (%s), so it was not rolled back", name, prev.Number))
		default:
			targets = append(targets, undoTarget{Ref: w.Workload, From: w.Revision, To: prev})
		}
	}
	return targets, notes
}

// undo rolls the targets back and waits for them; each rollback says whether it is healthy again.
func undo(ctx context.Context, r kube.Runner, ns string, targets []undoTarget, timeout time.Duration, progress io.Writer) ([]report.Rollback, error) {
	var rbs []report.Rollback
	var refs []kube.Ref
	for _, t := range targets {
		to, _ := strconv.ParseInt(t.To.Number, 10, 64)
		fmt.Fprintf(progress, "rolling back %s from revision %s to revision %s (%s)\n", rollout.Short(t.Ref), t.From, t.To.Number, strings.Join(t.To.Images, ", "))
		if _, err := kube.Exec(ctx, r, kube.RolloutUndo(ns, t.Ref, to)); err != nil {
			return rbs, fmt.Errorf("rolling back %s: %w", rollout.Short(t.Ref), err)
		}
		rbs = append(rbs, report.Rollback{Workload: rollout.Short(t.Ref), FromRevision: t.From, ToRevision: t.To.Number, Images: t.To.Images})
		refs = append(refs, t.Ref)
	}
	res, werr := rollout.Wait(ctx, r, rollout.Options{Namespace: ns, Workloads: refs, Timeout: timeout, Progress: progress})
	for i := range rbs {
		if res == nil || i >= len(res.Workloads) {
			continue
		}
		w := res.Workloads[i]
		rbs[i].NewRevision, rbs[i].Healthy = w.Revision, w.Outcome == rollout.RolledOut
		if !rbs[i].Healthy {
			rbs[i].Detail = w.Reason
		}
	}
	if werr != nil {
		return rbs, fmt.Errorf("the rollback did not become healthy: %w", werr)
	}
	return rbs, nil
}

// Rollback manually rolls the overlay's Deployments back (toRevision 0 = the previous revision) and waits.
func Rollback(ctx context.Context, r kube.Runner, namespace, overlay string, toRevision int64, progress io.Writer) (*report.Report, error) {
	if progress == nil {
		progress = io.Discard
	}
	rep := &report.Report{Action: "rollback", Overlay: overlay, Namespace: namespace, Started: time.Now()}
	l, err := acquire(ctx, r, Options{Namespace: namespace, Owner: "manual rollback", LockWait: time.Minute, Progress: progress}, namespace, rep)
	if err != nil {
		return rep, err
	}
	defer release(ctx, l, rep, progress)
	targets, err := manualTargets(ctx, r, namespace, overlay, toRevision)
	if err != nil {
		return rep, err
	}
	rep.Rollbacks, err = undo(ctx, r, namespace, targets, 0, progress)
	rep.Finished = time.Now()
	if err != nil {
		rep.Summary = err.Error()
		return rep, err
	}
	rep.Succeeded = true
	rep.Summary = fmt.Sprintf("rolled back %d deployment(s), healthy", len(targets))
	return rep, nil
}

// manualTargets finds the overlay's Deployments and the revision each goes back to.
func manualTargets(ctx context.Context, r kube.Runner, ns, overlay string, toRevision int64) ([]undoTarget, error) {
	cur, err := deploymentRevisions(ctx, r, ns, kube.OwnedSelector(overlay))
	if err != nil {
		return nil, fmt.Errorf("finding the deployments to roll back: %w", err)
	}
	if len(cur) == 0 {
		return nil, fmt.Errorf("no deployments of overlay %q in namespace %s: nothing to roll back", overlay, ns)
	}
	history, err := revisionHistory(ctx, r, ns)
	if err != nil {
		return nil, err
	}
	var targets []undoTarget
	for name, rev := range cur {
		to, err := pickRevision(name, rev.Number, history[name], toRevision)
		if err != nil {
			return nil, err
		}
		targets = append(targets, undoTarget{Ref: kube.Ref{Group: "apps", Kind: "Deployment", Namespace: ns, Name: name}, From: rev.Number, To: to})
	}
	return targets, nil
}

// revisionHistory maps deployment name -> revision number -> that revision's images, from ReplicaSets.
func revisionHistory(ctx context.Context, r kube.Runner, ns string) (map[string]map[int64]revision, error) {
	out, err := kube.Exec(ctx, r, kube.GetReplicaSets(ns))
	if err != nil {
		return nil, fmt.Errorf("reading the revision history: %w", err)
	}
	objs, err := kube.DecodeList(out)
	if err != nil {
		return nil, err
	}
	h := map[string]map[int64]revision{}
	for _, rs := range objs.ReplicaSets {
		for _, o := range rs.OwnerReferences {
			n, err := strconv.ParseInt(rs.Annotations[rollout.RevisionAnnotation], 10, 64)
			if o.Kind != "Deployment" || err != nil {
				continue
			}
			if h[o.Name] == nil {
				h[o.Name] = map[int64]revision{}
			}
			h[o.Name][n] = revision{Number: strconv.FormatInt(n, 10), Images: podImages(rs.Spec.Template.Spec.Containers)}
		}
	}
	return h, nil
}

// pickRevision chooses the requested revision, or the newest one older than the current.
func pickRevision(name, current string, history map[int64]revision, want int64) (revision, error) {
	cur, _ := strconv.ParseInt(current, 10, 64)
	if want > 0 {
		if rev, ok := history[want]; ok && want != cur {
			return rev, nil
		}
		return revision{}, fmt.Errorf("deployment/%s has no revision %d to roll back to (current %s, known %s)", name, want, current, known(history))
	}
	best := int64(0)
	for n := range history {
		if n < cur && n > best {
			best = n
		}
	}
	if best == 0 {
		return revision{}, fmt.Errorf("deployment/%s has no earlier revision than %s to roll back to", name, current)
	}
	return history[best], nil
}

func known(h map[int64]revision) string {
	var s []string
	for n := range h {
		s = append(s, strconv.FormatInt(n, 10))
	}
	if len(s) == 0 {
		return "none"
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
