// The accepted apiVersions, proven both ways: the kinds an app ships in their stable versions decode strictly
// (a misspelt field in each is still caught), and a version Kubernetes no longer serves is a finding that
// lists the accepted ones.
package validate

import (
	"strings"
	"testing"
)

func TestAcceptedKinds(t *testing.T) {
	cases := []struct{ apiVersion, kind, spec string }{
		{"policy/v1", "PodDisruptionBudget", "spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}"},
		{"networking.k8s.io/v1", "Ingress", "spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}"},
		{"networking.k8s.io/v1", "NetworkPolicy", "spec: {podSelector: {}, policyTypes: [Ingress]}"},
		{"autoscaling/v2", "HorizontalPodAutoscaler", "spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 3}"},
		{"autoscaling/v1", "HorizontalPodAutoscaler", "spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 3}"},
		{"rbac.authorization.k8s.io/v1", "Role", "rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]"},
		{"v1", "ConfigMap", "data: {k: v}"},
		{"v1", "ServiceAccount", "automountServiceAccountToken: false"},
		{"scheduling.k8s.io/v1", "PriorityClass", "value: 1000"},
		{"storage.k8s.io/v1", "StorageClass", "provisioner: ebs.csi.aws.com"},
	}
	for _, c := range cases {
		t.Run(c.apiVersion+"/"+c.kind, func(t *testing.T) {
			doc := "apiVersion: " + c.apiVersion + "\nkind: " + c.kind + "\nmetadata: {name: web, namespace: team}\n" + c.spec + "\n"
			r, err := Manifests([]byte(doc), Options{})
			if err != nil || !r.OK() {
				t.Fatalf("report %v, err %v; want OK", r, err)
			}
			r, err = Manifests([]byte(doc+"misspelt: 1\n"), Options{})
			if err != nil || !hasFinding(r, c.kind+" team/web", "misspelt", "unknown field") {
				t.Fatalf("a misspelt field was not found: report %v, err %v", r, err)
			}
		})
	}
}

func TestRemovedVersionListsAccepted(t *testing.T) {
	doc := "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: team}\nspec: {maxUnavailable: 1}\n"
	r, err := Manifests([]byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasFinding(r, "PodDisruptionBudget team/web", "kind", "not a known built-in Kubernetes type") {
		t.Fatalf("policy/v1beta1 was accepted: %v", r)
	}
	for _, v := range []string{"v1,", "apps/v1", "policy/v1", "networking.k8s.io/v1"} {
		if !strings.Contains(r.String(), v) {
			t.Errorf("the finding does not list %s among the accepted apiVersions:\n%s", v, r)
		}
	}
}
