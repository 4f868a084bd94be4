// Package predeploy runs the Jobs an overlay marks as pre-deploy (database migrations, the usual FastAPI +
// SQLAlchemy + Alembic shape) once per revision, before anything else in the release changes. It guards
// against three classic failures of "just put the migration Job in the manifests": the Job created after
// (or beside) the Deployment it must precede and never waited for; the second revision refused because a
// Job's pod template is immutable; and a failed migration followed by a rollout of code that needs it.
//
// A marked Job gets a name unique to its rendered content (which pins the image by digest), so each
// revision is a new Job and the same revision deployed twice runs it once. It is applied and waited to
// completion; its own activeDeadlineSeconds holds and the deploy's --timeout caps it (written into the Job,
// so Kubernetes stops the pod, not just the waiter). Old runs are cleaned up by keeping the last KeepRuns
// finished Jobs of each name; a running Job is never deleted. A rollback never runs a Job.
package predeploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"dagger/ship/internal/kube"
)

// HookAnnotation marks a Job as a pre-deploy job with the value PreDeploy (the convention of Helm's
// helm.sh/hook and Argo CD's hook annotations, under ship's own prefix).
const (
	HookAnnotation = kube.HookAnnotation
	PreDeploy      = kube.PreDeployHook
)

// KeepRuns is how many finished runs of each pre-deploy job stay in the namespace (for their logs).
const KeepRuns = 3

// DefaultDeadline is a pre-deploy job's activeDeadlineSeconds when neither it nor the deploy's --timeout
// sets one: a migration that hangs must not hold the namespace (and the CI job) forever.
const DefaultDeadline = 15 * time.Minute

// maxName is the longest Job name whose pods still get a valid job-name label (a label value: 63).
const maxName = 63

// Job is one pre-deploy job as it will be created for this revision.
type Job struct {
	Base string // the name in the manifests, e.g. "migrate"
	kube.Object
}

// IsPreDeploy reports whether an object is a Job marked pre-deploy.
func IsPreDeploy(o kube.Object) bool {
	return o.Group == "batch" && o.Kind == "Job" && o.Body.GetAnnotations()[HookAnnotation] == PreDeploy
}

// CheckMarks refuses the hook annotation where it means nothing (on anything but a Job) or has a value
// ship does not know, so a typo never silently turns a migration into an ordinary object.
func CheckMarks(objs []kube.Object) error {
	for _, o := range objs {
		v, ok := o.Body.GetAnnotations()[HookAnnotation]
		switch {
		case !ok:
		case v != PreDeploy:
			return fmt.Errorf("%s: annotation %s=%q is not known: the only hook is %q", o.Ref, HookAnnotation, v, PreDeploy)
		case o.Group != "batch" || o.Kind != "Job":
			return fmt.Errorf("%s: annotation %s=%s is only for batch/v1 Jobs", o.Ref, HookAnnotation, PreDeploy)
		}
	}
	return nil
}

// Prepare names a marked Job after its rendered content and caps its deadline at timeout (0: no cap).
func Prepare(o kube.Object, timeout time.Duration) (Job, error) {
	if o.Version != "v1" {
		return Job{}, fmt.Errorf("%s: pre-deploy jobs must be batch/v1", o.Ref)
	}
	body := o.Body.DeepCopy()
	sum, err := contentHash(body)
	if err != nil {
		return Job{}, fmt.Errorf("%s: %w", o.Ref, err)
	}
	base := o.Name
	if len(base) > maxName-len(sum)-1 {
		base = base[:maxName-len(sum)-1]
	}
	name := base + "-" + sum
	body.SetName(name)
	labels := body.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[kube.PreDeployJobLabel] = o.Name
	body.SetLabels(labels)
	if err := capDeadline(body, timeout); err != nil {
		return Job{}, fmt.Errorf("%s: %w", o.Ref, err)
	}
	ref := o.Ref
	ref.Name = name
	return Job{Base: o.Name, Object: kube.Object{Ref: ref, Body: body}}, nil
}

// contentHash is 8 hex digits of the rendered Job: any change to it (the image digest above all) is a new run.
func contentHash(body *unstructured.Unstructured) (string, error) {
	data, err := json.Marshal(body.Object) // map keys are sorted: the encoding is canonical
	if err != nil {
		return "", fmt.Errorf("encoding the job: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:4]), nil
}

// capDeadline makes spec.activeDeadlineSeconds the Job's own, capped at timeout; DefaultDeadline when
// neither is set.
func capDeadline(body *unstructured.Unstructured, timeout time.Duration) error {
	own, found, err := unstructured.NestedInt64(body.Object, "spec", "activeDeadlineSeconds")
	if err != nil {
		return fmt.Errorf("spec.activeDeadlineSeconds: %w", err)
	}
	limit := own
	if !found || own <= 0 {
		limit = int64(DefaultDeadline / time.Second)
		if timeout > 0 {
			limit = int64(math.Ceil(timeout.Seconds()))
		}
	} else if timeout > 0 {
		limit = min(own, int64(math.Ceil(timeout.Seconds())))
	}
	return unstructured.SetNestedField(body.Object, limit, "spec", "activeDeadlineSeconds")
}

// deadline is the prepared Job's activeDeadlineSeconds.
func (j Job) deadline() time.Duration {
	s, _, _ := unstructured.NestedInt64(j.Body.Object, "spec", "activeDeadlineSeconds")
	return time.Duration(s) * time.Second
}
