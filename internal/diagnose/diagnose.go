// Package diagnose gathers what a person would look at when a rollout fails: the failing pods' container
// states (with exit codes), the Warning events about them, their unmet conditions, and the tail of the
// failing container's log. It guards against the classic "deployment exceeded its progress deadline" with
// no reason attached: the most specific cause comes first, and nothing here can mask the original failure.
package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"dagger/ship/internal/kube"
)

// Limits keep the diagnosis short enough to read in a CI log.
const (
	MaxPods   = 3
	MaxEvents = 5
	LogLines  = 20
)

// Input names the failed workload and its new-revision pods.
type Input struct {
	Namespace string
	Workload  string   // "deployment/app", for the heading
	Owners    []string // object names whose events matter (workload, new ReplicaSet)
	Pods      []corev1.Pod
}

// Diagnosis is an ordered list of findings, most specific first.
type Diagnosis struct {
	Workload string
	Findings []string
	Logs     []LogTail
}

// LogTail is the end of one container's log.
type LogTail struct {
	Pod, Container string
	Previous       bool
	Lines          []string
}

// String renders the diagnosis as indented plain text.
func (d Diagnosis) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "diagnosis of %s:\n", d.Workload)
	for _, f := range d.Findings {
		fmt.Fprintf(&b, "  - %s\n", f)
	}
	for _, l := range d.Logs {
		which := "log"
		if l.Previous {
			which = "log of the previous (crashed) instance"
		}
		fmt.Fprintf(&b, "  %s of pod %s container %s (last %d lines):\n", which, l.Pod, l.Container, len(l.Lines))
		for _, line := range l.Lines {
			fmt.Fprintf(&b, "    | %s\n", line)
		}
	}
	return b.String()
}

// Collect fetches events and logs and builds the diagnosis. Failures to fetch are noted, never fatal:
// the rollout failure is the error that matters.
func Collect(ctx context.Context, c *kube.Client, in Input) Diagnosis {
	pods := Rank(in.Pods)
	if len(pods) > MaxPods {
		pods = pods[:MaxPods]
	}
	d := Diagnosis{Workload: in.Workload}
	d.Findings = append(d.Findings, ContainerFindings(pods)...)
	events, err := warningEvents(ctx, c, in.Namespace)
	if err != nil {
		d.Findings = append(d.Findings, fmt.Sprintf("(could not read events: %v)", firstLine(err.Error())))
	}
	d.Findings = append(d.Findings, EventFindings(events, relevantNames(in.Owners, pods))...)
	d.Findings = append(d.Findings, ConditionFindings(pods)...)
	if len(d.Findings) == 0 {
		d.Findings = []string{"no pod of the new revision reported a reason; check the workload's events"}
	}
	if pod, ctr, prev, ok := LogTarget(pods); ok {
		if lines := tail(ctx, c, in.Namespace, pod, ctr, prev); len(lines) > 0 {
			d.Logs = append(d.Logs, LogTail{Pod: pod, Container: ctr, Previous: prev, Lines: lines})
		}
	}
	return d
}

// Rank puts the pods most likely to explain the failure first: stuck containers, then unready, by name.
func Rank(pods []corev1.Pod) []corev1.Pod {
	out := append([]corev1.Pod(nil), pods...)
	score := func(p corev1.Pod) int {
		s := 0
		for _, cs := range statuses(p) {
			if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating" {
				s += 4
			}
			if cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
				s += 2
			}
			if !cs.Ready {
				s++
			}
		}
		return s
	}
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := score(out[i]), score(out[j])
		if si != sj {
			return si > sj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// ContainerFindings describes waiting and terminated containers, with exit codes and messages.
func ContainerFindings(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		for _, cs := range statuses(p) {
			where := fmt.Sprintf("pod %s container %s", p.Name, cs.Name)
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
				out = append(out, join(where+": "+w.Reason, w.Message))
			}
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				out = append(out, join(fmt.Sprintf("%s: terminated %s, exit code %d", where, t.Reason, t.ExitCode), t.Message))
			}
			if t := cs.LastTerminationState.Terminated; t != nil {
				out = append(out, join(fmt.Sprintf("%s: last run ended %s, exit code %d, restarts %d", where, t.Reason, t.ExitCode, cs.RestartCount), t.Message))
			}
		}
	}
	return out
}

// EventFindings lists Warning events about the given objects, newest first, without repeats.
func EventFindings(events []corev1.Event, names map[string]bool) []string {
	var rel []corev1.Event
	for _, e := range events {
		if e.Type == corev1.EventTypeWarning && names[e.InvolvedObject.Name] {
			rel = append(rel, e)
		}
	}
	sort.SliceStable(rel, func(i, j int) bool { return eventTime(rel[i]).After(eventTime(rel[j])) })
	var out []string
	seen := map[string]bool{}
	for _, e := range rel {
		key := e.Reason + "\x00" + e.Message
		if seen[key] {
			continue
		}
		seen[key] = true
		count := ""
		if e.Count > 1 {
			count = fmt.Sprintf(" (x%d)", e.Count)
		}
		out = append(out, fmt.Sprintf("event on %s/%s: %s: %s%s", strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, e.Reason, strings.TrimSpace(e.Message), count))
		if len(out) == MaxEvents {
			break
		}
	}
	return out
}

// ConditionFindings lists the pod conditions that are not met.
func ConditionFindings(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				out = append(out, join(fmt.Sprintf("pod %s: %s=%s %s", p.Name, c.Type, c.Status, c.Reason), c.Message))
			}
		}
	}
	return out
}

// LogTarget picks the container whose log is worth reading: a restarted one (its previous instance) first.
func LogTarget(pods []corev1.Pod) (pod, container string, previous, ok bool) {
	for _, p := range pods {
		for _, cs := range statuses(p) {
			if cs.RestartCount > 0 || cs.LastTerminationState.Terminated != nil {
				return p.Name, cs.Name, true, true
			}
		}
	}
	for _, p := range pods {
		for _, cs := range statuses(p) {
			if cs.State.Running != nil || cs.State.Terminated != nil {
				return p.Name, cs.Name, false, true
			}
		}
	}
	return "", "", false, false
}

func warningEvents(ctx context.Context, c *kube.Client, ns string) ([]corev1.Event, error) {
	objs, err := c.Read(ctx, ns, "", kube.EventKind)
	if err != nil {
		return nil, err
	}
	var out []corev1.Event
	for _, e := range objs.Events {
		if e.Type == corev1.EventTypeWarning {
			out = append(out, e)
		}
	}
	return out, nil
}

// tail reads a log; a runtime without logs (kwok, or a container that never started) yields nothing.
func tail(ctx context.Context, c *kube.Client, ns, pod, container string, previous bool) []string {
	out, err := c.Logs(ctx, ns, pod, container, LogLines, previous)
	if err != nil {
		return nil
	}
	text := strings.TrimRight(string(out), "\n")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	if len(lines) > LogLines {
		lines = lines[len(lines)-LogLines:]
	}
	return lines
}

func relevantNames(owners []string, pods []corev1.Pod) map[string]bool {
	m := map[string]bool{}
	for _, o := range owners {
		m[o] = true
	}
	for _, p := range pods {
		m[p.Name] = true
	}
	return m
}

func statuses(p corev1.Pod) []corev1.ContainerStatus {
	return append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.FirstTimestamp.Time
	}
}

func join(head, msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return head
	}
	return head + ": " + firstLine(msg)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
