// Integration tests of pre-deploy jobs (migrations) and interrupted deploys on the real control plane: a
// marked Job runs, to completion, before the rollout of each revision, under a name of its own per revision
// (so the second revision does not meet Job immutability); the same revision deployed again does not run it
// again; a failing job leaves every workload untouched; a rollback runs no job; a deploy cancelled mid-wait
// undoes its revision and frees the lock; one killed without a chance to clean up is named by the next.
package deploy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"dagger/ship/internal/lock"
	"dagger/ship/internal/render"
	"dagger/ship/internal/testenv/kubetest"
)

// withJob is the repository's k8s/ with the migration Job added to the dev overlay; jobAnnotations go on
// its pod template (e.g. a kwok fault).
func withJob(t testing.TB, jobAnnotations string) fs.FS {
	t.Helper()
	src := os.DirFS("../../k8s")
	m := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, path)
		m[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	k := m["overlays/dev/kustomization.yaml"]
	k.Data = []byte(strings.Replace(string(k.Data), "  - ../../base\n", "  - ../../base\n  - migrate-job.yaml\n", 1))
	m["overlays/dev/migrate-job.yaml"] = &fstest.MapFile{Data: []byte(kubetest.MigrationJob(jobAnnotations))}
	return m
}

func (e *env) jobOptions(img, jobAnnotations string) Options {
	o := e.options(img)
	o.Manifests = e.render(withJob(e.t, jobAnnotations), render.Options{Overlay: "dev", Image: img, ImageName: app, AppName: app})
	return o
}

// jobs lists the namespace's Jobs as "name=completionTime".
func (e *env) jobs() []string {
	e.t.Helper()
	out := strings.Fields(e.kubectl("get", "jobs", "-n", e.ns, "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.completionTime}{" "}{end}`))
	return out
}

// rsCreated is when the ReplicaSet running img was created.
func (e *env) rsCreated(img string) time.Time {
	e.t.Helper()
	out := e.kubectl("get", "replicasets", "-n", e.ns, "-o", `jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}={.metadata.creationTimestamp}{"\n"}{end}`)
	for _, line := range strings.Split(out, "\n") {
		if at, ok := strings.CutPrefix(line, img+"="); ok {
			ts, err := time.Parse(time.RFC3339, at)
			if err != nil {
				e.t.Fatal(err)
			}
			return ts
		}
	}
	e.t.Fatalf("no ReplicaSet runs %s:\n%s", img, out)
	return time.Time{}
}

// completed is when the job run whose name starts with "migrate-" and is not in skip completed.
func (e *env) completedRun(skip map[string]bool) (string, time.Time) {
	e.t.Helper()
	for _, j := range e.jobs() {
		name, at, _ := strings.Cut(j, "=")
		if skip[name] {
			continue
		}
		ts, err := time.Parse(time.RFC3339, at)
		if err != nil {
			e.t.Fatalf("job %s has not completed (%q)", name, at)
		}
		return name, ts
	}
	e.t.Fatalf("no new job run: %v", e.jobs())
	return "", time.Time{}
}

func TestPreDeployJobRunsBeforeEachRevision(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for i, img := range []string{image("mig-1"), image("mig-2")} {
		plan, err := Plan(context.Background(), e.Client, e.jobOptions(img, ""))
		if err != nil || len(plan.Jobs) != 1 || !strings.Contains(plan.Summary(), "  > job.batch/migrate-") ||
			!strings.Contains(plan.Jobs[0], "(pre-deploy job migrate): would run, to completion, before any other object changes") {
			t.Fatalf("plan of revision %d: %v\n%s", i+1, err, plan.Summary())
		}
		rep, err := e.run(e.jobOptions(img, ""))
		if err != nil {
			t.Fatalf("revision %d: %v", i+1, err)
		}
		name, done := e.completedRun(seen)
		seen[name] = true
		if !strings.HasPrefix(name, "migrate-") || len(rep.Jobs) != 1 || rep.Jobs[0].Name != "job.batch/"+name || rep.Jobs[0].Outcome != "completed" {
			t.Fatalf("revision %d: job %s, report %+v", i+1, name, rep.Jobs)
		}
		// Independent of the deployer's own account: the server's timestamps order the job before the rollout.
		if rs := e.rsCreated(img); rs.Before(done) {
			t.Fatalf("revision %d: the ReplicaSet of the new image was created at %s, before the job completed at %s", i+1, rs, done)
		}
		if rep.JobsDone.IsZero() || rep.JobsDone.After(rep.Applied) || !strings.Contains(rep.Markdown(), "pre-deploy jobs") {
			t.Fatalf("revision %d: report timings or duration line:\n%s", i+1, rep.Markdown())
		}
		if jobRef := "job.batch/" + name; changeIn(rep, jobRef) != "" {
			t.Fatalf("the job was also applied as an ordinary object: %+v", rep.Changes)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("two revisions ran %d distinct jobs: %v", len(seen), seen)
	}
	// The same revision again: its job already completed, so it does not run again.
	rep, err := e.run(e.jobOptions(image("mig-2"), ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.jobs(); len(got) != 2 || rep.Jobs[0].Outcome != "already completed for this revision" {
		t.Fatalf("redeploy of the same revision: jobs %v, report %+v", got, rep.Jobs)
	}
	if plan, err := Plan(context.Background(), e.Client, e.jobOptions(image("mig-2"), "")); err != nil || !plan.Empty() ||
		!strings.Contains(plan.Jobs[0], "already completed for this revision") {
		t.Fatalf("plan after the deploy: %v\n%s", err, plan.Summary())
	}
	// A rollback never runs a job.
	if _, err := e.rollback(0); err != nil {
		t.Fatal(err)
	}
	if got := e.jobs(); len(got) != 2 {
		t.Fatalf("the rollback changed the jobs: %v", got)
	}
}

func TestOldPreDeployRunsAreCleanedUp(t *testing.T) {
	e := newEnv(t)
	var names []string
	for i := range 5 {
		rep, err := e.run(e.jobOptions(image("clean-"+string(rune('a'+i))), ""))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.TrimPrefix(rep.Jobs[0].Name, "job.batch/"))
		time.Sleep(time.Second) // creation timestamps have a one-second resolution
	}
	// The 3 newest finished runs stay; the older ones went, after healthy deploys.
	got := strings.Join(e.jobs(), " ")
	for i, n := range names {
		kept := strings.Contains(got, n+"=")
		if want := i >= len(names)-3; kept != want {
			t.Errorf("run %d (%s): kept=%v, want %v; jobs: %s", i+1, n, kept, want, got)
		}
	}
}

// A migration that exits non-zero, and one whose pod can never start: either fails the deploy before any
// workload, Service or ConfigMap changes, with the pod, its exit code or reason, and its log in the report.
func TestFailingPreDeployJobLeavesEverythingUntouched(t *testing.T) {
	for _, tc := range []struct {
		name, fault string
		want        []string
	}{
		{"exits 3", `"fault.ship.test/mode": Failed, "fault.ship.test/exit-code": "3"`,
			[]string{"BackoffLimitExceeded", "container migrate: terminated Error, exit code 3", "log of pod migrate-",
				`| sqlalchemy.exc.ProgrammingError: relation "users" does not exist`}},
		{"never starts", `"fault.ship.test/mode": ImagePullBackOff`, []string{"container migrate: ImagePullBackOff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.Cluster.SetLogs(context.Background(), e.ns, "migrate", "INFO  [alembic.runtime.migration] Running upgrade 41 -> 42",
				`sqlalchemy.exc.ProgrammingError: relation "users" does not exist`); err != nil {
				t.Fatal(err)
			}
			if _, err := e.run(e.jobOptions(image("job-good"), "")); err != nil {
				t.Fatal(err)
			}
			objects := func() string {
				return e.kubectl("get", "deployments,services,configmaps,poddisruptionbudgets", "-n", e.ns, "-o",
					`jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{" "}{end}`)
			}
			before := objects()
			rep, err := e.run(e.jobOptions(image("job-bad"), tc.fault))
			var f *Failure
			if !errors.As(err, &f) || !strings.Contains(firstLine(err.Error()), "pre-deploy job job.batch/migrate-") {
				t.Fatalf("a failing job did not fail the deploy: %v", err)
			}
			if after := objects(); before != after {
				t.Fatalf("objects changed although the job failed:\nbefore %s\nafter  %s", before, after)
			}
			md := rep.Markdown()
			for _, want := range append(tc.want, "| failed |", "diagnosis of job.batch/migrate-", "nothing else was applied",
				"A rollback never re-runs or undoes a pre-deploy job") {
				if !strings.Contains(md, want) {
					t.Errorf("report lacks %q:\n%s", want, md)
				}
			}
			if rep.Workloads != nil || len(rep.Rollbacks) != 0 || !rep.Applied.IsZero() {
				t.Fatalf("a workload was touched: %+v %+v", rep.Workloads, rep.Rollbacks)
			}
			if h := e.kubectl("get", "configmaps", "-n", e.ns, "--ignore-not-found", "-o", "name", lock.Name); strings.TrimSpace(h) != "" {
				t.Fatalf("the lock was not released: %s", h)
			}
			t.Logf("the report of the failed migration:\n%s", md)
		})
	}
}

func TestMarkedObjectsAreChecked(t *testing.T) {
	e := newEnv(t)
	o := e.options(image("mark"))
	o.Manifests = append(o.Manifests, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: "+e.ns+"\n  annotations: {ship/hook: pre-deploy}\n"...)
	if _, err := e.run(o); err == nil || !strings.Contains(err.Error(), "configmap/x: annotation ship/hook=pre-deploy is only for batch/v1 Jobs") {
		t.Fatalf("a marked ConfigMap: %v", err)
	}
	o = e.jobOptions(image("mark"), "")
	o.Manifests = []byte(strings.Replace(string(o.Manifests), "ship/hook: pre-deploy", "ship/hook: predeploy", 1))
	if _, err := e.run(o); err == nil || !strings.Contains(err.Error(), `annotation ship/hook="predeploy" is not known`) {
		t.Fatalf("a misspelled hook: %v", err)
	}
}

// An unmarked Job whose template takes the new image is refused by the cluster on the second revision: the
// error says so in one line, with the fix, and nothing is applied.
func TestUnmarkedChangedJobIsExplainedInOneLine(t *testing.T) {
	e := newEnv(t)
	unmarked := func(img string) Options {
		o := e.jobOptions(img, "")
		o.Manifests = []byte(strings.Replace(string(o.Manifests), "ship/hook: pre-deploy", "example.com/note: plain-job", 1))
		return o
	}
	if _, err := e.run(unmarked(image("plain-1"))); err != nil {
		t.Fatal(err)
	}
	rep, err := e.run(unmarked(image("plain-2")))
	want := "job.batch/migrate: spec.template is immutable: a Job's pod template cannot change once the Job exists. Fix: if it is a migration, annotate it ship/hook: pre-deploy"
	if err == nil || !strings.Contains(firstLine(err.Error()), want) || strings.Contains(err.Error(), "PodTemplateSpec") {
		t.Fatalf("got %v\nwant a first line containing %q", err, want)
	}
	if rep.Summary != firstLine(err.Error())[len("deploy of dev to namespace "+e.ns+" failed: "):] {
		t.Fatalf("summary %q, error %q", rep.Summary, firstLine(err.Error()))
	}
	if st := e.status(); st.Workloads[0].Images[0] != image("plain-1") {
		t.Fatalf("the refused release was applied: %s", st)
	}
}

// A deploy whose caller goes away mid-rollout undoes its revision within the grace period and frees the lock.
func TestCancelledDeployRollsBackAndFreesTheLock(t *testing.T) {
	e := newEnv(t)
	good := image("int-good")
	if _, err := e.run(e.options(good)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &onLines{t: t, do: map[string]func(){"deployment.apps/fastapi-app configured": cancel}}
	o := e.options(image("int-new"), minReady(60))
	o.Progress = w
	rep, err := Run(ctx, e.Client, o)
	if err == nil || !strings.Contains(err.Error(), "interrupted and rolled back") {
		t.Fatalf("cancelled deploy: %v", err)
	}
	if !strings.Contains(rep.Markdown(), "| Interrupted | interrupted; rolled back 1 Deployment(s)") {
		t.Fatalf("report:\n%s", rep.Markdown())
	}
	if st := e.status(); st.Workloads[0].Images[0] != good {
		t.Fatalf("the interrupted revision stayed: %s", st)
	}
	if h := e.kubectl("get", "configmaps", "-n", e.ns, "--ignore-not-found", "-o", "name", lock.Name); strings.TrimSpace(h) != "" {
		t.Fatalf("the lock was not released: %s", h)
	}
}

// An interrupt that comes before the Deployment controller has seen the applied template (on a fast
// controller, an interrupt right after the apply; the CI failure this guards against) still undoes it: the
// revision number has not moved yet, but the new template would roll out all the same. A controller that
// catches up within the wait is rolled back by revision; one that lags longer, by template; a change that
// leaves the template as it was is no new revision, and nothing is undone.
func TestCancelledDeployUndoesAChangeTheControllerHasNotSeen(t *testing.T) {
	good := image("unseen-good")
	for _, tc := range []struct {
		name     string
		next     []func(map[string]any) // the interrupted deploy's edits to the Deployment
		image    string
		resumeOn string // the progress line on which the controller-manager is resumed ("": at the end)
		want     []string
	}{
		{"controller catches up", nil, image("unseen-new"), "undoing what it changed",
			[]string{"interrupted and rolled back", "rolled back from revision 2 to revision 1", "healthy again"}},
		{"controller lags on", nil, image("unseen-new"), "rolling back ",
			[]string{"interrupted and rolled back", "rolled back from the applied change (no revision of it yet) to revision 1", "healthy again"}},
		{"the template did not change", []func(map[string]any){setSpec("replicas", 2)}, good, "",
			[]string{"the deploy was interrupted", "interrupted before any Deployment's pod template changed: nothing to undo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.run(e.options(good)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resume := e.Cluster.PauseControllers(t) // nothing rolls out while it is paused: no minReadySeconds needed
			o := e.options(tc.image, tc.next...)
			do := map[string]func(){"deployment.apps/fastapi-app configured": cancel}
			if tc.resumeOn != "" {
				do[tc.resumeOn] = resume
			}
			o.Progress = &onLines{t: t, do: do}
			rep, err := Run(ctx, e.Client, o)
			if err == nil || !strings.Contains(err.Error(), tc.want[0]) {
				t.Fatalf("cancelled deploy: %v, want %q", err, tc.want[0])
			}
			for _, w := range tc.want[1:] {
				if md := rep.Markdown(); !strings.Contains(md, w) {
					t.Fatalf("report lacks %q:\n%s", w, md)
				}
			}
			resume()
			// The revision number may move on: once resumed, the controller can still act on the change it saw late.
			if got := e.status().Workloads[0]; got.Images[0] != good {
				t.Fatalf("after the undo: images %v, want %s", got.Images, good)
			}
		})
	}
}

// A deploy killed without any chance to clean up (its lock is simply never renewed again) blocks the next
// one for at most the lock's TTL, and the next one, status and rollback say which deploy was interrupted.
func TestKilledDeployIsSupersededWithinTheLease(t *testing.T) {
	e := newEnv(t)
	if _, err := e.run(e.options(image("kill-good"))); err != nil {
		t.Fatal(err)
	}
	killed, err := lock.Acquire(context.Background(), e.Client, lock.Options{Namespace: e.ns, Holder: "ship deploy r2#dead",
		Work: lock.Work{Action: "deploy", Image: image("kill-new"), Revision: "r2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := killed.SetPhase(context.Background(), "rollout"); err != nil {
		t.Fatal(err)
	}
	st := e.status()
	if !strings.Contains(st.String(), "deploy of "+image("kill-new")+" (revision r2) by ship deploy r2#dead") || !strings.Contains(st.String(), "in progress") {
		t.Fatalf("status while the killed deploy's lease runs:\n%s", st)
	}
	start := time.Now()
	rep, err := e.run(e.options(image("kill-next")))
	if err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	if waited > lock.DefaultTTL+5*time.Second {
		t.Fatalf("the next deploy waited %s for a killed deploy's lock (TTL %s)", waited, lock.DefaultTTL)
	}
	want := `an interrupted deploy of ` + image("kill-new") + ` (revision r2) by ship deploy r2#dead stopped during "rollout"`
	if md := rep.Markdown(); !strings.Contains(md, want) || !strings.Contains(md, "lock wait") {
		t.Fatalf("report lacks %q:\n%s", want, md)
	}
	if !strings.HasSuffix(strings.TrimSpace(rep.Summary), "rolled out in "+rep.RolledOut.Sub(rep.Applied).Round(100*time.Millisecond).String()) {
		t.Fatalf("the summary counts the lock wait as rollout time: %q", rep.Summary)
	}
	t.Logf("the next deploy took the killed deploy's lock after %s", waited.Round(100*time.Millisecond))
}

// A rollback that takes over a killed deploy's lock says so too.
func TestRollbackNamesTheInterruptedDeploy(t *testing.T) {
	e := newEnv(t)
	for _, img := range []string{image("rb-1"), image("rb-2")} {
		if _, err := e.run(e.options(img)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lock.Acquire(context.Background(), e.Client, lock.Options{Namespace: e.ns, Holder: "ship deploy r3#dead", TTL: 2 * time.Second,
		Work: lock.Work{Action: "deploy", Image: image("rb-3"), Revision: "r3"}}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.rollback(0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Markdown(), "an interrupted deploy of "+image("rb-3")+" (revision r3)") {
		t.Fatalf("rollback report:\n%s", rep.Markdown())
	}
}

// rollback --if-interrupted is a cancelled CI job's cleanup: it undoes exactly what a killed deploy of its
// revision left unverified, and nothing in any other case.
func TestRollbackIfInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		killed    string // the killed deploy's phase, "" for no killed deploy at all
		revision  string // what the cleanup asks for
		want      string // in the summary
		rolled    bool
		failedRev string // the revision recorded as failed, if any
	}{
		{"killed during its rollout", PhaseRollout, "r2", "rolled back 1 deployment(s), healthy", true, "2"},
		{"killed during its apply", PhaseApply, "r2", "rolled back 1 deployment(s), healthy", true, "2"},
		{"another revision's deploy", PhaseRollout, "r9", "is not a deploy of revision r9: nothing rolled back", false, ""},
		{"killed before its apply", PhaseJobs, "r2", `stopped during "pre-deploy jobs", when no Deployment was left unverified`, false, ""},
		{"killed after a healthy rollout", PhaseRecord, "r2", `stopped during "record and prune"`, false, ""},
		{"nothing was interrupted", "", "r2", "no deploy was left interrupted in namespace", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			good, killed := image("ifi-good"), image("ifi-killed")
			if _, err := e.run(e.options(good)); err != nil {
				t.Fatal(err)
			}
			// The killed deploy changed the template, then stopped renewing its lock.
			e.kubectl("set", "image", "-n", e.ns, "deployment/"+app, "app="+killed)
			e.kubectl("rollout", "status", "-n", e.ns, "deployment/"+app, "--timeout=60s")
			if tc.killed != "" {
				l, err := lock.Acquire(context.Background(), e.Client, lock.Options{Namespace: e.ns, Holder: "ship deploy r2#dead", TTL: 2 * time.Second,
					Work: lock.Work{Action: "deploy", Image: killed, Revision: "r2"}})
				if err != nil {
					t.Fatal(err)
				}
				if err := l.SetPhase(context.Background(), tc.killed); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2500 * time.Millisecond) // past the lease: status calls it interrupted
				advice := "What it changed may be in place: deploy again, or roll back."
				if tc.killed == PhaseApply || tc.killed == PhaseRollout {
					advice = "Its revision may be running unverified: undo exactly that with `rollback --overlay dev --if-interrupted r2`"
				}
				if st := e.status().String(); !strings.Contains(st, "INTERRUPTED: deploy of "+killed) || !strings.Contains(st, advice) {
					t.Fatalf("status lacks %q:\n%s", advice, st)
				}
			}
			rep, err := Rollback(context.Background(), e.Client, RollbackOptions{App: app, Overlay: "dev", Namespace: e.ns,
				LockWait: time.Minute, Progress: testWriter{t}, IfInterrupted: tc.revision})
			if err != nil || !rep.Succeeded || !strings.Contains(rep.Summary, tc.want) {
				t.Fatalf("summary %q, err %v; want a success saying %q", rep.Summary, err, tc.want)
			}
			want := killed
			if tc.rolled {
				want = good
			}
			if got := e.status().Workloads[0].Images[0]; got != want {
				t.Fatalf("runs %s, want %s", got, want)
			}
			failed := e.kubectl("get", "rs", "-n", e.ns, "-o", `jsonpath={range .items[?(@.metadata.annotations.ship/rollout-failed)]}{.metadata.annotations.deployment\.kubernetes\.io/revision}{end}`)
			if failed != tc.failedRev {
				t.Fatalf("revisions recorded as failed: %q, want %q", failed, tc.failedRev)
			}
		})
	}
}

// onLines logs the progress and runs each action once, when a line containing its key first appears.
type onLines struct {
	t   testing.TB
	do  map[string]func()
	mu  sync.Mutex
	ran map[string]bool
}

func (w *onLines) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, f := range w.do {
		if strings.Contains(string(p), key) && !w.ran[key] {
			if w.ran == nil {
				w.ran = map[string]bool{}
			}
			w.ran[key] = true
			f()
		}
	}
	return len(p), nil
}
