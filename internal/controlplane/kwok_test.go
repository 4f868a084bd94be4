// Tests of what kwok is seeded with: the streams parse as the deployer parses manifests (so preview can
// apply them with the same code), and the Go constants agree with the stages' YAML.
package controlplane

import (
	"slices"
	"strings"
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
		"fault-image-pull-backoff", "fault-crash-loop-backoff", "fault-unready", "fault-failed-start", "fault-failed-exit"}
	if !slices.Equal(names, want) {
		t.Errorf("stages %v, want %v", names, want)
	}
	var crds []string
	for _, o := range parse(t, "LogsCRDs", LogsCRDs()) {
		if o.Kind != "CustomResourceDefinition" {
			t.Errorf("LogsCRDs holds %s", o.Ref)
		}
		crds = append(crds, o.Name)
	}
	if !slices.Equal(crds, LogsCRDNames()) {
		t.Errorf("LogsCRDs defines %v, want %v", crds, LogsCRDNames())
	}
	nodes := parse(t, "Nodes", Nodes(NodeNames(2)...))
	if len(nodes) != 2 || nodes[0].Kind != "Node" || nodes[0].Name != "kwok-node-0" || nodes[1].Name != "kwok-node-1" {
		t.Errorf("Nodes: %v", nodes)
	}
}

// Each fault stage selects pods by FaultAnnotation with the value of its Go constant, and the default
// pod stages skip every pod that carries it (the contract at the top of stages.yaml).
func TestFaultStagesMatchTheConstants(t *testing.T) {
	selects := map[string]string{}
	for _, o := range parse(t, "Stages", Stages()) {
		ann, _, _ := unstructured.NestedString(o.Body.Object, "spec", "selector", "matchAnnotations", FaultAnnotation)
		if ann != "" {
			selects[ann] = o.Name
		}
	}
	for _, mode := range []string{FaultImagePullBackOff, FaultCrashLoopBackOff, FaultUnready, FaultFailed} {
		if selects[mode] == "" {
			t.Errorf("no stage selects %s=%s (stages select %v)", FaultAnnotation, mode, selects)
		}
	}
	for _, o := range parse(t, "Stages", Stages()) {
		if o.Name != "pod-ready" && o.Name != "pod-complete" {
			continue
		}
		exprs, _, _ := unstructured.NestedSlice(o.Body.Object, "spec", "selector", "matchExpressions")
		skips := false
		for _, e := range exprs {
			m, _ := e.(map[string]any)
			skips = skips || (m["key"] == `.metadata.annotations["`+FaultAnnotation+`"]` && m["operator"] == "DoesNotExist")
		}
		if !skips {
			t.Errorf("default stage %s does not skip pods annotated %s", o.Name, FaultAnnotation)
		}
	}
	if !strings.Contains(string(Stages()), `"`+FaultExitCodeAnnotation+`"`) {
		t.Errorf("no stage reads %s", FaultExitCodeAnnotation)
	}
}
