// Unit tests of the deploy package's pure decisions: option validation, change detection, the plan's diff,
// which workloads may be rolled back, which revision, which config a rollback target uses, and which
// workloads an autoscaler owns. These need no cluster.
package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/rollout"
)

func TestPrepareRejectsBadInput(t *testing.T) {
	dep := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: a}\n"
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"no overlay", Options{App: "web", Manifests: []byte(dep)}, "overlay name is empty"},
		{"no app", Options{Overlay: "dev", Manifests: []byte(dep)}, "app name is empty"},
		{"no objects", Options{App: "web", Overlay: "dev", Manifests: []byte("---\n")}, "no objects"},
		{"disagreeing namespaces", Options{App: "web", Overlay: "dev", Manifests: []byte(dep + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: b}\n")}, "disagree on namespace"},
		{"wrong explicit namespace", Options{App: "web", Overlay: "dev", Namespace: "b", Manifests: []byte(dep)}, `is in namespace "a" but the deploy targets "b"`},
		{"only a namespace", Options{App: "web", Overlay: "dev", Namespace: "a", Manifests: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")}, "only Namespace objects"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := prepare(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	p, err := prepare(Options{App: "web", Overlay: "dev", Manifests: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n" + dep)})
	if err != nil || p.namespace != "a" || len(p.namespaces) != 1 || len(p.workloads) != 1 {
		t.Fatalf("prepare: %+v %v", p, err)
	}
}

func TestChangeOf(t *testing.T) {
	for _, c := range []struct{ before, after, want string }{{"", "5", "created"}, {"5", "5", "unchanged"}, {"5", "7", "configured"}} {
		if got := changeOf(c.before, c.after); got != c.want {
			t.Errorf("changeOf(%q, %q) = %q, want %q", c.before, c.after, got, c.want)
		}
	}
}

func TestRollbackTargets(t *testing.T) {
	dep := func(name string) kube.Ref { return kube.Ref{Group: "apps", Kind: "Deployment", Name: name} }
	failed := []rollout.WorkloadResult{
		{Workload: dep("changed"), Revision: "4"},
		{Workload: dep("new")},
		{Workload: dep("untouched"), Revision: "2"},
		{Workload: kube.Ref{Group: "apps", Kind: "StatefulSet", Name: "db"}},
	}
	before := map[string]revision{"changed": {Number: "3", Images: []string{"img:3"}}, "untouched": {Number: "2"}}
	targets, notes := rollbackTargets(failed, before)
	if len(targets) != 1 || targets[0].Ref.Name != "changed" || targets[0].To.Number != "3" || targets[0].From != "4" {
		t.Fatalf("targets = %+v", targets)
	}
	want := []string{"deployment/new: first deploy, nothing to roll back to", "deployment/untouched: this deploy did not change", "statefulset/db: automatic rollback covers Deployments only"}
	for i, w := range want {
		if !strings.HasPrefix(notes[i], w) {
			t.Errorf("note %d = %q, want prefix %q", i, notes[i], w)
		}
	}
}

func TestPickRevision(t *testing.T) {
	h := map[int64]revision{1: {Number: "1"}, 2: {Number: "2"}, 4: {Number: "4"}}
	// After an automatic rollback: revision 1 was renumbered 3, revision 2 is the failed one.
	failed := map[int64]revision{2: {Number: "2", Failed: "failed: ImagePullBackOff"}, 3: {Number: "3"}}
	if r, err := pickRevision("web", "3", failed, 0); err == nil {
		t.Fatalf("picked the failed revision %v", r)
	} else if !strings.Contains(err.Error(), "no earlier revision than 3 that did not fail") {
		t.Fatalf("err = %v", err)
	}
	if _, err := pickRevision("web", "3", failed, 2); err == nil || !strings.Contains(err.Error(), "the one ship saw fail") {
		t.Fatalf("explicit failed revision: %v", err)
	}
	if r, err := pickRevision("web", "4", h, 0); err != nil || r.Number != "2" {
		t.Fatalf("previous = %v %v", r, err)
	}
	if r, err := pickRevision("web", "4", h, 1); err != nil || r.Number != "1" {
		t.Fatalf("explicit = %v %v", r, err)
	}
	if _, err := pickRevision("web", "4", h, 3); err == nil || !strings.Contains(err.Error(), "no revision 3") || !strings.Contains(err.Error(), "known 1, 2, 4") {
		t.Fatalf("missing revision err = %v", err)
	}
	if _, err := pickRevision("web", "1", map[int64]revision{1: {Number: "1"}}, 0); err == nil {
		t.Fatal("no earlier revision accepted")
	}
}

func obj(t *testing.T, doc string) kube.Object {
	t.Helper()
	objs, err := kube.ParseManifests([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return objs[0]
}

func TestObjectDiff(t *testing.T) {
	live := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: ns1, resourceVersion: '7', generation: 2, managedFields: [{manager: ship}]}\nspec: {replicas: 1}\nstatus: {replicas: 1}\n")
	planned := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: ns1, resourceVersion: '7', generation: 3}\nspec: {replicas: 2}\n")
	d := objectDiff(planned, live.Body, planned.Body)
	for _, want := range []string{"--- live/apps.v1.Deployment.ns1.web", "+++ planned/apps.v1.Deployment.ns1.web", "-  replicas: 1", "+  replicas: 2"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	for _, noise := range []string{"resourceVersion", "generation", "managedFields", "status"} {
		if strings.Contains(d, noise) {
			t.Errorf("diff shows %s:\n%s", noise, d)
		}
	}
	if d := objectDiff(live, live.Body, live.Body); d != "" {
		t.Errorf("an unchanged object has a diff:\n%s", d)
	}
	if d := objectDiff(planned, nil, planned.Body); !strings.Contains(d, "+kind: Deployment") {
		t.Errorf("a new object's diff:\n%s", d)
	}
}

func TestObjectDiffMasksSecrets(t *testing.T) {
	before := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns1}\ndata: {same: c2FtZQ==, changed: b2xkLXNlY3JldA==, gone: eA==}\n")
	after := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns1}\ndata: {same: c2FtZQ==, changed: bmV3LXNlY3JldA==, added: eQ==}\n")
	d := objectDiff(after, before.Body, after.Body)
	for _, secret := range []string{"c2FtZQ==", "b2xkLXNlY3JldA==", "bmV3LXNlY3JldA==", "eA==", "eQ=="} {
		if strings.Contains(d, secret) {
			t.Fatalf("the diff shows a secret value:\n%s", d)
		}
	}
	for _, want := range []string{"-  changed: '*** (before)'", "+  changed: '*** (after)'", "-  gone: '***'", "+  added: '***'"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "-  same") || strings.Contains(d, "+  same") {
		t.Errorf("an unchanged key shows as changed:\n%s", d)
	}
}

func TestFieldsOfKeepsOnlyRenderedFields(t *testing.T) {
	live := obj(t, "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ns1, uid: u1}\nspec: {type: ClusterIP, clusterIP: 10.0.0.1, ports: [{port: 80, protocol: TCP, targetPort: 8000}]}\n")
	rendered := obj(t, "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ns1}\nspec: {type: ClusterIP, ports: [{port: 80}]}\n")
	if d := objectDiff(rendered, fieldsOf(live.Body, rendered.Body), rendered.Body); d != "" {
		t.Fatalf("server defaults show as changes:\n%s", d)
	}
	changed := obj(t, "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ns1}\nspec: {type: ClusterIP, ports: [{port: 81}]}\n")
	if d := objectDiff(changed, fieldsOf(live.Body, changed.Body), changed.Body); !strings.Contains(d, "+  - port: 81") {
		t.Fatalf("a changed port is not shown:\n%s", d)
	}
}

func TestScaleTarget(t *testing.T) {
	hpa := obj(t, "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: ns1}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 3}\n")
	if got, ok := scaleTarget(hpa.Body); !ok || got != "deployment.apps/web" {
		t.Fatalf("scaleTarget = %q %v", got, ok)
	}
	if _, ok := scaleTarget(obj(t, "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n").Body); ok {
		t.Fatal("a Service has a scale target")
	}
}

func TestPodConfigRefs(t *testing.T) {
	d := obj(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      volumes:
        - {name: a, configMap: {name: cm-vol}}
        - {name: b, secret: {secretName: sec-vol}}
        - {name: c, projected: {sources: [{configMap: {name: cm-proj}}, {secret: {name: sec-proj}}]}}
      containers:
        - name: app
          envFrom: [{configMapRef: {name: cm-from}}]
          env: [{name: X, valueFrom: {secretKeyRef: {name: sec-env, key: k}}}]
`)
	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Body.Object, &dep); err != nil {
		t.Fatal(err)
	}
	got := podConfigRefs(dep.Spec.Template.Spec)
	want := []string{"configmap/cm-vol", "secret/sec-vol", "configmap/cm-proj", "secret/sec-proj", "configmap/cm-from", "secret/sec-env"}
	if !slices.Equal(got, want) {
		t.Fatalf("refs = %v, want %v", got, want)
	}
}

func TestSameImage(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"r.io/app@" + d, "r.io/app:abc@" + d, true},
		{"localhost:5000/app@" + d, "localhost:5000/app:v1@" + d, true},
		{"r.io/app@" + d, "r.io/other@" + d, false},
		{"r.io/app:v1", "r.io/app:v1", true},
		{"r.io/app:v1", "r.io/app:v2", false},
	} {
		if got := sameImage(c.a, c.b); got != c.want {
			t.Errorf("sameImage(%q, %q) = %v", c.a, c.b, got)
		}
	}
	// --expect-image compares by digest alone.
	if !SameDigest("r.io/app@"+d, "other.io/app:v1@"+d) || SameDigest("r.io/app@"+d, "r.io/app@sha256:"+strings.Repeat("b", 64)) ||
		SameDigest("r.io/app:v1", "r.io/app@"+d) {
		t.Error("SameDigest does not compare by digest")
	}
}
