// Immutable-field refusals from a real kube-apiserver, each explained in one line naming the object and the
// field, with why and the fix, and none of the rejected value the server embeds in its message.
package kube_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/testenv/kubetest"
)

func fromYAML(t *testing.T, ns, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	return u
}

func TestImmutableFieldsAreExplainedInOneLine(t *testing.T) {
	e := kubetest.New(t)
	ctx := context.Background()
	job := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: %s}]\n"
	dep := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec: {containers: [{name: w, image: x}]}\n"
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec:\n  clusterIP: %s\n  ports: [{port: 80}]\n"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {k: %s}\n"
	for _, tc := range []struct {
		name, first, second, want string
	}{
		{"job template", fmt.Sprintf(job, "img:1"), fmt.Sprintf(job, "img:2"),
			"job.batch/migrate: spec.template is immutable: a Job's pod template cannot change once the Job exists. Fix: if it is a migration, annotate it ship/hook: pre-deploy"},
		{"deployment selector", fmt.Sprintf(dep, "a", "a"), fmt.Sprintf(dep, "b", "b"),
			"deployment.apps/web: spec.selector is immutable: a workload's label selector cannot change. Fix: keep the old selector"},
		// Addresses below the 16th of the /24 are never handed out dynamically, so no other Service has one.
		{"service cluster IP", fmt.Sprintf(svc, "10.0.0.12"), fmt.Sprintf(svc, "10.0.0.13"),
			"service/svc: spec.clusterIPs[0] is immutable: a Service's cluster IP is assigned once. Fix: remove spec.clusterIP"},
		{"immutable configmap", fmt.Sprintf(cm, "one"), fmt.Sprintf(cm, "two"),
			"configmap/frozen: data is immutable: it is marked immutable: true. Fix: give the changed ConfigMap a new name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.Client.Apply(ctx, fromYAML(t, e.Namespace, tc.first), kube.ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
			// Deleted now rather than with the namespace, which frees a cluster IP only later: go test -count=N.
			t.Cleanup(func() { e.KubectlStdin(tc.first, "delete", "-n", e.Namespace, "-f", "-") })
			_, err := e.Client.Apply(ctx, fromYAML(t, e.Namespace, tc.second), kube.ApplyOptions{DryRun: true})
			if !kube.HasReason(err, kube.Immutable) {
				t.Fatalf("not classified as immutable: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || strings.Contains(msg, "Invalid value") {
				t.Fatalf("got  %q\nwant %q, on one line, without the rejected value", msg, tc.want)
			}
		})
	}
}
