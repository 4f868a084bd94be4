// Checks about what ship does after the apply, which no single field is
// wrong for: a Deployment that keeps too little history for ship's rollback
// to the previous revision, replicas an autoscaler owns, which ship leaves
// alone, and a Job that the next revision's image would make the cluster
// refuse. None fails validation; each is said before a deploy rather than
// discovered during one.
package validate

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"dagger/ship/internal/kube"
)

// minRevisionHistory is the revisionHistoryLimit below which ship's
// rollback to the previous revision cannot be relied on.
const minRevisionHistory = 2

// checkSet runs the checks that look at the decoded objects together.
func checkSet(r *Report, objs []decoded) {
	for _, d := range objs {
		if dep, ok := d.obj.(*appsv1.Deployment); ok {
			checkRevisionHistory(r, d.name, dep)
		}
	}
	checkAutoscaled(r, objs)
	checkStaticKeys(r, objs)
	checkUnmarkedJobs(r, objs)
}

// checkUnmarkedJobs warns about a Job that runs the service's image without the pre-deploy mark: the next
// revision changes its pod template, which the cluster refuses for an existing Job.
func checkUnmarkedJobs(r *Report, objs []decoded) {
	service := map[string]bool{}
	for _, d := range objs {
		if spec, _, longRunning := podSpecOf(d.obj); spec != nil && longRunning {
			for _, c := range spec.Containers {
				service[c.Image] = true
			}
		}
	}
	for _, d := range objs {
		job, ok := d.obj.(*batchv1.Job)
		if !ok || job.Annotations[kube.HookAnnotation] == kube.PreDeployHook {
			continue
		}
		for _, c := range job.Spec.Template.Spec.Containers {
			if service[c.Image] {
				r.Findings = append(r.Findings, Finding{Object: d.name, Field: "metadata.annotations", Severity: Warning,
					Message: fmt.Sprintf("runs the service image but is not a pre-deploy job: the next revision changes its pod template, which the cluster refuses for an existing Job; if it is a migration, annotate it %s: %s", kube.HookAnnotation, kube.PreDeployHook)})
				break
			}
		}
	}
}

func checkRevisionHistory(r *Report, name string, dep *appsv1.Deployment) {
	limit := dep.Spec.RevisionHistoryLimit // nil means Kubernetes' default, 10
	if limit == nil || *limit >= minRevisionHistory {
		return
	}
	r.Findings = append(r.Findings, Finding{Object: name, Field: "spec.revisionHistoryLimit", Severity: Warning,
		Message: fmt.Sprintf("is %d; rollback impossible: ship rolls back to the previous revision, which Kubernetes keeps only when revisionHistoryLimit >= %d",
			*limit, minRevisionHistory)})
}

// checkAutoscaled notes each workload in the set that an autoscaler in the
// set scales: its spec.replicas is the autoscaler's, not the manifests'.
func checkAutoscaled(r *Report, objs []decoded) {
	for _, a := range objs {
		hpa, target, ok := scaleTarget(a.obj)
		if !ok {
			continue
		}
		for _, d := range objs {
			if d.name == target {
				r.Findings = append(r.Findings, Finding{Object: d.name, Field: "spec.replicas", Severity: Info,
					Message: "left to HorizontalPodAutoscaler " + hpa + ": ship does not apply it"})
			}
		}
	}
}

// scaleTarget returns an autoscaler's name and what it scales, named as
// findings name objects ("Kind namespace/name": the autoscaler's
// namespace is its target's). Only the versions an API server still
// serves (v1, v2) are read.
func scaleTarget(obj runtime.Object) (hpa, target string, ok bool) {
	var ns, kind, name string
	switch h := obj.(type) {
	case *autoscalingv1.HorizontalPodAutoscaler:
		hpa, ns, kind, name = h.Name, h.Namespace, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name
	case *autoscalingv2.HorizontalPodAutoscaler:
		hpa, ns, kind, name = h.Name, h.Namespace, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name
	default:
		return "", "", false
	}
	if ns != "" {
		name = ns + "/" + name
	}
	return hpa, kind + " " + name, true
}
