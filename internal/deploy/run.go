// Run: lock -> apply -> wait -> (diagnose, roll back) -> report. The deploy tells the truth: it returns an
// error whenever the workloads are not healthy, even after a successful rollback, and the report and the
// error both say what failed, why, and what was rolled back to. The lock is always released.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"dagger/ship/internal/diagnose"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/lock"
	"dagger/ship/internal/report"
	"dagger/ship/internal/rollout"
)

// Failure is a deploy that did not end healthy; Report holds the full account.
type Failure struct {
	Report *report.Report
	Cause  error
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploy of %s to namespace %s failed: %v", f.Report.Overlay, f.Report.Namespace, f.Cause)
	for _, rb := range f.Report.Rollbacks {
		state := "healthy again"
		if !rb.Healthy {
			state = "NOT healthy: " + rb.Detail
		}
		fmt.Fprintf(&b, "\nrolled back %s to revision %s (%s), %s", rb.Workload, rb.ToRevision, strings.Join(rb.Images, ", "), state)
	}
	if f.Report.RollbackNote != "" {
		fmt.Fprintf(&b, "\n%s", f.Report.RollbackNote)
	}
	for _, d := range f.Report.Diagnosis {
		fmt.Fprintf(&b, "\n%s", strings.TrimRight(d, "\n"))
	}
	return b.String()
}

func (f *Failure) Unwrap() error { return f.Cause }

// Run deploys the rendered manifests and returns an error unless every workload rolled out.
func Run(ctx context.Context, r kube.Runner, o Options) (*report.Report, error) {
	p, err := prepare(o)
	if err != nil {
		return nil, err
	}
	o = p.o
	rep := &report.Report{Action: "deploy", Overlay: o.Overlay, Namespace: p.namespace, Image: o.Image, Started: o.Now()}
	sctx, end := o.stage(ctx, "lock "+p.namespace)
	l, err := acquire(sctx, r, o, p.namespace, rep)
	end()
	if err != nil {
		return finish(rep, o, err)
	}
	defer release(ctx, l, rep, o.Progress)
	before, stale, err := readBefore(ctx, r, p)
	if err != nil {
		return finish(rep, o, err)
	}
	sctx, end = o.stage(ctx, "apply")
	rep.Changes, err = apply(sctx, r, p)
	end()
	rep.Applied = o.Now()
	if err != nil {
		return finish(rep, o, err)
	}
	printChanges(o.Progress, rep.Changes)
	sctx, end = o.stage(ctx, "wait for rollout")
	res, werr := rollout.Wait(sctx, r, rollout.Options{Namespace: p.namespace, Workloads: p.workloads, Services: p.hasLoadBalancer(),
		Timeout: o.Timeout, UnschedulableGrace: o.UnschedulableGrace, Progress: o.Progress, Now: o.Now})
	end()
	rep.Workloads = workloadRows(res)
	if werr != nil {
		rep.Changes = append(rep.Changes, changesAll(stale, "kept: not pruned, the rollout failed")...)
		sctx, end = o.stage(ctx, "diagnose and roll back")
		defer end()
		return finish(rep, o, recoverFailure(sctx, r, p, res, werr, before, rep))
	}
	rep.Addresses = addresses(res.Last, o.Overlay)
	sctx, end = o.stage(ctx, "prune")
	pruned, err := prune(sctx, r, p.namespace, stale)
	end()
	printChanges(o.Progress, pruned)
	rep.Changes = append(rep.Changes, pruned...)
	return finish(rep, o, err)
}

// readBefore reads, at once and before anything is applied, the Deployments' current revisions (what a
// failed rollout returns to) and the owned objects the new set no longer renders (pruned once it is healthy).
func readBefore(ctx context.Context, r kube.Runner, p *plan) (map[string]revision, []string, error) {
	var before map[string]revision
	var stale []string
	var revErr, pruneErr error
	parallel(func() { before, revErr = deploymentRevisions(ctx, r, p.namespace, "") },
		func() { stale, pruneErr = prunable(ctx, r, p) })
	if err := errors.Join(revErr, pruneErr); err != nil {
		return nil, nil, fmt.Errorf("reading the namespace before the apply (nothing applied yet): %w", err)
	}
	return before, stale, nil
}

func acquire(ctx context.Context, r kube.Runner, o Options, ns string, rep *report.Report) (*lock.Lock, error) {
	l, err := lock.Acquire(ctx, r, lock.Options{Namespace: ns, Holder: holder(o.Owner), TTL: o.LockTTL, Wait: o.LockWait, Progress: o.Progress, Now: o.Now})
	if err != nil {
		return nil, err
	}
	rep.LockAcquired = l.AcquiredAt
	l.KeepAlive(ctx)
	return l, nil
}

// release frees the lock even when ctx is done: a cancelled deploy must not block the next for a TTL.
func release(ctx context.Context, l *lock.Lock, rep *report.Report, progress io.Writer) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rep.LockReleased = time.Now() // taken before the release: the lock is certainly ours until then
	if err := l.Release(ctx); err != nil {
		fmt.Fprintf(progress, "releasing the deploy lock: %v\n", err)
	}
}

// recoverFailure diagnoses the failed workloads and rolls back the ones this deploy changed.
func recoverFailure(ctx context.Context, r kube.Runner, p *plan, res *rollout.Result, werr error, before map[string]revision, rep *report.Report) error {
	var rerr *rollout.Error
	if !errors.As(werr, &rerr) {
		return werr // infrastructure or context failure, not a rollout verdict
	}
	for _, w := range res.Failed() {
		d := diagnose.Collect(ctx, r, diagnose.Input{Namespace: p.namespace, Workload: rollout.Short(w.Workload), Owners: w.Owners, Pods: w.Pods})
		rep.Diagnosis = append(rep.Diagnosis, d.String())
	}
	targets, notes := rollbackTargets(res.Failed(), before)
	if p.o.NoRollback {
		notes = []string{"automatic rollback is off: the failed revision is still in place; run the rollback function to undo it"}
		targets = nil
	}
	rep.RollbackNote = strings.Join(notes, "\n")
	if len(targets) == 0 {
		return werr
	}
	rbs, err := undo(ctx, r, p.namespace, targets, p.o.Timeout, p.o.Progress)
	rep.Rollbacks = rbs
	if err != nil {
		return fmt.Errorf("%w; then %v", werr, err)
	}
	return werr
}

func finish(rep *report.Report, o Options, err error) (*report.Report, error) {
	rep.Finished = o.Now()
	if err != nil {
		rep.Summary = firstLine(err.Error())
		f := &Failure{Report: rep, Cause: err}
		fmt.Fprintln(o.Progress, f.Error())
		return rep, f
	}
	rep.Succeeded = true
	rep.Summary = fmt.Sprintf("%d workload(s) rolled out in %s", len(rep.Workloads), rep.Finished.Sub(rep.Started).Round(100*time.Millisecond))
	fmt.Fprintln(o.Progress, rep.Summary)
	return rep, nil
}

func workloadRows(res *rollout.Result) []report.Workload {
	if res == nil {
		return nil
	}
	var rows []report.Workload
	for _, w := range res.Workloads {
		rows = append(rows, report.Workload{Name: rollout.Short(w.Workload), Outcome: string(w.Outcome), Revision: w.Revision,
			Images: w.Images, Duration: w.Duration(), Observed: w.Finished, Reason: reasonIfNot(w)})
	}
	return rows
}

func reasonIfNot(w rollout.WorkloadResult) string {
	if w.Outcome == rollout.RolledOut {
		return ""
	}
	return w.Reason
}

func printChanges(w io.Writer, changes []report.Change) {
	for _, c := range changes {
		fmt.Fprintf(w, "%s %s\n", c.Object, c.Action)
	}
}

// addresses lists the overlay's LoadBalancer ingress points, from the rollout's last snapshot.
func addresses(snap *kube.Objects, overlay string) []string {
	if snap == nil {
		return nil
	}
	var addrs []string
	for _, s := range snap.Services {
		if s.Labels[kube.ManagedByLabel] != kube.ManagedByValue || s.Labels[kube.OverlayLabel] != overlay {
			continue
		}
		for _, in := range s.Status.LoadBalancer.Ingress {
			host := in.Hostname
			if host == "" {
				host = in.IP
			}
			for _, port := range s.Spec.Ports {
				addrs = append(addrs, fmt.Sprintf("%s:%d (service/%s)", host, port.Port, s.Name))
			}
		}
	}
	return addrs
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
