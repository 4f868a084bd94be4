// Decoding of kubectl output into k8s.io/api types. Everything downstream (health, diagnosis, report)
// works on typed objects, never on text, so a change in kubectl's human output cannot break a decision.
package kube

import (
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Objects is a decoded `kubectl get -o json` list, split by kind.
type Objects struct {
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	DaemonSets   []appsv1.DaemonSet
	ReplicaSets  []appsv1.ReplicaSet
	Pods         []corev1.Pod
	Services     []corev1.Service
	Events       []corev1.Event
	ConfigMaps   []corev1.ConfigMap
}

type typeMeta struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
}

// DecodeList decodes a List (or a single object) of the kinds the deployer reads; others are ignored.
func DecodeList(data []byte) (*Objects, error) {
	var head struct {
		typeMeta
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("decoding kubectl output: %w", err)
	}
	items := head.Items
	if !strings.HasSuffix(head.Kind, "List") {
		items = []json.RawMessage{data}
	}
	out := &Objects{}
	for _, raw := range items {
		if err := out.add(raw); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (o *Objects) add(raw json.RawMessage) error {
	var tm typeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return fmt.Errorf("decoding kubectl output item: %w", err)
	}
	var err error
	switch tm.Kind {
	case "Deployment":
		err = appendDecoded(raw, &o.Deployments)
	case "StatefulSet":
		err = appendDecoded(raw, &o.StatefulSets)
	case "DaemonSet":
		err = appendDecoded(raw, &o.DaemonSets)
	case "ReplicaSet":
		err = appendDecoded(raw, &o.ReplicaSets)
	case "Pod":
		err = appendDecoded(raw, &o.Pods)
	case "Service":
		err = appendDecoded(raw, &o.Services)
	case "Event":
		err = appendDecoded(raw, &o.Events)
	case "ConfigMap":
		err = appendDecoded(raw, &o.ConfigMaps)
	}
	if err != nil {
		return fmt.Errorf("decoding %s from kubectl output: %w", tm.Kind, err)
	}
	return nil
}

func appendDecoded[T any](raw json.RawMessage, into *[]T) error {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	*into = append(*into, v)
	return nil
}

// Versions maps an object's Ref.String() ("kind.group/name") to its resourceVersion, as printed by
// CurrentVersions and Apply. Keyed without namespace: a deploy works within one namespace.
type Versions map[string]string

// ParseVersions reads "KIND APIVERSION NAME RV" lines (whitespace separated).
func ParseVersions(out []byte) (Versions, error) {
	v := Versions{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("unexpected kubectl identity line %q", line)
		}
		gv, err := schema.ParseGroupVersion(f[1])
		if err != nil {
			return nil, fmt.Errorf("unexpected apiVersion in kubectl output %q: %w", line, err)
		}
		v[Ref{Group: gv.Group, Kind: f[0], Name: f[2]}.String()] = f[3]
	}
	return v, nil
}
