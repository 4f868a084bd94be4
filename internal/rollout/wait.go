// The wait loop: one kubectl get per tick for all watched workloads, health judged by health.go, progress
// printed only when it changes. It guards against two opposite failures: giving up on a deploy because the
// apiserver blinked (poll errors are retried until the deadline), and sitting out a ten-minute deadline
// on a pod that can never start (fail fast).
package rollout

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"dagger/ship/internal/kube"
)

// Defaults for Options.
const (
	DefaultInterval           = 500 * time.Millisecond
	DefaultProgressDeadline   = 600 * time.Second
	DefaultUnschedulableGrace = 10 * time.Second
)

// Options configure Wait.
type Options struct {
	Namespace          string
	Workloads          []kube.Ref    // Deployments, StatefulSets, DaemonSets to watch
	Services           bool          // also list Services each poll, so Result.Last has their addresses
	Timeout            time.Duration // 0 = each workload's spec.progressDeadlineSeconds (default 600 s)
	Interval           time.Duration // poll period; default 500 ms
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
}

// Duration is how long the workload took to reach its outcome.
func (w WorkloadResult) Duration() time.Duration { return w.Finished.Sub(w.Started) }

// Result is the whole wait.
type Result struct {
	Workloads  []WorkloadResult
	Polls      int
	PollErrors int
	Last       *kube.Objects // the last snapshot read, nil if no poll succeeded
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
	deadline []time.Time
	lastLine []string
	lastErr  string
}

// Wait polls until every workload has rolled out, one fails, or a deadline passes.
func Wait(ctx context.Context, r kube.Runner, o Options) (*Result, error) {
	t := newTracker(o)
	res := &Result{}
	for {
		// Polls start every Interval (not Interval after the last one ended): a kubectl round trip takes a
		// large part of a second, and the time to notice a finished rollout is the whole period.
		started := time.Now()
		snap, err := poll(ctx, r, o)
		res.Polls++
		if ctx.Err() != nil {
			return t.finish(res), fmt.Errorf("waiting for rollout: %w", ctx.Err())
		}
		if err != nil {
			if kube.HasReason(err, kube.Forbidden) || kube.HasReason(err, kube.NamespaceNotFound) {
				return t.finish(res), fmt.Errorf("waiting for rollout: %w", err)
			}
			res.PollErrors++
			t.pollFailed(err)
		} else {
			t.lastErr, res.Last = "", snap
			t.observe(snap)
		}
		if t.settled() {
			break
		}
		if err := sleep(ctx, o.Interval-time.Since(started)); err != nil {
			return t.finish(res), fmt.Errorf("waiting for rollout: %w", err)
		}
	}
	t.finish(res)
	if len(res.Failed()) > 0 {
		return res, &Error{Result: res}
	}
	return res, nil
}

func newTracker(o Options) *tracker {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
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
		t.results = append(t.results, WorkloadResult{Workload: w, Started: t.start})
		t.deadline = append(t.deadline, t.start.Add(firstNonZero(o.Timeout, DefaultProgressDeadline)))
		t.lastLine = append(t.lastLine, "")
	}
	return t
}

func poll(ctx context.Context, r kube.Runner, o Options) (*kube.Objects, error) {
	out, err := kube.Exec(ctx, r, kube.GetRollout(o.Namespace, o.Workloads, o.Services))
	if err != nil {
		return nil, err
	}
	return kube.DecodeList(out)
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
		if t.o.Timeout == 0 {
			t.deadline[i] = t.start.Add(progressDeadline(w.Workload, snap))
		}
		switch {
		case h.State == Done:
			w.Outcome, w.Finished = RolledOut, now
			t.say(i, fmt.Sprintf("%s: rolled out (revision %s) in %s", Short(w.Workload), w.Revision, w.Duration().Round(100*time.Millisecond)))
		case h.State == Failed:
			w.Outcome, w.Finished, w.Reason = FailedOut, now, h.Message
			t.say(i, fmt.Sprintf("%s: FAILED: %s", Short(w.Workload), h.Message))
		case !now.Before(t.deadline[i]):
			w.Outcome, w.Finished = TimedOut, now
			w.Reason = fmt.Sprintf("not rolled out after %s (%s; %s)", now.Sub(t.start).Round(time.Second), h.Progress, h.Message)
			t.say(i, fmt.Sprintf("%s: TIMED OUT: %s", Short(w.Workload), w.Reason))
		default:
			w.Reason = h.Message
			t.say(i, fmt.Sprintf("%s: %s", Short(w.Workload), h.Progress))
		}
	}
}

func (t *tracker) pollFailed(err error) {
	now := t.o.Now()
	msg := err.Error()
	if msg != t.lastErr {
		fmt.Fprintf(t.o.Progress, "rollout status unavailable, retrying: %s\n", firstLine(msg))
		t.lastErr = msg
	}
	for i := range t.results {
		w := &t.results[i]
		if w.Outcome == "" && !now.Before(t.deadline[i]) {
			w.Outcome, w.Finished = TimedOut, now
			w.Reason = fmt.Sprintf("not rolled out after %s; last status check failed: %s", now.Sub(t.start).Round(time.Second), firstLine(msg))
		}
	}
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

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func firstNonZero(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
