// Immutable fields, said plainly. The API server refuses a change to a field it never changes in place (a
// Job's pod template, a workload's selector, a Service's cluster IP, an immutable ConfigMap's data) with an
// Invalid status whose message embeds the whole rejected value, often kilobytes of Go struct. It guards
// against that dump being what a user reads: the error names the object and the field in one line, says
// why the cluster refuses, and gives the fix.
package kube

import (
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// immutableField finds the field an Invalid status refuses as immutable, "" when it is another refusal.
func immutableField(status apierrors.APIStatus) string {
	d := status.Status().Details
	if d == nil {
		return ""
	}
	for _, c := range d.Causes {
		if strings.Contains(c.Message, "field is immutable") || strings.Contains(c.Message, "is immutable after creation") || strings.Contains(c.Message, "may not change once set") ||
			strings.Contains(c.Message, "updates to statefulset spec for fields other than") {
			return orDefault(c.Field, "spec")
		}
	}
	return ""
}

// immutableHelp is why a kind's field cannot change, and what to do instead.
func immutableHelp(kind, field string) (why, fix string) {
	switch {
	case kind == "Job" && strings.HasPrefix(field, "spec.template"), kind == "Job" && strings.HasPrefix(field, "spec.selector"):
		return "a Job's pod template cannot change once the Job exists",
			"if it is a migration, annotate it ship/hook: pre-deploy so each revision runs it once under a name of its own; otherwise delete the old Job first or give the Job a new name"
	case strings.HasPrefix(field, "spec.selector"):
		return "a workload's label selector cannot change",
			"keep the old selector (add labels to the pod template only), or give the workload a new name so the old one is pruned after the new one is healthy"
	case kind == "StatefulSet":
		return "a StatefulSet changes in place only its replicas, template, updateStrategy, ordinals, minReadySeconds and PVC retention policy",
			"revert that field, or delete the StatefulSet with --cascade=orphan and deploy again so it adopts its pods"
	case kind == "Service" && strings.HasPrefix(field, "spec.clusterIP"):
		return "a Service's cluster IP is assigned once",
			"remove spec.clusterIP (and clusterIPs) from the manifest so the cluster keeps the address it assigned, or delete the Service first"
	case (kind == "ConfigMap" || kind == "Secret") && (field == "data" || field == "binaryData" || field == "stringData"):
		return "it is marked immutable: true",
			"give the changed " + kind + " a new name (kustomize's generators add a content hash for this)"
	case kind == "PersistentVolumeClaim":
		return "a claim's spec is fixed once created, except its requested size",
			"revert the change, or create a new claim under another name"
	default:
		return "the cluster never changes this field in place", "revert the change, or delete the object and deploy again"
	}
}

// immutableMessage is the one-line explanation of an immutable-field refusal.
func immutableMessage(op, kind, field string) string {
	why, fix := immutableHelp(kind, field)
	return op + ": " + field + " is immutable: " + why + ". Fix: " + fix
}
