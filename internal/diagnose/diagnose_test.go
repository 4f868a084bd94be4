// Tests of the diagnosis ordering: the most specific reason (a container's waiting reason or exit code)
// comes before events, events before conditions, and unrelated events are left out.
package diagnose

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func crashing(name string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [app]"}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 3,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}}}
}

func TestRankPutsStuckPodsFirst(t *testing.T) {
	healthy := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a-fine"}, Status: corev1.PodStatus{
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	got := Rank([]corev1.Pod{healthy, crashing("z-crash")})
	if got[0].Name != "z-crash" {
		t.Fatalf("order = %s, %s", got[0].Name, got[1].Name)
	}
}

func TestFindings(t *testing.T) {
	p := crashing("web-1")
	c := ContainerFindings([]corev1.Pod{p})
	want := []string{
		"pod web-1 container app: CrashLoopBackOff: back-off 40s restarting failed container",
		"pod web-1 container app: last run ended Error, exit code 1, restarts 3",
	}
	if !slices.Equal(c, want) {
		t.Fatalf("container findings:\n%q\nwant\n%q", c, want)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(obj, reason, msg string, at time.Duration, typ string) corev1.Event {
		return corev1.Event{Type: typ, Reason: reason, Message: msg, Count: 2, LastTimestamp: metav1.NewTime(t0.Add(at)),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: obj}}
	}
	events := []corev1.Event{
		ev("web-1", "BackOff", "Back-off restarting failed container", time.Second, corev1.EventTypeWarning),
		ev("web-1", "Unhealthy", "Readiness probe failed", 2*time.Second, corev1.EventTypeWarning),
		ev("web-1", "BackOff", "Back-off restarting failed container", 0, corev1.EventTypeWarning), // duplicate
		ev("other", "BackOff", "not ours", 3*time.Second, corev1.EventTypeWarning),
		ev("web-1", "Pulled", "normal event", 4*time.Second, corev1.EventTypeNormal),
	}
	e := EventFindings(events, map[string]bool{"web-1": true})
	wantE := []string{
		"event on pod/web-1: Unhealthy: Readiness probe failed (x2)",
		"event on pod/web-1: BackOff: Back-off restarting failed container (x2)",
	}
	if !slices.Equal(e, wantE) {
		t.Fatalf("event findings:\n%q\nwant\n%q", e, wantE)
	}
	cond := ConditionFindings([]corev1.Pod{p})
	if len(cond) != 1 || !strings.Contains(cond[0], "Ready=False ContainersNotReady") {
		t.Fatalf("conditions = %q", cond)
	}
	pod, ctr, prev, ok := LogTarget([]corev1.Pod{p})
	if !ok || pod != "web-1" || ctr != "app" || !prev {
		t.Fatalf("log target = %s %s %v %v", pod, ctr, prev, ok)
	}
}

func TestDiagnosisString(t *testing.T) {
	d := Diagnosis{Workload: "deployment/web", Findings: []string{"first", "second"},
		Logs: []LogTail{{Pod: "web-1", Container: "app", Previous: true, Lines: []string{"Traceback", "ValueError"}}}}
	want := "diagnosis of deployment/web:\n  - first\n  - second\n  log of the previous (crashed) instance of pod web-1 container app (last 2 lines):\n    | Traceback\n    | ValueError\n"
	if got := d.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
