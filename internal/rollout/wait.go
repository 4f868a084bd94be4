// The wait loop: a live view of the namespace (watches, see kube.Watch), health judged by health.go on every
// change, progress printed only when it changes. It guards against two opposite failures: giving up on a
// deploy because the apiserver blinked (transient failures are retried until a deadline decides), and
// sitting out a ten-minute deadline on a pod that can never start (fail fast). Deadlines mean what
// Kubernetes means by progressDeadlineSeconds: no progress for that long, not a total; a slow rollout that
// keeps progressing is never failed, except by the overall cap (Options.Timeout) when one is given.
package rollout

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"dagger/ship/internal/kube"
)

// Source yields the namespace as it changes: the view after a change (or after d without one; nil until
// the first full read), the last transient failure, and a failure that retrying cannot fix. kube.Watch is
// the one in use; tests script their own.
type Source interface {
	Next(ctx context.Context, d time.Duration) (snap *kube.Objects, transient, err error)
}

// Kinds returns the kinds a Source must follow for these workloads (and Services, for their addresses).
func Kinds(workloads []kube.Ref, services bool) []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	seen := map[schema.GroupVersionKind]bool{}
	add := func(k schema.GroupVersionKind) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, w := range workloads {
		switch w.Kind {
		case "Deployment":
			add(kube.DeploymentKind)
			add(kube.ReplicaSetKind)
		case "StatefulSet":
			add(kube.StatefulSetKind)
		case "DaemonSet":
			add(kube.DaemonSetKind)
		}
	}
	add(kube.PodKind)
	if services {
		add(kube.ServiceKind)
	}
	return out
}

// Defaults for Options.
const (
	DefaultTick               = time.Second
	DefaultProgressDeadline   = 600 * time.Second
	DefaultUnschedulableGrace = 10 * time.Second
)

// Options configure Wait.
type Options struct {
	Namespace          string
	Workloads          []kube.Ref    // Deployments, StatefulSets, DaemonSets to watch
	Timeout            time.Duration // overall cap on the wait; 0 = none (no-progress deadlines still apply)
	Tick               time.Duration // re-evaluation period without changes (time-based verdicts); default 1 s
	UnschedulableGrace time.Duration // default 10 s
	Progress           io.Writer     // may be nil
	Now                func() time.Time
}

// Outcome of one workload's rollout.
type Outcome string

const (
	RolledOut   Outcome = "rolled out"
	FailedOut   Outcome = "failed"
	TimedOut    Outcome = "timed out"
	NotFinished Outcome = "not finished" // another workload failed first
)

// WorkloadResult is what happened to one workload.
type WorkloadResult struct {
	Workload kube.Ref
	Outcome  Outcome
	Revision string
	Images   []string
	Started  time.Time
	Finished time.Time // when the outcome was observed
	Reason   string
	Problems []PodProblem
	Owners   []string     // workload and new ReplicaSet names
	Pods     []corev1.Pod // new-revision pods at the end, for diagnosis

	noProgress time.Duration // how long without progress it may go (progressDeadlineSeconds)
}

// Duration is how long the workload took to reach its outcome.
func (w WorkloadResult) Duration() time.Duration { return w.Finished.Sub(w.Started) }

// Result is the whole wait.
type Result struct {
	Workloads []WorkloadResult
	Updates   int           // views evaluated
	Failures  int           // transient read failures seen
	Last      *kube.Objects // the last view read, nil if none was
}

// Failed returns the workloads that did not roll out.
func (r *Result) Failed() []WorkloadResult {
	var out []WorkloadResult
	for _, w := range r.Workloads {
		if w.Outcome == FailedOut || w.Outcome == TimedOut {
			out = append(out, w)
		}
	}
	return out
}

// Error is returned when a rollout did not succeed; the Result carries the details.
type Error struct{ Result *Result }

func (e *Error) Error() string {
	var parts []string
	for _, w := range e.Result.Failed() {
		parts = append(parts, fmt.Sprintf("%s %s: %s", Short(w.Workload), w.Outcome, w.Reason))
	}
	return "rollout did not complete: " + strings.Join(parts, "; ")
}

// Short is "deployment/name", the form people type.
func Short(r kube.Ref) string { return strings.ToLower(r.Kind) + "/" + r.Name }

type tracker struct {
	o        Options
	pol      Policy
	start    time.Time
	results  []WorkloadResult
	moved    []time.Time // when each workload last made progress
	progress []string    // the progress it showed then
	lastLine []string
	lastErr  string
}

// Wait follows the workloads until every one has rolled out, one fails, or a deadline passes.
func Wait(ctx context.Context, src Source, o Options) (*Result, error) {
	t := newTracker(o)
	o = t.o
	res := &Result{}
	for !t.settled() {
		snap, transient, err := src.Next(ctx, o.Tick)
		if err != nil {
			return t.finish(res), fmt.Errorf("waiting for rollout: %w", err)
		}
		switch {
		case transient != nil:
			res.Failures++
			t.readFailed(transient)
		case snap != nil:
			t.lastErr, res.Last = "", snap
			res.Updates++
			t.observe(snap)
		default:
			t.checkDeadlines("")
		}
	}
	t.finish(res)
	if len(res.Failed()) > 0 {
		return res, &Error{Result: res}
	}
	return res, nil
}

func newTracker(o Options) *tracker {
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	if o.UnschedulableGrace <= 0 {
		o.UnschedulableGrace = DefaultUnschedulableGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	t := &tracker{o: o, pol: Policy{UnschedulableGrace: o.UnschedulableGrace}, start: o.Now()}
	for _, w := range o.Workloads {
		t.results = append(t.results, WorkloadResult{Workload: w, Started: t.start, noProgress: DefaultProgressDeadline})
		t.moved = append(t.moved, t.start)
		t.progress = append(t.progress, "")
		t.lastLine = append(t.lastLine, "")
	}
	return t
}

func (t *tracker) observe(snap *kube.Objects) {
	now := t.o.Now()
	for i := range t.results {
		w := &t.results[i]
		if w.Outcome != "" {
			continue
		}
		h := Evaluate(w.Workload, snap, now, t.pol)
		w.Revision, w.Images, w.Owners, w.Pods, w.Problems = h.Revision, h.Images, h.Owners, h.NewPods, h.Problems
		w.noProgress = progressDeadline(w.Workload, snap)
		// Progress is any change in the counts or in what is awaited (e.g. "1 of 2 updated replicas available").
		if key := h.Progress + "; " + h.Message; key != t.progress[i] {
			t.progress[i], t.moved[i] = key, now
		}
		switch h.State {
		case Done:
			w.Outcome, w.Finished = RolledOut, now
			t.say(i, fmt.Sprintf("%s: rolled out (revision %s) in %s", Short(w.Workload), w.Revision, w.Duration().Round(100*time.Millisecond)))
		case Failed:
			w.Outcome, w.Finished, w.Reason = FailedOut, now, h.Message
			t.say(i, fmt.Sprintf("%s: FAILED: %s", Short(w.Workload), h.Message))
		default:
			w.Reason = h.Message
			if !t.deadline(i, now, t.progress[i]) {
				t.say(i, fmt.Sprintf("%s: %s", Short(w.Workload), h.Progress))
			}
		}
	}
}

// deadline times workload i out when the overall cap passed or it made no progress for its deadline.
func (t *tracker) deadline(i int, now time.Time, state string) bool {
	w := &t.results[i]
	var why string
	switch {
	case t.o.Timeout > 0 && !now.Before(t.start.Add(t.o.Timeout)):
		why = fmt.Sprintf("not rolled out within the %s timeout", t.o.Timeout)
	case !now.Before(t.moved[i].Add(w.noProgress)):
		why = fmt.Sprintf("no progress for %s (its progress deadline)", now.Sub(t.moved[i]).Round(time.Second))
	default:
		return false
	}
	w.Outcome, w.Finished = TimedOut, now
	w.Reason = fmt.Sprintf("%s (%s)", why, state)
	t.say(i, fmt.Sprintf("%s: TIMED OUT: %s", Short(w.Workload), w.Reason))
	return true
}

// checkDeadlines applies the deadlines between views, with the last known state.
func (t *tracker) checkDeadlines(extra string) {
	now := t.o.Now()
	for i := range t.results {
		if t.results[i].Outcome == "" {
			state := t.progress[i]
			if extra != "" {
				state += "; " + extra
			}
			t.deadline(i, now, state)
		}
	}
}

func (t *tracker) readFailed(err error) {
	msg := err.Error()
	if msg != t.lastErr {
		fmt.Fprintf(t.o.Progress, "rollout status unavailable, retrying: %s\n", firstLine(msg))
		t.lastErr = msg
	}
	t.checkDeadlines("last status read failed: " + firstLine(msg))
}

// settled: everything finished, or something failed (fail fast: do not wait for the rest).
func (t *tracker) settled() bool {
	done := true
	for _, w := range t.results {
		switch w.Outcome {
		case FailedOut, TimedOut:
			return true
		case "":
			done = false
		}
	}
	return done
}

func (t *tracker) finish(res *Result) *Result {
	now := t.o.Now()
	for i := range t.results {
		if t.results[i].Outcome == "" {
			t.results[i].Outcome, t.results[i].Finished = NotFinished, now
		}
	}
	res.Workloads = t.results
	return res
}

func (t *tracker) say(i int, line string) {
	if line != t.lastLine[i] {
		fmt.Fprintln(t.o.Progress, line)
		t.lastLine[i] = line
	}
}

func progressDeadline(ref kube.Ref, snap *kube.Objects) time.Duration {
	if ref.Kind != "Deployment" {
		return DefaultProgressDeadline
	}
	for _, d := range snap.Deployments {
		if d.Name == ref.Name && d.Spec.ProgressDeadlineSeconds != nil {
			return time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
		}
	}
	return DefaultProgressDeadline
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
