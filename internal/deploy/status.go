// Status answers "what is running right now": per workload of the overlay, its revision, images and
// replica counts, read from the cluster rather than remembered from the last deploy.
package deploy

import (
	"context"
	"fmt"
	"strings"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/rollout"
)

// WorkloadStatus is one workload's current state.
type WorkloadStatus struct {
	Name                               string // "deployment/app"
	Revision                           string
	Images                             []string
	Desired, Updated, Ready, Available int32
}

// StatusResult is the overlay's workloads in one namespace.
type StatusResult struct {
	Namespace, Overlay string
	Workloads          []WorkloadStatus
}

func (s *StatusResult) String() string {
	if len(s.Workloads) == 0 {
		return fmt.Sprintf("namespace %s: no workloads of overlay %s", s.Namespace, s.Overlay)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "namespace %s, overlay %s:\n", s.Namespace, s.Overlay)
	for _, w := range s.Workloads {
		fmt.Fprintf(&b, "  %s: revision %s, %d/%d ready, %d updated, %d available, image %s\n",
			w.Name, w.Revision, w.Ready, w.Desired, w.Updated, w.Available, strings.Join(w.Images, ", "))
	}
	return b.String()
}

// Status reads the overlay's workloads.
func Status(ctx context.Context, r kube.Runner, namespace, overlay string) (*StatusResult, error) {
	out, err := kube.Exec(ctx, r, kube.GetWorkloads(namespace, kube.OwnedSelector(overlay)))
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	objs, err := kube.DecodeList(out)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	res := &StatusResult{Namespace: namespace, Overlay: overlay}
	for _, d := range objs.Deployments {
		res.Workloads = append(res.Workloads, WorkloadStatus{Name: "deployment/" + d.Name, Revision: d.Annotations[rollout.RevisionAnnotation],
			Images: templateImages(d), Desired: replicas(d.Spec.Replicas), Updated: d.Status.UpdatedReplicas, Ready: d.Status.ReadyReplicas, Available: d.Status.AvailableReplicas})
	}
	for _, s := range objs.StatefulSets {
		res.Workloads = append(res.Workloads, WorkloadStatus{Name: "statefulset/" + s.Name, Revision: s.Status.UpdateRevision,
			Images: podImages(s.Spec.Template.Spec.Containers), Desired: replicas(s.Spec.Replicas), Updated: s.Status.UpdatedReplicas, Ready: s.Status.ReadyReplicas, Available: s.Status.AvailableReplicas})
	}
	for _, ds := range objs.DaemonSets {
		res.Workloads = append(res.Workloads, WorkloadStatus{Name: "daemonset/" + ds.Name, Revision: fmt.Sprint(ds.Generation),
			Images: podImages(ds.Spec.Template.Spec.Containers), Desired: ds.Status.DesiredNumberScheduled, Updated: ds.Status.UpdatedNumberScheduled, Ready: ds.Status.NumberReady, Available: ds.Status.NumberAvailable})
	}
	return res, nil
}
