// Package rollout waits for workloads to roll out and decides, from typed objects only, whether each is
// done, still progressing, or failed. This file is the pure health evaluation: the same criteria as
// `kubectl rollout status`, plus fail-fast detection of pods of the NEW revision that cannot succeed, so a
// broken image is reported in seconds instead of after the ten-minute progress deadline.
package rollout

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dagger/ship/internal/kube"
)

// State is where a workload's rollout stands.
type State int

const (
	Progressing State = iota
	Done
	Failed
)

// Health is one evaluation of one workload.
type Health struct {
	State    State
	Progress string // "1/2 updated, 1/2 ready": what progress lines print
	Message  string // why it is not done, or why it failed
	Revision string // deployment revision / statefulset update revision / daemonset generation
	Images   []string
	Owners   []string     // names of the workload and its new ReplicaSet, for event filtering
	NewPods  []corev1.Pod // pods of the new revision
	Problems []PodProblem // pods of the new revision that cannot succeed
}

// PodProblem is one pod of the new revision stuck in a state it will not leave by itself.
type PodProblem struct {
	Pod, Container string
	Reason         string // ImagePullBackOff, CrashLoopBackOff, Unschedulable, ...
	Message        string
}

func (p PodProblem) String() string {
	where := "pod " + p.Pod
	if p.Container != "" {
		where += " container " + p.Container
	}
	if p.Message == "" {
		return fmt.Sprintf("%s: %s", where, p.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", where, p.Reason, p.Message)
}

// Policy tunes fail-fast decisions.
type Policy struct {
	// UnschedulableGrace is how long a new pod may stay Unschedulable (a node may be on its way).
	UnschedulableGrace time.Duration
}

// stuckReasons are container waiting reasons that do not resolve without a change to the spec.
var stuckReasons = map[string]bool{
	"ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// PodProblems reports why a pod cannot succeed, or nil while it may still make it.
func PodProblems(p corev1.Pod, now time.Time, pol Policy) []PodProblem {
	var out []PodProblem
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil && stuckReasons[w.Reason] {
			out = append(out, PodProblem{Pod: p.Name, Container: cs.Name, Reason: w.Reason, Message: w.Message})
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable &&
			now.Sub(c.LastTransitionTime.Time) >= pol.UnschedulableGrace {
			out = append(out, PodProblem{Pod: p.Name, Reason: c.Reason, Message: c.Message})
		}
	}
	return out
}

// Evaluate finds the workload in the snapshot and judges it; a missing workload is still progressing.
func Evaluate(ref kube.Ref, snap *kube.Objects, now time.Time, pol Policy) Health {
	switch ref.Kind {
	case "Deployment":
		for i := range snap.Deployments {
			if snap.Deployments[i].Name == ref.Name {
				return Deployment(&snap.Deployments[i], snap, now, pol)
			}
		}
	case "StatefulSet":
		for i := range snap.StatefulSets {
			if snap.StatefulSets[i].Name == ref.Name {
				return StatefulSet(&snap.StatefulSets[i], snap.Pods, now, pol)
			}
		}
	case "DaemonSet":
		for i := range snap.DaemonSets {
			if snap.DaemonSets[i].Name == ref.Name {
				return DaemonSet(&snap.DaemonSets[i], snap.Pods, now, pol)
			}
		}
	default:
		return Health{State: Done, Message: "not a workload"}
	}
	return Health{State: Progressing, Progress: "not found yet", Message: "waiting for the object to appear"}
}

// RevisionAnnotation is where the Deployment controller records revisions.
const RevisionAnnotation = "deployment.kubernetes.io/revision"

// Deployment mirrors `kubectl rollout status deployment`, plus fail-fast on the new ReplicaSet's pods.
func Deployment(d *appsv1.Deployment, snap *kube.Objects, now time.Time, pol Policy) Health {
	want := replicas(d.Spec.Replicas)
	st := d.Status
	h := Health{Revision: d.Annotations[RevisionAnnotation], Images: images(d.Spec.Template.Spec), Owners: []string{d.Name},
		Progress: fmt.Sprintf("%d/%d updated, %d/%d ready", st.UpdatedReplicas, want, st.ReadyReplicas, want)}
	if old := st.Replicas - st.UpdatedReplicas; old > 0 {
		h.Progress += fmt.Sprintf(", %d old", old)
	}
	if d.Generation > st.ObservedGeneration {
		h.Message = "waiting for the deployment controller to observe the new spec"
		return h
	}
	if rs := newReplicaSet(d, snap.ReplicaSets); rs != nil {
		h.Owners = append(h.Owners, rs.Name)
		h.NewPods = ownedPods(rs.UID, snap.Pods)
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return failed(h, fmt.Sprintf("exceeded its progress deadline: %s", c.Message), now, pol)
		}
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return failed(h, fmt.Sprintf("cannot create pods (%s): %s", c.Reason, c.Message), now, pol)
		}
	}
	switch {
	case st.UpdatedReplicas < want:
		h.Message = fmt.Sprintf("%d of %d new replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		h.Message = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		h.Message = fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		h.State = Done
		return h
	}
	return stuck(h, now, pol)
}

// StatefulSet mirrors `kubectl rollout status statefulset`.
func StatefulSet(s *appsv1.StatefulSet, pods []corev1.Pod, now time.Time, pol Policy) Health {
	want := replicas(s.Spec.Replicas)
	st := s.Status
	h := Health{Revision: st.UpdateRevision, Images: images(s.Spec.Template.Spec), Owners: []string{s.Name},
		Progress: fmt.Sprintf("%d/%d updated, %d/%d ready", st.UpdatedReplicas, want, st.ReadyReplicas, want)}
	if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration {
		h.Message = "waiting for the statefulset controller to observe the new spec"
		return h
	}
	for _, p := range ownedPods(s.UID, pods) {
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == st.UpdateRevision {
			h.NewPods = append(h.NewPods, p)
		}
	}
	partition := int32(0)
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	switch {
	case st.ReadyReplicas < want:
		h.Message = fmt.Sprintf("%d of %d pods ready", st.ReadyReplicas, want)
	case s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && partition > 0:
		if st.UpdatedReplicas < want-partition {
			h.Message = fmt.Sprintf("%d of %d pods updated (partition %d)", st.UpdatedReplicas, want-partition, partition)
		} else {
			h.State = Done
			return h
		}
	case s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && st.UpdateRevision != st.CurrentRevision:
		h.Message = fmt.Sprintf("%d pods at revision %s", st.UpdatedReplicas, st.UpdateRevision)
	default:
		h.State = Done
		return h
	}
	return stuck(h, now, pol)
}

// DaemonSet mirrors `kubectl rollout status daemonset`.
func DaemonSet(ds *appsv1.DaemonSet, pods []corev1.Pod, now time.Time, pol Policy) Health {
	st := ds.Status
	h := Health{Revision: strconv.FormatInt(ds.Generation, 10), Images: images(ds.Spec.Template.Spec), Owners: []string{ds.Name},
		Progress: fmt.Sprintf("%d/%d updated, %d/%d ready", st.UpdatedNumberScheduled, st.DesiredNumberScheduled, st.NumberReady, st.DesiredNumberScheduled)}
	if ds.Generation > st.ObservedGeneration {
		h.Message = "waiting for the daemonset controller to observe the new spec"
		return h
	}
	for _, p := range ownedPods(ds.UID, pods) {
		if p.Labels[appsv1.DeprecatedTemplateGeneration] == h.Revision {
			h.NewPods = append(h.NewPods, p)
		}
	}
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		h.Message = fmt.Sprintf("%d of %d new pods scheduled", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberAvailable < st.DesiredNumberScheduled:
		h.Message = fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, st.DesiredNumberScheduled)
	default:
		h.State = Done
		return h
	}
	return stuck(h, now, pol)
}

// stuck turns a progressing health into a failure when a new pod cannot succeed.
func stuck(h Health, now time.Time, pol Policy) Health {
	for _, p := range h.NewPods {
		h.Problems = append(h.Problems, PodProblems(p, now, pol)...)
	}
	if len(h.Problems) > 0 {
		h.State = Failed
		h.Message = h.Problems[0].String()
	}
	return h
}

func failed(h Health, msg string, now time.Time, pol Policy) Health {
	h = stuck(h, now, pol)
	h.State, h.Message = Failed, msg
	return h
}

// newReplicaSet is the ReplicaSet owned by d whose revision matches d's.
func newReplicaSet(d *appsv1.Deployment, all []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	rev := d.Annotations[RevisionAnnotation]
	for i := range all {
		rs := &all[i]
		if ownedBy(rs.OwnerReferences, d.UID) && rev != "" && rs.Annotations[RevisionAnnotation] == rev {
			return rs
		}
	}
	return nil
}

func ownedPods(uid types.UID, pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if ownedBy(p.OwnerReferences, uid) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func images(spec corev1.PodSpec) []string {
	var out []string
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return out
}
