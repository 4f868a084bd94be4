// Status answers "what is running right now": per workload of the app's overlay, its revision, images,
// replica counts and release record, read from the cluster rather than remembered from the last deploy.
package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/lock"
	"dagger/ship/internal/rollout"
)

// WorkloadStatus is one workload's current state.
type WorkloadStatus struct {
	Name                               string // "deployment/app"
	Revision                           string
	Images                             []string
	Desired, Updated, Ready, Available int32
	Release                            string // the release record, "" when none
}

// StatusResult is the owner's workloads in one namespace.
type StatusResult struct {
	Namespace, Overlay string
	Workloads          []WorkloadStatus
	Lock               *lock.State // the deploy that holds the namespace, or whose lease ran out unreleased
}

func (s *StatusResult) String() string {
	var b strings.Builder
	switch {
	case s.Lock != nil && s.Lock.Stale:
		fmt.Fprintf(&b, "INTERRUPTED: %s; its lock was not renewed for over %s. %s\n", &s.Lock.Interrupted, s.Lock.TTL, s.afterInterrupt())
	case s.Lock != nil:
		fmt.Fprintf(&b, "in progress: %s (phase %q; the lock is renewed every %s)\n", s.Lock.What(), s.Lock.Phase, s.Lock.TTL/3)
	}
	if len(s.Workloads) == 0 {
		fmt.Fprintf(&b, "namespace %s: no workloads of overlay %s", s.Namespace, s.Overlay)
		return b.String()
	}
	fmt.Fprintf(&b, "namespace %s, overlay %s:\n", s.Namespace, s.Overlay)
	for _, w := range s.Workloads {
		fmt.Fprintf(&b, "  %s: revision %s, %d/%d ready, %d updated, %d available, image %s\n",
			w.Name, w.Revision, w.Ready, w.Desired, w.Updated, w.Available, strings.Join(w.Images, ", "))
		if w.Release != "" {
			fmt.Fprintf(&b, "    release: %s\n", w.Release)
		}
	}
	return b.String()
}

// afterInterrupt says what to do about an interrupted holder: the exact cleanup when it was a deploy that
// may have left a revision unverified.
func (s *StatusResult) afterInterrupt() string {
	if rev := s.Lock.Work.Revision; rev != "" && leftUnverified(&s.Lock.Interrupted) {
		return fmt.Sprintf("Its revision may be running unverified: undo exactly that with `rollback --overlay %s --if-interrupted %s`, or deploy again.", s.Overlay, rev)
	}
	return "What it changed may be in place: deploy again, or roll back."
}

// Status reads the owner's workloads and the namespace's lock.
func Status(ctx context.Context, c *kube.Client, namespace string, owner kube.Owner) (*StatusResult, error) {
	var objs *kube.Objects
	var st *lock.State
	var readErr, lockErr error
	parallel(func() {
		objs, readErr = c.Read(ctx, namespace, owner.Selector(), kube.DeploymentKind, kube.StatefulSetKind, kube.DaemonSetKind)
	},
		func() { st, lockErr = lock.Inspect(ctx, c, namespace, time.Now()) })
	if err := firstError([]error{readErr, lockErr}); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	res := &StatusResult{Namespace: namespace, Overlay: owner.Overlay, Lock: st}
	for _, d := range objs.Deployments {
		rel, _ := releaseOf(d.Annotations)
		res.Workloads = append(res.Workloads, WorkloadStatus{Name: "deployment/" + d.Name, Revision: d.Annotations[rollout.RevisionAnnotation],
			Images: templateImages(d), Desired: replicas(d.Spec.Replicas), Updated: d.Status.UpdatedReplicas, Ready: d.Status.ReadyReplicas,
			Available: d.Status.AvailableReplicas, Release: rel.summary()})
	}
	for _, s := range objs.StatefulSets {
		rel, _ := releaseOf(s.Annotations)
		res.Workloads = append(res.Workloads, WorkloadStatus{Name: "statefulset/" + s.Name, Revision: s.Status.UpdateRevision,
			Images: podImages(s.Spec.Template.Spec.Containers), Desired: replicas(s.Spec.Replicas), Updated: s.Status.UpdatedReplicas,
			Ready: s.Status.ReadyReplicas, Available: s.Status.AvailableReplicas, Release: rel.summary()})
	}
	for _, ds := range objs.DaemonSets {
		rel, _ := releaseOf(ds.Annotations)
		res.Workloads = append(res.Workloads, WorkloadStatus{Name: "daemonset/" + ds.Name, Revision: fmt.Sprint(ds.Generation),
			Images: podImages(ds.Spec.Template.Spec.Containers), Desired: ds.Status.DesiredNumberScheduled, Updated: ds.Status.UpdatedNumberScheduled,
			Ready: ds.Status.NumberReady, Available: ds.Status.NumberAvailable, Release: rel.summary()})
	}
	return res, nil
}
