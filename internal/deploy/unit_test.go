// Unit tests of the deploy package's pure decisions: option validation, change detection, plan parsing
// and which workloads may be rolled back. These need no cluster.
package deploy

import (
	"slices"
	"strings"
	"testing"

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
		{"no overlay", Options{Manifests: []byte(dep)}, "overlay name is empty"},
		{"no objects", Options{Overlay: "dev", Manifests: []byte("---\n")}, "no objects"},
		{"disagreeing namespaces", Options{Overlay: "dev", Manifests: []byte(dep + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: b}\n")}, "disagree on namespace"},
		{"wrong explicit namespace", Options{Overlay: "dev", Namespace: "b", Manifests: []byte(dep)}, `is in namespace "a" but the deploy targets "b"`},
		{"only a namespace", Options{Overlay: "dev", Namespace: "a", Manifests: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")}, "only Namespace objects"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := prepare(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	p, err := prepare(Options{Overlay: "dev", Manifests: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n" + dep)})
	if err != nil || p.namespace != "a" || len(p.namespaces) != 1 || len(p.workloads) != 1 {
		t.Fatalf("prepare: %+v %v", p, err)
	}
}

func TestChangesOf(t *testing.T) {
	objs := []kube.Object{{Ref: kube.Ref{Group: "apps", Kind: "Deployment", Name: "web"}}, {Ref: kube.Ref{Kind: "Service", Name: "web"}}, {Ref: kube.Ref{Kind: "ConfigMap", Name: "new"}}}
	before := kube.Versions{"deployment.apps/web": "10", "service/web": "11"}
	after := kube.Versions{"deployment.apps/web": "15", "service/web": "11", "configmap/new": "16"}
	var got []string
	for _, c := range changesOf(objs, before, after) {
		got = append(got, c.Object+" "+c.Action)
	}
	if want := []string{"deployment.apps/web configured", "service/web unchanged", "configmap/new created"}; !slices.Equal(got, want) {
		t.Fatalf("changes = %v", got)
	}
}

func TestDiffedObjects(t *testing.T) {
	diff := "diff -u -N /tmp/LIVE-1/apps.v1.Deployment.ns.web /tmp/MERGED-2/apps.v1.Deployment.ns.web\n--- a\n+++ b\n-x\n+y\n" +
		"diff -u -N /tmp/LIVE-1/v1.ConfigMap.ns.c /tmp/MERGED-2/v1.ConfigMap.ns.c\n"
	if got := diffedObjects(diff); !slices.Equal(got, []string{"apps.v1.Deployment.ns.web", "v1.ConfigMap.ns.c"}) {
		t.Fatalf("objects = %v", got)
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
