// Run: lock -> apply -> wait -> (diagnose, roll back) -> record -> prune -> report. The deploy tells the
// truth: it returns an error whenever the workloads are not healthy, even after a successful rollback, and
// the report and the error both say what failed, why, and what was rolled back to. An apply that fails
// half-way is followed like any other (the workloads it changed are waited on and rolled back). A deploy
// that loses its lock stops where it is: someone else owns the namespace then, so it neither prunes nor
// rolls back. The lock is always released (if still ours).
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
	"dagger/ship/internal/predeploy"
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
func Run(ctx context.Context, c *kube.Client, o Options) (*report.Report, error) {
	p, err := prepare(o)
	if err != nil {
		return nil, err
	}
	o = p.o
	rep := &report.Report{Action: o.action(), Overlay: o.Overlay, Namespace: p.namespace, Image: o.Image, Provenance: o.Provenance, Started: o.Now()}
	sctx, end := o.stage(ctx, "lock "+p.namespace)
	work := lock.Work{Action: o.action(), Image: o.Image, Revision: o.Release.Revision}
	ctx, l, err := acquire(sctx, c, o, p.namespace, work, rep)
	end()
	if err != nil {
		return finish(rep, o, err)
	}
	defer release(ctx, l, rep, o.Progress)
	b, err := readBefore(ctx, c, p)
	if err != nil {
		return finish(rep, o, lockCause(ctx, err))
	}
	if err := runJobs(ctx, c, p, l, rep); err != nil {
		return finish(rep, o, lockCause(ctx, err))
	}
	l.phase(ctx, PhaseApply)
	sctx, end = o.stage(ctx, "apply")
	done, err := applyAll(sctx, c, p, b, rep)
	end()
	rep.Applied = o.Now()
	if err != nil {
		var ae *ApplyError
		if errors.As(err, &ae) && ctx.Err() == nil {
			sctx, end = o.stage(ctx, "follow the partial apply")
			defer end()
			return finish(rep, o, recoverPartial(sctx, c, p, done, ae, b.revisions, rep))
		}
		return finish(rep, o, interrupted(ctx, c, p, done, b.revisions, rep, err))
	}
	l.phase(ctx, PhaseRollout)
	sctx, end = o.stage(ctx, "wait for rollout")
	res, werr := wait(sctx, c, p, p.workloads, p.hasLoadBalancer())
	end()
	rep.RolledOut = o.Now()
	rep.Workloads = workloadRows(res)
	if werr != nil {
		if ctx.Err() != nil {
			return finish(rep, o, interrupted(ctx, c, p, done, b.revisions, rep, werr))
		}
		rep.Changes = append(rep.Changes, changesAll(b.owned.stale, "kept: not pruned, the rollout failed")...)
		l.phase(ctx, PhaseRollBack)
		sctx, end = o.stage(ctx, "diagnose and roll back")
		defer end()
		return finish(rep, o, recoverFailure(sctx, c, p, res, werr, b.revisions, rep))
	}
	rep.Addresses = addresses(res.Last, o.owner())
	l.phase(ctx, PhaseRecord)
	return finish(rep, o, afterSuccess(ctx, c, p, b, rep))
}

// runJobs runs the pre-deploy jobs, once the cluster has accepted a dry-run of the whole release: a
// release it would refuse must not run its migration. Only the namespace objects are applied before them.
func runJobs(ctx context.Context, c *kube.Client, p *plan, l *held, rep *report.Report) error {
	if len(p.jobs) == 0 {
		return nil
	}
	l.phase(ctx, PhaseJobs)
	ctx, end := p.o.stage(ctx, "pre-deploy jobs")
	defer end()
	defer func() { rep.JobsDone = p.o.Now() }()
	if len(p.namespaces) > 0 {
		res := &applied{}
		err := applyValidated(ctx, c, p.namespaces, res)
		rep.Changes = append(rep.Changes, res.changes...)
		if err != nil {
			return err
		}
	}
	all := append([]kube.Object(nil), p.objects...)
	for _, j := range p.jobs {
		all = append(all, j.Object)
	}
	if err := dryRun(ctx, c, all); err != nil {
		return err
	}
	res, err := predeploy.Run(ctx, c, p.jobs, predeploy.Options{Namespace: p.namespace, Progress: p.o.Progress, Now: p.o.Now})
	if res != nil {
		rep.Jobs = res.Jobs
		rep.Diagnosis = append(rep.Diagnosis, res.Diagnosis...)
	}
	if err != nil {
		rep.RollbackNote = "the pre-deploy job did not complete, so nothing else was applied: every workload, Service and ConfigMap is as it was"
	}
	return err
}

// before is what the namespace held before the apply.
type before struct {
	revisions map[string]revision // Deployments' revisions: what a failed rollout returns to
	owned     *owned              // this owner's objects the new set no longer renders
}

// readBefore reads, all at once and before anything is applied, the Deployments' revisions, the owned
// objects no longer rendered, and the autoscalers already in the namespace.
func readBefore(ctx context.Context, c *kube.Client, p *plan) (*before, error) {
	b := &before{}
	var hpas *kube.Objects
	var revErr, pruneErr, hpaErr error
	parallel(func() { b.revisions, revErr = deploymentRevisions(ctx, c, p.namespace, "") },
		func() { b.owned, pruneErr = prunable(ctx, c, p) },
		func() { hpas, hpaErr = c.Read(ctx, p.namespace, "", kube.HPAKind) })
	if err := firstError([]error{revErr, pruneErr, hpaErr}); err != nil {
		return nil, fmt.Errorf("reading the namespace before the apply (nothing applied yet): %w", err)
	}
	p.addLiveAutoscalers(hpas)
	return b, nil
}

// applyAll leaves autoscaled replicas alone, then applies; it records what changed in the report.
func applyAll(ctx context.Context, c *kube.Client, p *plan, b *before, rep *report.Report) (*applied, error) {
	notes, err := leaveReplicas(ctx, c, p)
	rep.Notes = append(rep.Notes, notes...)
	if err != nil {
		return &applied{}, err
	}
	for _, r := range b.owned.legacy {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s: not pruned: it carries the overlay label of an older ship but no app label, so it may belong to another app; delete it by hand if it is this app's", r))
	}
	done, err := apply(ctx, c, p)
	rep.Changes = append(rep.Changes, done.changes...)
	printChanges(p.o.Progress, done.changes)
	return done, err
}

// wait follows the workloads through a watch of the namespace until they settle.
func wait(ctx context.Context, c *kube.Client, p *plan, workloads []kube.Ref, services bool) (*rollout.Result, error) {
	return follow(ctx, c, rollout.Options{Namespace: p.namespace, Workloads: workloads, Timeout: p.o.Timeout,
		UnschedulableGrace: p.o.UnschedulableGrace, Progress: p.o.Progress, Now: p.o.Now}, services)
}

// follow watches the namespace for o's workloads (and Services) for as long as rollout.Wait needs.
func follow(ctx context.Context, c *kube.Client, o rollout.Options, services bool) (*rollout.Result, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	return rollout.Wait(ctx, c.Watch(wctx, o.Namespace, rollout.Kinds(o.Workloads, services)...), o)
}

// afterSuccess records the release on the workloads, then prunes what is no longer rendered.
func afterSuccess(ctx context.Context, c *kube.Client, p *plan, b *before, rep *report.Report) error {
	rec := p.o.Release
	rec.Image, rec.At = p.o.Image, p.o.Now().UTC()
	if err := record(ctx, c, p, rec); err != nil {
		return lockCause(ctx, err)
	}
	rep.Release = rec.summary()
	if len(p.jobs) > 0 {
		cleaned, err := predeploy.Clean(ctx, c, p.namespace, p.o.owner())
		rep.Changes = append(rep.Changes, changesAll(cleaned, fmt.Sprintf("deleted: a finished pre-deploy run beyond the last %d", predeploy.KeepRuns))...)
		if err != nil {
			return fmt.Errorf("the new revision is healthy, but %w", err)
		}
	}
	if len(b.owned.stale) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return lockCause(ctx, ctx.Err())
	}
	sctx, end := p.o.stage(ctx, "prune")
	defer end()
	inUse, err := configInUse(sctx, c, p.namespace)
	if err != nil {
		return fmt.Errorf("the new revision is healthy, but %w", err)
	}
	pruned, err := prune(sctx, c, p.namespace, b.owned.stale, inUse)
	printChanges(p.o.Progress, pruned)
	rep.Changes = append(rep.Changes, pruned...)
	return err
}

// acquire takes the namespace's lock and keeps it alive. The returned context ends when the lock is lost,
// with the *lock.LostError as its cause: everything after that stops changing the namespace.
func acquire(ctx context.Context, c *kube.Client, o Options, ns string, work lock.Work, rep *report.Report) (context.Context, *held, error) {
	l, err := lock.Acquire(ctx, c, lock.Options{Namespace: ns, Holder: holder(o.Owner), TTL: o.LockTTL, Wait: o.LockWait, Work: work, Progress: o.Progress, Now: o.Now})
	if err != nil {
		return ctx, nil, err
	}
	rep.LockAcquired = l.AcquiredAt
	if l.Superseded != nil {
		rep.Superseded = l.Superseded.String()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	l.KeepAlive(ctx, func(err error) {
		fmt.Fprintf(o.Progress, "%v: stopping this deploy\n", err)
		cancel(err)
	})
	return ctx, &held{l: l, cancel: cancel, progress: o.Progress}, nil
}

// held is an acquired lock and the cancel of the context it guards.
type held struct {
	l        *lock.Lock
	cancel   context.CancelCauseFunc
	progress io.Writer
}

// phase tells the lock where the deploy is, so an interruption can be named precisely. It is a renewal:
// a failure is only printed, the keep-alive decides whether the lock is lost.
func (h *held) phase(ctx context.Context, name string) {
	if ctx.Err() != nil {
		return
	}
	if err := h.l.SetPhase(ctx, name); err != nil {
		fmt.Fprintf(h.progress, "recording the deploy's phase in its lock: %v\n", err)
	}
}

// release frees the lock even when ctx is done: a cancelled deploy must not block the next for a TTL.
func release(ctx context.Context, h *held, rep *report.Report, progress io.Writer) {
	defer h.cancel(nil)
	lost := lostLock(ctx)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rep.LockReleased = time.Now() // taken before the release: the lock is certainly ours until then, if not lost
	if err := h.l.Release(ctx); err != nil && lost == nil {
		fmt.Fprintf(progress, "releasing the deploy lock: %v\n", err)
	}
}

// lostLock is the reason the lock was lost, if it was.
func lostLock(ctx context.Context) *lock.LostError {
	var lost *lock.LostError
	if errors.As(context.Cause(ctx), &lost) {
		return lost
	}
	return nil
}

// lockCause explains an error caused by losing the lock (the context was cancelled for it).
func lockCause(ctx context.Context, err error) error {
	if lost := lostLock(ctx); lost != nil {
		return fmt.Errorf("%w: the deploy stopped where it was and did not prune or roll back, because the namespace is no longer ours to change (it had reached: %v)", lost, err)
	}
	return err
}

// recoverFailure diagnoses the failed workloads and rolls back the ones this deploy changed.
func recoverFailure(ctx context.Context, c *kube.Client, p *plan, res *rollout.Result, werr error, before map[string]revision, rep *report.Report) error {
	var rerr *rollout.Error
	if !errors.As(werr, &rerr) {
		return werr // infrastructure or context failure, not a rollout verdict
	}
	diagnoseFailed(ctx, c, p, res, rep)
	targets, notes := rollbackTargets(res.Failed(), before)
	return rollBack(ctx, c, p, targets, notes, werr, rep)
}

// diagnoseFailed adds the diagnosis of every workload that did not roll out to the report.
func diagnoseFailed(ctx context.Context, c *kube.Client, p *plan, res *rollout.Result, rep *report.Report) {
	for _, w := range res.Failed() {
		d := diagnose.Collect(ctx, c, diagnose.Input{Namespace: p.namespace, Workload: rollout.Short(w.Workload), Owners: w.Owners, Pods: w.Pods})
		rep.Diagnosis = append(rep.Diagnosis, d.String())
	}
}

// rollBack undoes the targets (unless rollback is off) and returns the deploy's error.
func rollBack(ctx context.Context, c *kube.Client, p *plan, targets []undoTarget, notes []string, cause error, rep *report.Report) error {
	if p.o.NoRollback {
		notes = []string{"automatic rollback is off: the failed revision is still in place; run the rollback function to undo it"}
		targets = nil
	}
	rep.RollbackNote = strings.Join(notes, "\n")
	if len(targets) == 0 {
		return cause
	}
	if ctx.Err() != nil {
		return lockCause(ctx, cause)
	}
	rbs, err := undo(ctx, c, p.namespace, targets, p.o.Timeout, p.o.Progress)
	rep.Rollbacks = rbs
	if err != nil {
		return lockCause(ctx, fmt.Errorf("%w; then %v", cause, err))
	}
	return cause
}

// recoverPartial follows an apply that failed half-way: the workloads it changed are waited on (and
// diagnosed if they fail), then rolled back, because the release they belong to is incomplete.
func recoverPartial(ctx context.Context, c *kube.Client, p *plan, done *applied, ae *ApplyError, before map[string]revision, rep *report.Report) error {
	changed := changedWorkloads(done)
	if len(changed) == 0 {
		rep.RollbackNote = "no workload was changed before the apply failed: nothing to roll back"
		return ae
	}
	fmt.Fprintf(p.o.Progress, "the apply failed half-way; following the %d workload(s) it changed\n", len(changed))
	res, werr := wait(ctx, c, p, changed, false)
	rep.Workloads = workloadRows(res)
	var rerr *rollout.Error
	if errors.As(werr, &rerr) {
		diagnoseFailed(ctx, c, p, res, rep)
	} else if werr != nil {
		return lockCause(ctx, fmt.Errorf("%w; then %v", ae, werr))
	}
	// Every changed workload goes back, healthy or not: the release it belongs to is incomplete.
	targets, notes := rollbackTargets(res.Workloads, before)
	for i := range targets {
		targets[i].Reason = "the release was applied only in part: " + firstLine(ae.Cause.Error())
	}
	return rollBack(ctx, c, p, targets, notes, ae, rep)
}

// changedWorkloads are the workloads the apply created or changed.
func changedWorkloads(done *applied) []kube.Ref {
	var out []kube.Ref
	for i, r := range done.refs {
		if isWorkload(r) && done.changes[i].Action != "unchanged" {
			out = append(out, r)
		}
	}
	return out
}

func finish(rep *report.Report, o Options, err error) (*report.Report, error) {
	rep.Finished = o.Now()
	if err != nil {
		rep.Summary = firstLine(err.Error())
		// One line here: the whole account (diagnosis, rollback) is the report, which the caller shows once.
		fmt.Fprintln(o.Progress, rep.Summary)
		return rep, &Failure{Report: rep, Cause: err}
	}
	rep.Succeeded = true
	// The rollout's own time: a lock wait or a migration before it is in the report's Duration, apart.
	took := rep.RolledOut.Sub(rep.Applied)
	if rep.Applied.IsZero() || rep.RolledOut.IsZero() {
		took = rep.Finished.Sub(rep.Started)
	}
	rep.Summary = fmt.Sprintf("%d workload(s) rolled out in %s", len(rep.Workloads), took.Round(100*time.Millisecond))
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

// addresses lists the owner's LoadBalancer ingress points, from the rollout's last view.
func addresses(snap *kube.Objects, owner kube.Owner) []string {
	if snap == nil {
		return nil
	}
	var addrs []string
	for _, s := range snap.Services {
		if !owner.Owns(s.Labels) {
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
