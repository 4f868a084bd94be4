// Unit tests of the pure parts: naming per revision, the deadline cap, the marks check and the cleanup rule.
package predeploy

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"dagger/ship/internal/kube"
)

func job(name, image string, deadline int64) kube.Object {
	spec := map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "m", "image": image}}}}}
	if deadline > 0 {
		spec["activeDeadlineSeconds"] = deadline
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": name, "namespace": "ns", "annotations": map[string]any{HookAnnotation: PreDeploy}}, "spec": spec}}
	return kube.Object{Ref: kube.RefOf(u), Body: u}
}

func TestPrepareNamesEachRevision(t *testing.T) {
	a, err := Prepare(job("migrate", "reg/app@sha256:aa", 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Prepare(job("migrate", "reg/app@sha256:aa", 0), 0)
	b, _ := Prepare(job("migrate", "reg/app@sha256:bb", 0), 0)
	capped, _ := Prepare(job("migrate", "reg/app@sha256:aa", 0), time.Minute)
	if !strings.HasPrefix(a.Name, "migrate-") || len(a.Name) != len("migrate-")+8 || a.Base != "migrate" {
		t.Fatalf("name %q base %q", a.Name, a.Base)
	}
	if a.Name != again.Name || a.Name == b.Name {
		t.Fatalf("same revision %s/%s, other revision %s", a.Name, again.Name, b.Name)
	}
	if capped.Name != a.Name {
		t.Fatalf("the --timeout cap renamed the run: %s vs %s", capped.Name, a.Name)
	}
	if a.Body.GetLabels()[kube.PreDeployJobLabel] != "migrate" || a.Ref.Name != a.Name || a.Body.GetName() != a.Name {
		t.Fatalf("labels %v ref %v", a.Body.GetLabels(), a.Ref)
	}
	long, _ := Prepare(job(strings.Repeat("m", 70), "x", 0), 0)
	if len(long.Name) != 63 {
		t.Fatalf("a long name became %d characters: %s", len(long.Name), long.Name)
	}
}

func TestDeadlineCap(t *testing.T) {
	for _, tc := range []struct {
		own     int64
		timeout time.Duration
		want    time.Duration
	}{
		{0, 0, DefaultDeadline},
		{0, 90 * time.Second, 90 * time.Second},
		{600, 0, 600 * time.Second},
		{600, 90 * time.Second, 90 * time.Second},
		{60, 90 * time.Second, 60 * time.Second},
		{0, 1500 * time.Millisecond, 2 * time.Second},
	} {
		j, err := Prepare(job("m", "x", tc.own), tc.timeout)
		if err != nil {
			t.Fatal(err)
		}
		if got := j.deadline(); got != tc.want {
			t.Errorf("own %d, --timeout %s: activeDeadlineSeconds %s, want %s", tc.own, tc.timeout, got, tc.want)
		}
	}
}

func TestCheckMarks(t *testing.T) {
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "c", "annotations": map[string]any{HookAnnotation: PreDeploy}}}}
	typo := job("m", "x", 0)
	typo.Body.SetAnnotations(map[string]string{HookAnnotation: "post-deploy"})
	for _, tc := range []struct {
		obj  kube.Object
		want string
	}{
		{job("m", "x", 0), ""},
		{kube.Object{Ref: kube.RefOf(cm), Body: cm}, "configmap/c: annotation ship/hook=pre-deploy is only for batch/v1 Jobs"},
		{typo, `job.batch/m: annotation ship/hook="post-deploy" is not known`},
	} {
		err := CheckMarks([]kube.Object{tc.obj})
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.obj.Ref, err, tc.want)
		}
	}
}

func TestExpiredKeepsTheNewestFinishedRuns(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(name string, minute int, state batchv1.JobConditionType) batchv1.Job {
		j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(minute) * time.Minute))}}
		if state != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: state, Status: corev1.ConditionTrue}}
		}
		return j
	}
	runs := []batchv1.Job{run("r1", 1, batchv1.JobComplete), run("r2", 2, batchv1.JobFailed), run("r3", 3, ""),
		run("r4", 4, batchv1.JobComplete), run("r5", 5, batchv1.JobComplete), run("r6", 6, batchv1.JobComplete)}
	var got []string
	for _, j := range expired(runs) {
		got = append(got, j.Name)
	}
	// r6, r5, r4 are the newest finished; r3 still runs and is never touched.
	if strings.Join(got, ",") != "r2,r1" {
		t.Fatalf("expired = %v, want r2,r1", got)
	}
}
