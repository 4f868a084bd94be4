// Table tests of the pure health evaluation: kubectl-rollout-status criteria and fail-fast detection
// restricted to the new revision's pods.
package rollout

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dagger/ship/internal/kube"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func i32(v int32) *int32 { return &v }

type depState struct {
	gen, observed                         int64
	want, replicas, updated, ready, avail int32
	conds                                 []appsv1.DeploymentCondition
}

func deployment(s depState) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "d1", Generation: s.gen, Annotations: map[string]string{RevisionAnnotation: "2"}},
		Spec: appsv1.DeploymentSpec{Replicas: i32(s.want), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "reg/app@sha256:new"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: s.observed, Replicas: s.replicas, UpdatedReplicas: s.updated,
			ReadyReplicas: s.ready, AvailableReplicas: s.avail, Conditions: s.conds},
	}
}

func rs(name, uid, rev string) appsv1.ReplicaSet {
	return appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid),
		Annotations:     map[string]string{RevisionAnnotation: rev},
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: "d1"}}}}
}

func pod(name, ownerUID string, mutate func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", UID: types.UID(ownerUID)}}}}
	if mutate != nil {
		mutate(&p)
	}
	return p
}

func waiting(reason string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "back-off"}}}}
	}
}

func unschedulable(since time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available", LastTransitionTime: metav1.NewTime(now.Add(-since))}}
	}
}

func TestDeploymentHealth(t *testing.T) {
	history := []appsv1.ReplicaSet{rs("web-old", "rs1", "1"), rs("web-new", "rs2", "2")}
	pol := Policy{UnschedulableGrace: 10 * time.Second}
	cases := []struct {
		name    string
		dep     depState
		pods    []corev1.Pod
		want    State
		message string
	}{
		{"spec not observed", depState{gen: 2, observed: 1, want: 2, replicas: 2, updated: 2, ready: 2, avail: 2}, nil, Progressing, "observe"},
		{"rolled out", depState{gen: 2, observed: 2, want: 2, replicas: 2, updated: 2, ready: 2, avail: 2}, nil, Done, ""},
		{"updating", depState{gen: 2, observed: 2, want: 2, replicas: 3, updated: 1, ready: 2, avail: 2}, nil, Progressing, "1 of 2 new replicas"},
		{"old pending", depState{gen: 2, observed: 2, want: 2, replicas: 3, updated: 2, ready: 3, avail: 3}, nil, Progressing, "1 old replicas"},
		{"not available", depState{gen: 2, observed: 2, want: 2, replicas: 2, updated: 2, ready: 1, avail: 1}, nil, Progressing, "1 of 2 updated replicas available"},
		{"image pull on new pod", depState{gen: 2, observed: 2, want: 1, replicas: 2, updated: 1, ready: 1, avail: 1},
			[]corev1.Pod{pod("web-new-a", "rs2", waiting("ImagePullBackOff"))}, Failed, "pod web-new-a container app: ImagePullBackOff"},
		{"crash loop on new pod", depState{gen: 2, observed: 2, want: 1, replicas: 2, updated: 1, ready: 1, avail: 1},
			[]corev1.Pod{pod("web-new-a", "rs2", waiting("CrashLoopBackOff"))}, Failed, "CrashLoopBackOff"},
		{"broken OLD pod is not ours to judge", depState{gen: 2, observed: 2, want: 1, replicas: 2, updated: 1, ready: 1, avail: 0},
			[]corev1.Pod{pod("web-old-a", "rs1", waiting("CrashLoopBackOff")), pod("web-new-a", "rs2", nil)}, Progressing, "1 old replicas"},
		{"container creating is fine", depState{gen: 2, observed: 2, want: 1, replicas: 2, updated: 1, avail: 0},
			[]corev1.Pod{pod("web-new-a", "rs2", waiting("ContainerCreating"))}, Progressing, ""},
		{"unschedulable within grace", depState{gen: 2, observed: 2, want: 1, replicas: 2, updated: 1},
			[]corev1.Pod{pod("web-new-a", "rs2", unschedulable(3*time.Second))}, Progressing, ""},
		{"unschedulable past grace", depState{gen: 2, observed: 2, want: 1, replicas: 2, updated: 1},
			[]corev1.Pod{pod("web-new-a", "rs2", unschedulable(11*time.Second))}, Failed, "Unschedulable: 0/1 nodes"},
		{"progress deadline exceeded", depState{gen: 2, observed: 2, want: 1, replicas: 2, updated: 1,
			conds: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-new" has timed out progressing.`}}},
			nil, Failed, "exceeded its progress deadline"},
		{"replica failure", depState{gen: 2, observed: 2, want: 1, replicas: 1, updated: 0,
			conds: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "exceeded quota"}}},
			nil, Failed, "cannot create pods (FailedCreate): exceeded quota"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := &kube.Objects{ReplicaSets: history, Pods: c.pods}
			h := Deployment(deployment(c.dep), snap, now, pol)
			if h.State != c.want {
				t.Fatalf("state = %v (%s), want %v", h.State, h.Message, c.want)
			}
			if !strings.Contains(h.Message, c.message) {
				t.Errorf("message %q lacks %q", h.Message, c.message)
			}
			if h.Revision != "2" || h.Images[0] != "reg/app@sha256:new" {
				t.Errorf("revision/images = %s %v", h.Revision, h.Images)
			}
		})
	}
}

func TestDeploymentProgressLine(t *testing.T) {
	h := Deployment(deployment(depState{gen: 1, observed: 1, want: 2, replicas: 3, updated: 1, ready: 2, avail: 2}), &kube.Objects{}, now, Policy{})
	if h.Progress != "1/2 updated, 2/2 ready, 2 old" {
		t.Fatalf("progress = %q", h.Progress)
	}
}

func TestStatefulSetHealth(t *testing.T) {
	base := func(mut func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", UID: "s1", Generation: 3},
			Spec:   appsv1.StatefulSetSpec{Replicas: i32(2), UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, ReadyReplicas: 2, UpdatedReplicas: 2, CurrentRevision: "db-2", UpdateRevision: "db-2"}}
		if mut != nil {
			mut(s)
		}
		return s
	}
	newPod := pod("db-1", "s1", func(p *corev1.Pod) {
		p.Labels = map[string]string{appsv1.ControllerRevisionHashLabelKey: "db-3"}
		waiting("ErrImagePull")(p)
	})
	cases := []struct {
		name string
		sts  *appsv1.StatefulSet
		want State
	}{
		{"done", base(nil), Done},
		{"unobserved", base(func(s *appsv1.StatefulSet) { s.Status.ObservedGeneration = 2 }), Progressing},
		{"not ready", base(func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas = 1 }), Progressing},
		{"revisions differ", base(func(s *appsv1.StatefulSet) { s.Status.CurrentRevision = "db-1" }), Progressing},
		{"partition reached", base(func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: i32(1)}
			s.Status.CurrentRevision, s.Status.UpdatedReplicas = "db-1", 1
		}), Done},
		{"new pod cannot pull", base(func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas, s.Status.UpdateRevision = 1, "db-3" }), Failed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if h := StatefulSet(c.sts, []corev1.Pod{newPod}, now, Policy{}); h.State != c.want {
				t.Fatalf("state = %v (%s), want %v", h.State, h.Message, c.want)
			}
		})
	}
}

func TestDaemonSetHealth(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Generation: 4},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 4, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3, NumberReady: 3}}
	if h := DaemonSet(ds, nil, now, Policy{}); h.State != Done {
		t.Fatalf("state = %v (%s)", h.State, h.Message)
	}
	ds.Status.NumberAvailable = 2
	if h := DaemonSet(ds, nil, now, Policy{}); h.State != Progressing || !strings.Contains(h.Message, "2 of 3") {
		t.Fatalf("state = %v (%s)", h.State, h.Message)
	}
}

func TestEvaluateMissingWorkload(t *testing.T) {
	h := Evaluate(kube.Ref{Group: "apps", Kind: "Deployment", Name: "gone"}, &kube.Objects{}, now, Policy{})
	if h.State != Progressing {
		t.Fatalf("missing workload: state %v", h.State)
	}
}
