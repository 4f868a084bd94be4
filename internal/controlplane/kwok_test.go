// Tests of what kwok is seeded with: the streams parse as the deployer parses manifests (so preview can
// apply them with the same code), and the Go constants agree with the stages' YAML.
package controlplane

import (
	"slices"
	"testing"

	"dagger/ship/internal/kube"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func parse(t *testing.T, what string, data []byte) []kube.Object {
	t.Helper()
	objs, err := kube.ParseManifests(data)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return objs
}

func TestKwokSeedParses(t *testing.T) {
	crd := parse(t, "StageCRD", StageCRD())
	if len(crd) != 1 || crd[0].Kind != "CustomResourceDefinition" || crd[0].Name != StageCRDName {
		t.Errorf("StageCRD: %v", crd)
	}
	var names []string
	for _, o := range parse(t, "Stages", Stages()) {
		if o.Group != "kwok.x-k8s.io" || o.Kind != "Stage" {
			t.Errorf("Stages holds %s", o.Ref)
		}
		names = append(names, o.Name)
	}
	want := []string{"node-initialize", "node-heartbeat", "pod-ready", "pod-complete", "pod-delete",
		"fault-image-pull-backoff", "fault-crash-loop-backoff", "fault-unready"}
	if !slices.Equal(names, want) {
		t.Errorf("stages %v, want %v", names, want)
	}
	nodes := parse(t, "Nodes", Nodes(NodeNames(2)...))
	if len(nodes) != 2 || nodes[0].Kind != "Node" || nodes[0].Name != "kwok-node-0" || nodes[1].Name != "kwok-node-1" {
		t.Errorf("Nodes: %v", nodes)
	}
}

// Each fault stage selects pods by FaultAnnotation with the value of its Go constant.
func TestFaultStagesMatchTheConstants(t *testing.T) {
	selects := map[string]string{}
	for _, o := range parse(t, "Stages", Stages()) {
		ann, _, _ := unstructured.NestedString(o.Body.Object, "spec", "selector", "matchAnnotations", FaultAnnotation)
		if ann != "" {
			selects[ann] = o.Name
		}
	}
	for _, mode := range []string{FaultImagePullBackOff, FaultCrashLoopBackOff, FaultUnready} {
		if selects[mode] == "" {
			t.Errorf("no stage selects %s=%s (stages select %v)", FaultAnnotation, mode, selects)
		}
	}
}
