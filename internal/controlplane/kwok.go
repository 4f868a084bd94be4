// What kwok needs in the cluster before it starts: the Stage CRD, the stages (pods become Running and
// Ready unless a fault annotation asks otherwise; see kwok/stages.yaml), the Node objects it plays
// the kubelet of and, when it serves the kubelet API, the Logs and ClusterLogs CRDs. Without them kwok
// has no lifecycle to apply and no rollout ever completes, or (for the CRDs it was told to watch) fails.
package controlplane

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// FaultAnnotation is the pod (template) annotation that selects a fault stage instead of the default
// Running+Ready lifecycle.
const FaultAnnotation = "fault.ship.test/mode"

// Values of FaultAnnotation.
const (
	FaultImagePullBackOff = "ImagePullBackOff"
	FaultCrashLoopBackOff = "CrashLoopBackOff"
	FaultUnready          = "Unready"
	// FaultFailed: Running, then every container terminated (reason Error, exit code from
	// FaultExitCodeAnnotation) and the pod Failed, whatever its restartPolicy.
	FaultFailed = "Failed"
)

// FaultExitCodeAnnotation is the exit code (1-255, default 1) of the containers of a FaultFailed pod.
const FaultExitCodeAnnotation = "fault.ship.test/exit-code"

// StageCRDName is the CRD to wait for (Established) before creating Stages.
const StageCRDName = "stages.kwok.x-k8s.io"

// LogsCRDNames are the CRDs of LogsCRDs, to wait for (Established) before kwok starts.
func LogsCRDNames() []string { return []string{"logs.kwok.x-k8s.io", "clusterlogs.kwok.x-k8s.io"} }

//go:embed kwok/logs-crds.yaml
var logsCRDs []byte

// LogsCRDs is the YAML stream of kwok's Logs and ClusterLogs CustomResourceDefinitions: needed (before
// kwok starts) only with a Config.KubeletPort.
func LogsCRDs() []byte { return append([]byte(nil), logsCRDs...) }

//go:embed kwok/stage-crd.yaml
var stageCRD []byte

//go:embed kwok/stages.yaml
var stages []byte

// StageCRD is the kwok Stage CustomResourceDefinition (YAML). Create it first and wait until it is
// Established.
func StageCRD() []byte { return append([]byte(nil), stageCRD...) }

// Stages is the multi-document YAML stream of every Stage: the default lifecycle and the fault stages.
func Stages() []byte { return append([]byte(nil), stages...) }

// NodeNames names n kwok Nodes: kwok-node-0, kwok-node-1, ...
func NodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("kwok-node-%d", i)
	}
	return names
}

// Node is a kwok Node object (JSON) with generous capacity; kwok's node-initialize stage fills in
// its conditions, addresses and nodeInfo.
func Node(name string) []byte {
	resources := map[string]string{"cpu": "1000", "memory": "1Ti", "pods": "1000", "ephemeral-storage": "1Ti"}
	data, err := json.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": map[string]any{
			"name": name,
			"labels": map[string]string{
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"kubernetes.io/hostname": name,
				"type":                   "kwok",
			},
			"annotations": map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		"status": map[string]any{"allocatable": resources, "capacity": resources},
	})
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return data
}

// Nodes is a YAML stream of the Node objects of names, for one `kubectl apply -f`.
func Nodes(names ...string) []byte {
	var out []byte
	for _, name := range names {
		out = append(out, "---\n"...)
		out = append(out, Node(name)...)
		out = append(out, '\n')
	}
	return out
}
