// Roll back a failed rollout. Only Deployments whose revision this deploy changed are undone, to exactly
// the revision they had before, then waited on until healthy again. The failed revision's ReplicaSet is
// marked failed first: after a rollback Kubernetes renumbers the restored revision, so "the previous
// revision" is then the broken one, and a later manual rollback must skip it. Guards against undoing a
// workload the deploy did not touch, a rollback reported as done that never became healthy, and a manual
// rollback that brings the broken release back.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/lock"
	"dagger/ship/internal/report"
	"dagger/ship/internal/rollout"
)

// FailedAnnotation marks a ReplicaSet whose rollout ship saw fail; its value says why.
const FailedAnnotation = "ship/rollout-failed"

// RollbackManager is the field manager of the rollback's change to the pod template.
const RollbackManager = "ship-rollback"

// revision is a Deployment's revision and pod-template images at one moment.
type revision struct {
	Number string
	Images []string
	Failed string // why ship recorded this revision as failed, "" if not
	// Unseen: the Deployment controller has not yet seen the latest spec, so Number may not count its change.
	Unseen   bool
	template *corev1.PodTemplateSpec // the Deployment's live template (from deploymentRevisions only)
	rs       *appsv1.ReplicaSet
}

// deploymentRevisions reads the current revision of every Deployment matching the selector.
func deploymentRevisions(ctx context.Context, c *kube.Client, ns, selector string) (map[string]revision, error) {
	objs, err := c.Read(ctx, ns, selector, kube.DeploymentKind)
	if err != nil {
		return nil, err
	}
	revs := map[string]revision{}
	for i := range objs.Deployments {
		d := &objs.Deployments[i]
		revs[d.Name] = revision{Number: d.Annotations[rollout.RevisionAnnotation], Images: templateImages(*d),
			Unseen: d.Generation > d.Status.ObservedGeneration, template: &d.Spec.Template}
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
	Ref    kube.Ref
	From   string // the failed revision
	To     revision
	Reason string // why From failed, recorded on its ReplicaSet; "" for a manual rollback
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
			targets = append(targets, undoTarget{Ref: w.Workload, From: w.Revision, To: prev, Reason: string(w.Outcome) + ": " + w.Reason})
		}
	}
	return targets, notes
}

// undo rolls the targets back and waits for them; each rollback says whether it is healthy again.
func undo(ctx context.Context, c *kube.Client, ns string, targets []undoTarget, timeout time.Duration, progress io.Writer) ([]report.Rollback, error) {
	history, err := revisionHistory(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	var rbs []report.Rollback
	var refs []kube.Ref
	for _, t := range targets {
		rb := report.Rollback{Workload: rollout.Short(t.Ref), FromRevision: t.From, ToRevision: t.To.Number, Images: t.To.Images}
		fmt.Fprintf(progress, "rolling back %s from %s to revision %s (%s)\n", rb.Workload, rb.From(), rb.ToRevision, strings.Join(rb.Images, ", "))
		if err := undoOne(ctx, c, ns, t, history[t.Ref.Name]); err != nil {
			return rbs, fmt.Errorf("rolling back %s: %w", rb.Workload, err)
		}
		rbs = append(rbs, rb)
		refs = append(refs, t.Ref)
	}
	res, werr := follow(ctx, c, rollout.Options{Namespace: ns, Workloads: refs, Timeout: timeout, Progress: progress}, false)
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

// undoOne marks the failed revision (automatic rollbacks) and restores the target revision's pod template
// and annotations, as `kubectl rollout undo` does.
func undoOne(ctx context.Context, c *kube.Client, ns string, t undoTarget, history map[int64]revision) error {
	if t.Reason != "" {
		if from, ok := history[number(t.From)]; ok {
			if err := markFailed(ctx, c, ns, from.rs.Name, t.Reason); err != nil {
				return err
			}
		}
	}
	to, ok := history[number(t.To.Number)]
	if !ok {
		return fmt.Errorf("revision %s is no longer in its history (revisionHistoryLimit too low?)", t.To.Number)
	}
	// The patch is guarded by the resourceVersion it read. The Deployment controller bumps it with every status
	// update while a rollout is under way, so a guard that fails is read again, a few times, before giving up.
	for attempt := 1; ; attempt++ {
		patch, err := undoPatch(ctx, c, ns, t.Ref.Name, to.rs)
		if err != nil {
			return err
		}
		_, err = c.Patch(ctx, kube.DeploymentKind, ns, t.Ref.Name, types.JSONPatchType, patch, RollbackManager)
		if err == nil || attempt == undoAttempts || !(kube.HasReason(err, kube.Invalid) || kube.HasReason(err, kube.Conflict)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// undoAttempts bounds the re-reads of a Deployment whose resourceVersion moved under the rollback's patch.
const undoAttempts = 5

func markFailed(ctx context.Context, c *kube.Client, ns, rs, reason string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{FailedAnnotation: firstLine(reason)}}})
	if _, err := c.Patch(ctx, kube.ReplicaSetKind, ns, rs, types.MergePatchType, patch, RollbackManager); err != nil {
		return fmt.Errorf("recording the failed revision on replicaset %s: %w", rs, err)
	}
	return nil
}

// annotationsKept are the Deployment's own annotations a rollback keeps (as kubectl rollout undo does);
// every other annotation comes from the restored revision, the release record among them.
var annotationsKept = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true, rollout.RevisionAnnotation: true,
	"deployment.kubernetes.io/revision-history": true, "deployment.kubernetes.io/desired-replicas": true,
	"deployment.kubernetes.io/max-replicas": true, "deprecated.deployment.rollback.to": true, FailedAnnotation: true,
}

// undoPatch is the JSON patch that puts a ReplicaSet's template and annotations back on its Deployment,
// guarded by the Deployment's resourceVersion so a concurrent change is not overwritten.
func undoPatch(ctx context.Context, c *kube.Client, ns, name string, rs *appsv1.ReplicaSet) ([]byte, error) {
	live, err := c.Get(ctx, kube.DeploymentKind, ns, name)
	if err != nil {
		return nil, err
	}
	tmpl := rs.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	ann := map[string]string{}
	for k, v := range live.GetAnnotations() {
		if annotationsKept[k] {
			ann[k] = v
		}
	}
	for k, v := range rs.Annotations {
		if !annotationsKept[k] {
			ann[k] = v
		}
	}
	return json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": live.GetResourceVersion()},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": ann},
	})
}

// RollbackOptions configure a manual rollback.
type RollbackOptions struct {
	App, Overlay, Namespace string
	ToRevision              int64 // 0 = the newest earlier revision that did not fail
	Timeout                 time.Duration
	LockWait                time.Duration
	Progress                io.Writer
	// IfInterrupted makes the rollback the cleanup of a cancelled CI job: it undoes only what an interrupted
	// deploy or promote of this release revision left in place, and changes nothing otherwise.
	IfInterrupted string
}

// Rollback manually rolls the overlay's Deployments back and waits until they are healthy.
func Rollback(ctx context.Context, c *kube.Client, o RollbackOptions) (*report.Report, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	rep := &report.Report{Action: "rollback", Overlay: o.Overlay, Namespace: o.Namespace, Started: time.Now()}
	ctx, l, err := acquire(ctx, c, Options{Namespace: o.Namespace, Owner: "manual rollback", LockWait: o.LockWait, Progress: o.Progress, Now: time.Now},
		o.Namespace, lock.Work{Action: "rollback"}, rep)
	if err != nil {
		return rep, err
	}
	defer release(ctx, l, rep, o.Progress)
	l.phase(ctx, PhaseRollBack)
	owner := kube.Owner{App: o.App, Overlay: o.Overlay}
	var targets []undoTarget
	if o.IfInterrupted != "" {
		var nothing string
		targets, nothing, err = leftByInterrupt(ctx, c, o.Namespace, owner, o.IfInterrupted, l.l.Superseded)
		if err == nil && len(targets) == 0 {
			rep.Finished, rep.Succeeded, rep.Summary = time.Now(), true, nothing
			fmt.Fprintln(o.Progress, nothing)
			return rep, nil
		}
	} else {
		targets, err = manualTargets(ctx, c, o.Namespace, owner, o.ToRevision)
	}
	if err != nil {
		return rep, err
	}
	rep.Rollbacks, err = undo(ctx, c, o.Namespace, targets, o.Timeout, o.Progress)
	rep.Finished = time.Now()
	if err != nil {
		rep.Summary = err.Error()
		return rep, lockCause(ctx, err)
	}
	rep.Succeeded = true
	rep.Summary = fmt.Sprintf("rolled back %d deployment(s), healthy", len(targets))
	return rep, nil
}

// manualTargets finds the owner's Deployments and the revision each goes back to.
func manualTargets(ctx context.Context, c *kube.Client, ns string, owner kube.Owner, toRevision int64) ([]undoTarget, error) {
	targets, err := ownerTargets(ctx, c, ns, owner, toRevision, func(revision) bool { return true }, "")
	if err == nil && len(targets) == 0 {
		return nil, fmt.Errorf("no deployments of app %q overlay %q in namespace %s: nothing to roll back", owner.App, owner.Overlay, ns)
	}
	return targets, err
}

// ownerTargets reads the owner's Deployments and, for each that keep accepts, picks the revision it goes
// back to (toRevision, or with 0 the newest earlier one ship did not see fail); reason is recorded on the
// revision undone. The targets are sorted by name.
func ownerTargets(ctx context.Context, c *kube.Client, ns string, owner kube.Owner, toRevision int64, keep func(revision) bool, reason string) ([]undoTarget, error) {
	cur, err := deploymentRevisions(ctx, c, ns, owner.Selector())
	if err != nil {
		return nil, fmt.Errorf("finding the deployments to roll back: %w", err)
	}
	if len(cur) == 0 {
		return nil, nil
	}
	history, err := revisionHistory(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	var targets []undoTarget
	for name, rev := range cur {
		if !keep(rev) {
			continue
		}
		to, err := pickRevision(name, rev.Number, history[name], toRevision)
		if err != nil {
			return nil, err
		}
		targets = append(targets, undoTarget{Ref: kube.Ref{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: ns, Name: name},
			From: rev.Number, To: to, Reason: reason})
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].Ref.Name < targets[j].Ref.Name })
	return targets, nil
}

// leftByInterrupt finds what an interrupted deploy or promote of wantRevision left unverified: the overlay's
// Deployments that run its image, each going back to the newest earlier revision ship did not see fail.
// With nothing to undo it says why instead.
func leftByInterrupt(ctx context.Context, c *kube.Client, ns string, owner kube.Owner, wantRevision string, sup *lock.Interrupted) ([]undoTarget, string, error) {
	switch {
	case sup == nil:
		return nil, fmt.Sprintf("no deploy was left interrupted in namespace %s: nothing to roll back", ns), nil
	case sup.Work.Revision != wantRevision || !isRelease(sup.Work):
		return nil, fmt.Sprintf("the interrupted %s is not a deploy of revision %s: nothing rolled back", sup.What(), wantRevision), nil
	case !leftUnverified(sup):
		return nil, fmt.Sprintf("the interrupted %s stopped during %q, when no Deployment was left unverified: nothing to roll back", sup.What(), sup.Stage()), nil
	}
	runsIt := func(rev revision) bool {
		return slices.ContainsFunc(rev.Images, func(img string) bool { return SameDigest(img, sup.Work.Image) })
	}
	targets, err := ownerTargets(ctx, c, ns, owner, 0, runsIt, "interrupted: "+sup.What()+" stopped before its rollout was seen healthy")
	if err != nil || len(targets) > 0 {
		return targets, "", err
	}
	return nil, fmt.Sprintf("no Deployment of the overlay runs %s, which the interrupted deploy applied: nothing to roll back", sup.Work.Image), nil
}

// The phases a deploy announces in its lock, so whoever takes over an interrupted one knows where it stopped.
const (
	PhaseJobs     = "pre-deploy jobs"
	PhaseApply    = "apply"
	PhaseRollout  = "rollout"
	PhaseRollBack = "roll back"
	PhaseRecord   = "record and prune"
)

// leftUnverified says whether an interrupted holder was a deploy or promote stopped in a phase during which
// its Deployments may run a template not yet seen healthy. Before those phases nothing was applied; after
// them (PhaseRecord) the rollout was healthy.
func leftUnverified(i *lock.Interrupted) bool {
	return isRelease(i.Work) && (i.Phase == PhaseApply || i.Phase == PhaseRollout || i.Phase == PhaseRollBack)
}

// isRelease: the lock's work is a deploy or a promote, not a rollback.
func isRelease(w lock.Work) bool { return w.Action == "deploy" || w.Action == "promote" }

// revisionHistory maps deployment name -> revision number -> that revision, from ReplicaSets.
func revisionHistory(ctx context.Context, c *kube.Client, ns string) (map[string]map[int64]revision, error) {
	objs, err := c.Read(ctx, ns, "", kube.ReplicaSetKind)
	if err != nil {
		return nil, fmt.Errorf("reading the revision history: %w", err)
	}
	h := map[string]map[int64]revision{}
	for i := range objs.ReplicaSets {
		rs := &objs.ReplicaSets[i]
		for _, o := range rs.OwnerReferences {
			n, err := strconv.ParseInt(rs.Annotations[rollout.RevisionAnnotation], 10, 64)
			if o.Kind != "Deployment" || err != nil {
				continue
			}
			if h[o.Name] == nil {
				h[o.Name] = map[int64]revision{}
			}
			h[o.Name][n] = revision{Number: strconv.FormatInt(n, 10), Images: podImages(rs.Spec.Template.Spec.Containers),
				Failed: rs.Annotations[FailedAnnotation], rs: rs}
		}
	}
	return h, nil
}

// pickRevision chooses the requested revision, or the newest one older than the current that did not fail.
func pickRevision(name, current string, history map[int64]revision, want int64) (revision, error) {
	cur := number(current)
	if want > 0 {
		rev, ok := history[want]
		switch {
		case !ok || want == cur:
			return revision{}, fmt.Errorf("deployment/%s has no revision %d to roll back to (current %s, known %s)", name, want, current, known(history))
		case rev.Failed != "":
			return revision{}, fmt.Errorf("deployment/%s revision %d is the one ship saw fail (%s): pick another (known %s)", name, want, rev.Failed, known(history))
		}
		return rev, nil
	}
	best := int64(0)
	for n, rev := range history {
		if n < cur && n > best && rev.Failed == "" {
			best = n
		}
	}
	if best == 0 {
		return revision{}, fmt.Errorf("deployment/%s has no earlier revision than %s that did not fail (known %s)", name, current, known(history))
	}
	return history[best], nil
}

func number(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func known(h map[int64]revision) string {
	var ns []int64
	for n := range h {
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return "none"
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	var s []string
	for _, n := range ns {
		item := strconv.FormatInt(n, 10)
		if h[n].Failed != "" {
			item += " (failed)"
		}
		s = append(s, item)
	}
	return strings.Join(s, ", ")
}
