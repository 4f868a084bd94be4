// Reading, removing and cleaning up pre-deploy jobs. The cleanup rule: of each pre-deploy job (by its name in
// the manifests), the KeepRuns newest finished runs stay, for their logs and as a record of what ran; older
// finished runs are deleted with their pods; a run still going is never touched. It runs after a healthy
// deploy only, so a failed run stays for whoever investigates it.
package predeploy

import (
	"context"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"dagger/ship/internal/kube"
)

// get reads a job, nil when it does not exist.
func get(ctx context.Context, c *kube.Client, ns, name string) (*batchv1.Job, error) {
	u, err := c.Get(ctx, kube.JobKind, ns, name)
	if kube.HasReason(err, kube.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading pre-deploy job %s: %w", name, err)
	}
	objs := &kube.Objects{}
	if err := objs.Add(u); err != nil {
		return nil, err
	}
	return &objs.Jobs[0], nil
}

// remove deletes a job with its pods and waits until it is gone, so a run of the same name can be created.
func remove(ctx context.Context, c *kube.Client, ns, name string) error {
	if err := c.Delete(ctx, kube.JobKind, ns, name, nil); err != nil && !kube.HasReason(err, kube.NotFound) {
		return fmt.Errorf("deleting the failed run of %s: %w", name, err)
	}
	for {
		job, err := get(ctx, c, ns, name)
		if err != nil || job == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the failed run of %s to be deleted: %w", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Clean deletes the owner's finished pre-deploy runs beyond the KeepRuns newest of each job; it returns
// the deleted ones.
func Clean(ctx context.Context, c *kube.Client, ns string, owner kube.Owner) ([]kube.Ref, error) {
	objs, err := c.Read(ctx, ns, owner.Selector(), kube.JobKind)
	if err != nil {
		return nil, fmt.Errorf("listing pre-deploy jobs to clean up: %w", err)
	}
	var deleted []kube.Ref
	for _, runs := range byJob(objs.Jobs) {
		for _, job := range expired(runs) {
			if err := c.Delete(ctx, kube.JobKind, ns, job.Name, nil); err != nil && !kube.HasReason(err, kube.NotFound) {
				return deleted, fmt.Errorf("cleaning up pre-deploy job %s: %w", job.Name, err)
			}
			deleted = append(deleted, kube.Ref{Group: "batch", Version: "v1", Kind: "Job", Namespace: ns, Name: job.Name})
		}
	}
	sort.Slice(deleted, func(a, b int) bool { return deleted[a].Name < deleted[b].Name })
	return deleted, nil
}

// byJob groups pre-deploy runs by the job's name in the manifests.
func byJob(jobs []batchv1.Job) map[string][]batchv1.Job {
	out := map[string][]batchv1.Job{}
	for _, j := range jobs {
		if base := j.Labels[kube.PreDeployJobLabel]; base != "" {
			out[base] = append(out[base], j)
		}
	}
	return out
}

// expired are the finished runs older than the KeepRuns newest finished ones.
func expired(runs []batchv1.Job) []batchv1.Job {
	var done []batchv1.Job
	for _, j := range runs {
		if finished(&j) != "" {
			done = append(done, j)
		}
	}
	sort.SliceStable(done, func(a, b int) bool {
		return done[b].CreationTimestamp.Before(&done[a].CreationTimestamp) // newest first
	})
	if len(done) <= KeepRuns {
		return nil
	}
	return done[KeepRuns:]
}
