// An interrupted deploy: its caller went away (Ctrl-C, a cancelled CI job, a job past its timeout-minutes)
// while it held the lock. It guards against leaving the new, unverified revision in place and the namespace
// locked: within a short grace period, with a context of its own, it rolls back the Deployments it changed
// and releases the lock. Where the runtime gives it no such time (the process is killed), the lock's short
// lease frees the namespace within seconds, and the lock itself tells the next deploy, status and rollback
// which revision was interrupted and where.
package deploy

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/report"
)

// InterruptGrace bounds what an interrupted deploy still does after its context ended. GitHub Actions sends
// SIGINT, then SIGTERM 7.5 s later, then kills after 10 s in all: the undo must fit.
const InterruptGrace = 8 * time.Second

// interrupted handles a deploy whose context ended (and not because its lock was lost: then the namespace is
// someone else's). It undoes what the deploy changed and returns the deploy's error.
func interrupted(ctx context.Context, c *kube.Client, p *plan, done *applied, before map[string]revision, rep *report.Report, cause error) error {
	if ctx.Err() == nil || lostLock(ctx) != nil {
		return lockCause(ctx, cause)
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), InterruptGrace)
	defer cancel()
	fmt.Fprintf(p.o.Progress, "the deploy was interrupted (%v): undoing what it changed\n", context.Cause(ctx))
	targets, err := interruptedTargets(gctx, c, p, done, before)
	if err != nil {
		rep.Interrupted = "interrupted; could not read what it changed (" + firstLine(err.Error()) + "): run status, then deploy again or roll back"
		return fmt.Errorf("the deploy was interrupted: %w", cause)
	}
	if len(targets) == 0 {
		rep.Interrupted = "interrupted before any Deployment's pod template changed: nothing to undo"
		if len(rep.Jobs) > 0 && rep.JobsDone.IsZero() {
			rep.Interrupted += "; a pre-deploy job that had started runs on in the cluster, and the next deploy of this revision waits for it"
		}
		return fmt.Errorf("the deploy was interrupted: %w", cause)
	}
	rbs, err := undo(gctx, c, p.namespace, targets, InterruptGrace, p.o.Progress)
	rep.Rollbacks = rbs
	switch {
	case len(rbs) < len(targets):
		rep.Interrupted = "interrupted; rolling back did not finish (" + firstLine(err.Error()) + "): the next deploy, status and rollback report it"
		return fmt.Errorf("the deploy was interrupted and its rollback did not finish (%v): %w", firstLine(err.Error()), cause)
	case err != nil:
		// Every template is restored; only the wait for health ran out of grace.
		rep.Interrupted = fmt.Sprintf("interrupted; rolled back %d Deployment(s) to the revision they had before (not seen healthy within %s: check status)", len(rbs), InterruptGrace)
	default:
		rep.Interrupted = fmt.Sprintf("interrupted; rolled back %d Deployment(s) to the revision they had before", len(rbs))
	}
	return fmt.Errorf("the deploy was interrupted and rolled back: %w", cause)
}

// interruptedTargets are the Deployments the apply changed whose revision moved since before the deploy, or
// whose change the Deployment controller has not yet seen: an interrupt can come right after the apply,
// before the controller made a revision of the new template, and that template would still roll out.
func interruptedTargets(ctx context.Context, c *kube.Client, p *plan, done *applied, before map[string]revision) ([]undoTarget, error) {
	var changed []kube.Ref
	for _, w := range changedWorkloads(done) {
		if prev, existed := before[w.Name]; w.Kind == "Deployment" && existed && prev.Number != "" {
			changed = append(changed, w)
		}
	}
	if len(changed) == 0 {
		return nil, nil
	}
	now, err := seenRevisions(ctx, c, p.namespace, changed, unseenWait)
	if err != nil {
		return nil, err
	}
	var history map[string]map[int64]revision
	var targets []undoTarget
	for _, w := range changed {
		prev, cur := before[w.Name], now[w.Name]
		t := undoTarget{Ref: w, From: cur.Number, To: prev, Reason: "the deploy was interrupted before the rollout was seen healthy"}
		switch {
		case cur.Unseen:
			if history == nil {
				if history, err = revisionHistory(ctx, c, p.namespace); err != nil {
					return nil, err
				}
			}
			if rs := history[w.Name][number(prev.Number)].rs; rs != nil && sameTemplate(cur.template, &rs.Spec.Template) {
				continue // the apply changed something else (replicas, strategy): no new pods to undo
			}
			t.From = "" // restoring the template is right whether or not the controller makes a revision first
		case cur.Number == prev.Number:
			continue
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// sameTemplate says whether a Deployment's template is its ReplicaSet's, as the Deployment controller
// decides it: equal but for the pod-template-hash label the controller adds.
func sameTemplate(live, rs *corev1.PodTemplateSpec) bool {
	a, b := live.DeepCopy(), rs.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return equality.Semantic.DeepEqual(a, b)
}

// unseenWait bounds, within the grace, the wait for the controller to see the applied change. It usually
// takes milliseconds; past this the change is undone unseen.
const unseenWait = 2 * time.Second

// seenRevisions reads the Deployments' revisions once the controller has seen the latest spec of each of
// refs, or once wait has passed.
func seenRevisions(ctx context.Context, c *kube.Client, ns string, refs []kube.Ref, wait time.Duration) (map[string]revision, error) {
	deadline := time.Now().Add(wait)
	for {
		now, err := deploymentRevisions(ctx, c, ns, "")
		if err != nil {
			return nil, err
		}
		unseen := false
		for _, r := range refs {
			unseen = unseen || now[r.Name].Unseen
		}
		if !unseen || time.Now().After(deadline) {
			return now, nil
		}
		select {
		case <-ctx.Done():
			return now, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}
