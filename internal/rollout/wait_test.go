// Tests of the wait loop's own behaviour with a scripted Runner: poll errors are retried (the apiserver
// may restart), progress is printed only when it changes, a stuck new pod fails at once, and the
// deadline is honoured. The cluster-backed behaviour is covered in internal/deploy.
package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dagger/ship/internal/kube"
)

// script answers each poll with the next canned result; the last one repeats.
type script struct {
	t       *testing.T
	answers []kube.Result
	calls   int
}

func (s *script) Run(_ context.Context, st kube.Step) (kube.Result, error) {
	if st.Name != "poll rollout" {
		s.t.Fatalf("unexpected step %s", st)
	}
	i := min(s.calls, len(s.answers)-1)
	s.calls++
	return s.answers[i], nil
}

func listOf(t *testing.T, objs ...any) kube.Result {
	items := []json.RawMessage{}
	for _, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, b)
	}
	b, _ := json.Marshal(map[string]any{"kind": "List", "apiVersion": "v1", "items": items})
	return kube.Result{Stdout: b}
}

func dep(updated, ready int32) *appsv1.Deployment {
	d := deployment(depState{gen: 2, observed: 2, want: 2, replicas: 2, updated: updated, ready: ready, avail: ready})
	d.TypeMeta = metav1.TypeMeta{Kind: "Deployment", APIVersion: "apps/v1"}
	return d
}

var web = kube.Ref{Group: "apps", Kind: "Deployment", Name: "web"}

func TestWaitRetriesPollErrorsAndPrintsChanges(t *testing.T) {
	down := kube.Result{ExitCode: 1, Stderr: []byte("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?")}
	s := &script{t: t, answers: []kube.Result{listOf(t, dep(1, 1)), listOf(t, dep(1, 1)), down, down, listOf(t, dep(2, 1)), listOf(t, dep(2, 2))}}
	var out strings.Builder
	res, err := Wait(context.Background(), s, Options{Namespace: "n", Workloads: []kube.Ref{web}, Interval: time.Millisecond, Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Workloads[0].Outcome != RolledOut || res.PollErrors != 2 || res.Polls != 6 {
		t.Fatalf("result %+v", res)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"deployment/web: 1/2 updated, 1/2 ready", "rollout status unavailable, retrying", "deployment/web: 2/2 updated, 1/2 ready", "deployment/web: rolled out (revision 2)"}
	if len(lines) != len(want) {
		t.Fatalf("progress:\n%s", out.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
}

func TestWaitFailsFastOnStuckNewPod(t *testing.T) {
	d := dep(1, 0)
	rsNew := rs("web-new", "rs2", "2")
	rsNew.TypeMeta = metav1.TypeMeta{Kind: "ReplicaSet", APIVersion: "apps/v1"}
	p := pod("web-new-a", "rs2", waiting("ImagePullBackOff"))
	p.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
	s := &script{t: t, answers: []kube.Result{listOf(t, d, rsNew, p)}}
	res, err := Wait(context.Background(), s, Options{Namespace: "n", Workloads: []kube.Ref{web}, Interval: time.Millisecond})
	var werr *Error
	if !errors.As(err, &werr) || res.Workloads[0].Outcome != FailedOut || s.calls != 1 {
		t.Fatalf("err %v, result %+v, polls %d", err, res, s.calls)
	}
	if !strings.Contains(err.Error(), "deployment/web failed: pod web-new-a container app: ImagePullBackOff") {
		t.Fatalf("message: %v", err)
	}
	if len(res.Workloads[0].Pods) != 1 || res.Workloads[0].Owners[1] != "web-new" {
		t.Fatalf("diagnosis inputs missing: %+v", res.Workloads[0])
	}
}

func TestWaitDeadline(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	s := &script{t: t, answers: []kube.Result{listOf(t, dep(2, 1))}}
	res, err := Wait(context.Background(), s, Options{Namespace: "n", Workloads: []kube.Ref{web}, Timeout: 5 * time.Second, Interval: time.Millisecond, Now: now})
	if err == nil || res.Workloads[0].Outcome != TimedOut || !strings.Contains(res.Workloads[0].Reason, "1 of 2 updated replicas available") {
		t.Fatalf("err %v result %+v", err, res.Workloads[0])
	}
}

func TestWaitForbiddenIsNotRetried(t *testing.T) {
	s := &script{t: t, answers: []kube.Result{{ExitCode: 1, Stderr: []byte(`Error from server (Forbidden): pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "n"`)}}}
	_, err := Wait(context.Background(), s, Options{Namespace: "n", Workloads: []kube.Ref{web}, Interval: time.Millisecond})
	if !kube.HasReason(err, kube.Forbidden) || s.calls != 1 {
		t.Fatalf("err %v after %d polls", err, s.calls)
	}
}
