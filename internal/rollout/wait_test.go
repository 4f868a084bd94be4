// Tests of the wait loop's own behaviour with a scripted Source: read failures are retried (the apiserver
// may restart), progress is printed only when it changes, a stuck new pod fails at once, the overall cap
// is honoured and the progress deadline means no progress. The cluster-backed behaviour is covered in
// internal/deploy.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dagger/ship/internal/kube"
)

// script answers each Next with the next canned view (or failure); the last one repeats.
type script struct {
	steps []step
	calls int
}

type step struct {
	snap      *kube.Objects
	transient error
	err       error
}

func (s *script) Next(context.Context, time.Duration) (*kube.Objects, error, error) {
	st := s.steps[min(s.calls, len(s.steps)-1)]
	s.calls++
	return st.snap, st.transient, st.err
}

func view(objs ...any) step {
	snap := &kube.Objects{}
	for _, o := range objs {
		switch v := o.(type) {
		case *appsv1.Deployment:
			snap.Deployments = append(snap.Deployments, *v)
		case appsv1.ReplicaSet:
			snap.ReplicaSets = append(snap.ReplicaSets, v)
		case corev1.Pod:
			snap.Pods = append(snap.Pods, v)
		default:
			panic(fmt.Sprintf("view: unexpected %T", o))
		}
	}
	return step{snap: snap}
}

func dep(updated, ready int32) *appsv1.Deployment {
	d := deployment(depState{gen: 2, observed: 2, want: 2, replicas: 2, updated: updated, ready: ready, avail: ready})
	d.TypeMeta = metav1.TypeMeta{Kind: "Deployment", APIVersion: "apps/v1"}
	return d
}

var web = kube.Ref{Group: "apps", Kind: "Deployment", Name: "web"}

func TestWaitRetriesReadFailuresAndPrintsChanges(t *testing.T) {
	down := step{transient: errors.New("watch deployment.apps: the Kubernetes API server is unavailable: connection refused")}
	s := &script{steps: []step{view(dep(1, 1)), view(dep(1, 1)), down, down, view(dep(2, 1)), view(dep(2, 2))}}
	var out strings.Builder
	res, err := Wait(context.Background(), s, Options{Namespace: "n", Workloads: []kube.Ref{web}, Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Workloads[0].Outcome != RolledOut || res.Failures != 2 || res.Updates != 4 {
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
	s := &script{steps: []step{view(d, rsNew, p)}}
	res, err := Wait(context.Background(), s, Options{Namespace: "n", Workloads: []kube.Ref{web}})
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

// The overall cap (--timeout) ends a wait that is still progressing.
func TestWaitTimeoutCapsTheWholeWait(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	s := &script{steps: []step{view(dep(2, 1))}}
	res, err := Wait(context.Background(), s, Options{Namespace: "n", Workloads: []kube.Ref{web}, Timeout: 5 * time.Second, Now: now})
	if err == nil || res.Workloads[0].Outcome != TimedOut || !strings.Contains(res.Workloads[0].Reason, "within the 5s timeout") ||
		!strings.Contains(res.Workloads[0].Reason, "1 of 2 updated replicas available") {
		t.Fatalf("err %v result %+v", err, res.Workloads[0])
	}
}

// progressDeadlineSeconds means "no progress for that long": a rollout that keeps moving outlives it, one
// that stops moving does not.
func TestProgressDeadlineIsNoProgress(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(3 * time.Second); return clock }
	slow := func(updated, ready int32) step {
		d := dep(updated, ready)
		d.Spec.ProgressDeadlineSeconds = ptr(int32(5))
		d.Spec.Replicas = ptr(int32(6))
		d.Status.Replicas = 6
		return view(d)
	}
	// 3 s between views, a 5 s deadline, 24 s in all: each view shows progress, so it never times out.
	moving := &script{steps: []step{slow(1, 1), slow(2, 1), slow(2, 2), slow(3, 3), slow(4, 4), slow(5, 5), slow(6, 5), slow(6, 6)}}
	res, err := Wait(context.Background(), moving, Options{Namespace: "n", Workloads: []kube.Ref{web}, Now: now})
	if err != nil || res.Workloads[0].Outcome != RolledOut {
		t.Fatalf("a progressing rollout was failed: %v %+v", err, res.Workloads[0])
	}
	stuck := &script{steps: []step{slow(1, 1), slow(2, 1), slow(2, 1), slow(2, 1)}}
	res, err = Wait(context.Background(), stuck, Options{Namespace: "n", Workloads: []kube.Ref{web}, Now: now})
	if err == nil || res.Workloads[0].Outcome != TimedOut || !strings.Contains(res.Workloads[0].Reason, "no progress for 6s") {
		t.Fatalf("a stalled rollout: %v %+v", err, res.Workloads[0])
	}
}

func TestWaitStopsOnAnUnrecoverableFailure(t *testing.T) {
	forbidden := &kube.Error{Op: "watch pod", Reason: kube.Forbidden, Detail: "pods is forbidden"}
	s := &script{steps: []step{{err: forbidden}}}
	_, err := Wait(context.Background(), s, Options{Namespace: "n", Workloads: []kube.Ref{web}})
	if !kube.HasReason(err, kube.Forbidden) || s.calls != 1 {
		t.Fatalf("err %v after %d reads", err, s.calls)
	}
}

func ptr[T any](v T) *T { return &v }
