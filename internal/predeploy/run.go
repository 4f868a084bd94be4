// Running the pre-deploy jobs: one after another in manifest order, each created (or found, when this
// revision's run already exists) and followed through a watch until it completes, fails or gets stuck.
// Guards against a deploy that waits forever on a migration pod that can never start (a missing image or
// Secret fails it at once, as it fails a rollout), and against re-running a migration that already
// completed for the same revision.
package predeploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"dagger/ship/internal/diagnose"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/report"
	"dagger/ship/internal/rollout"
)

// settle is how long after a Job's deadline the wait goes on, for the Job controller to mark it failed.
const settle = 30 * time.Second

// Options configure Run.
type Options struct {
	Namespace string
	Progress  io.Writer
	Now       func() time.Time
}

// Failure is a pre-deploy job that did not complete: nothing after it was applied.
type Failure struct {
	Job    string // "job.batch/migrate-0a1b2c3d"
	Reason string
}

func (f *Failure) Error() string {
	return fmt.Sprintf("pre-deploy job %s failed: %s", f.Job, f.Reason)
}

// Result is what the jobs did, for the report.
type Result struct {
	Jobs      []report.Job
	Diagnosis []string // of the job that failed
}

// Run runs the jobs in order and stops at the first that does not complete.
func Run(ctx context.Context, c *kube.Client, jobs []Job, o Options) (*Result, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	res := &Result{}
	for _, j := range jobs {
		start := o.Now()
		row, pods, err := runOne(ctx, c, j, o)
		row.Name, row.Duration = j.Ref.String(), o.Now().Sub(start)
		res.Jobs = append(res.Jobs, row)
		if err == nil {
			continue
		}
		var f *Failure
		if errors.As(err, &f) {
			d := diagnose.Collect(ctx, c, diagnose.Input{Namespace: o.Namespace, Workload: j.Ref.String(), Owners: []string{j.Name}, Pods: pods})
			res.Diagnosis = append(res.Diagnosis, d.String())
		}
		return res, err
	}
	return res, nil
}

// Plan says what a deploy would do with the job, and whether it would run it.
func Plan(ctx context.Context, c *kube.Client, j Job) (string, bool, error) {
	existing, err := get(ctx, c, j.Namespace, j.Name)
	if err != nil {
		return "", false, err
	}
	switch {
	case existing == nil:
		return "would run, to completion, before any other object changes", true, nil
	case finished(existing) == batchv1.JobComplete:
		return "already completed for this revision (" + completedAt(existing) + "): would not run again", false, nil
	case finished(existing) == batchv1.JobFailed:
		return "failed before for this revision: would run again", true, nil
	default:
		return "running now (started by another deploy): the deploy would wait for it", true, nil
	}
}

// runOne creates the job (or reuses this revision's run) and waits for its verdict.
func runOne(ctx context.Context, c *kube.Client, j Job, o Options) (report.Job, []corev1.Pod, error) {
	existing, err := get(ctx, c, o.Namespace, j.Name)
	if err != nil {
		return report.Job{Outcome: "not run"}, nil, err
	}
	switch {
	case existing != nil && finished(existing) == batchv1.JobComplete:
		fmt.Fprintf(o.Progress, "%s already completed for this revision: not run again\n", j.Ref)
		return report.Job{Outcome: "already completed for this revision", Detail: "completed " + completedAt(existing)}, nil, nil
	case existing != nil && finished(existing) == batchv1.JobFailed:
		fmt.Fprintf(o.Progress, "%s failed before for this revision: running it again\n", j.Ref)
		if err := remove(ctx, c, o.Namespace, j.Name); err != nil {
			return report.Job{Outcome: "not run"}, nil, err
		}
	case existing != nil:
		fmt.Fprintf(o.Progress, "%s is already running for this revision (an interrupted deploy started it): waiting for it\n", j.Ref)
	}
	if existing == nil || finished(existing) == batchv1.JobFailed {
		if err := create(ctx, c, j); err != nil {
			return report.Job{Outcome: "not run"}, nil, err
		}
		fmt.Fprintf(o.Progress, "%s created: waiting for it to complete\n", j.Ref)
	}
	pods, err := wait(ctx, c, j, o)
	if err != nil {
		var f *Failure
		if errors.As(err, &f) {
			return report.Job{Outcome: "failed", Detail: f.Reason}, pods, err
		}
		return report.Job{Outcome: "not finished", Detail: err.Error()}, pods, err
	}
	fmt.Fprintf(o.Progress, "%s completed\n", j.Ref)
	return report.Job{Outcome: "completed"}, pods, nil
}

// create applies the job; a new name per revision means it never meets an existing Job's immutable template.
func create(ctx context.Context, c *kube.Client, j Job) error {
	if _, err := c.Apply(ctx, j.Body, kube.ApplyOptions{}); err != nil {
		return fmt.Errorf("creating pre-deploy job: %w", err)
	}
	return nil
}

// wait follows the job and its pods until it completes (nil), fails or is stuck (*Failure), or ctx ends.
func wait(ctx context.Context, c *kube.Client, j Job, o Options) ([]corev1.Pod, error) {
	deadline := j.deadline()
	ctx, cancel := context.WithTimeout(ctx, deadline+settle)
	defer cancel()
	w := c.Watch(ctx, o.Namespace, kube.JobKind, kube.PodKind)
	var pods []corev1.Pod
	for {
		snap, _, err := w.Next(ctx, time.Second)
		if errors.Is(err, context.DeadlineExceeded) {
			return pods, &Failure{Job: j.Ref.String(), Reason: fmt.Sprintf("not finished %s after its deadline (activeDeadlineSeconds %d)", settle, int(deadline.Seconds()))}
		}
		if err != nil {
			return pods, fmt.Errorf("waiting for %s: %w", j.Ref, err)
		}
		if snap == nil {
			continue
		}
		job := findJob(snap.Jobs, j.Name)
		if job == nil {
			continue
		}
		pods = podsOf(snap.Pods, job)
		if verdict, err := judge(j, job, pods, o.Now()); verdict {
			return pods, err
		}
	}
}

// judge decides from the Job's conditions, or from a pod that can never run; false while it may still finish.
func judge(j Job, job *batchv1.Job, pods []corev1.Pod, now time.Time) (bool, error) {
	for _, cond := range job.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			continue
		}
		switch cond.Type {
		case batchv1.JobComplete:
			return true, nil
		case batchv1.JobFailed:
			return true, &Failure{Job: j.Ref.String(), Reason: joinReason(cond.Reason, cond.Message)}
		}
	}
	for _, p := range pods {
		for _, problem := range rollout.PodProblems(p, now, rollout.Policy{UnschedulableGrace: rollout.DefaultUnschedulableGrace}) {
			// A crash loop is the Job's own retries: its backoffLimit decides, not us.
			if problem.Reason != "CrashLoopBackOff" {
				return true, &Failure{Job: j.Ref.String(), Reason: problem.String()}
			}
		}
	}
	return false, nil
}

func joinReason(reason, message string) string {
	if message == "" {
		return reason
	}
	return reason + ": " + message
}

func findJob(jobs []batchv1.Job, name string) *batchv1.Job {
	for i := range jobs {
		if jobs[i].Name == name {
			return &jobs[i]
		}
	}
	return nil
}

// podsOf are the job's pods, by owner UID (a re-created job of the same name has new pods).
func podsOf(pods []corev1.Pod, job *batchv1.Job) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		for _, ref := range p.OwnerReferences {
			if ref.UID == job.UID {
				out = append(out, p)
			}
		}
	}
	return out
}

// finished is JobComplete or JobFailed once the job has ended, "" while it runs.
func finished(job *batchv1.Job) batchv1.JobConditionType {
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return c.Type
		}
	}
	return ""
}

func completedAt(job *batchv1.Job) string {
	if job.Status.CompletionTime == nil {
		return "earlier"
	}
	return job.Status.CompletionTime.UTC().Format(time.RFC3339)
}
