// Parsing of the rendered manifest set. The deployer needs to know which objects it is about to apply
// (namespace objects first, which workloads to watch, which owned objects are no longer rendered) without
// trusting kubectl to tell it; this guards against applying a set whose objects disagree on namespace.
package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Ref names one object. Version is optional (the cluster's preferred version is used when empty) and is
// not part of the name: an object is the same whichever version it is read at.
type Ref struct {
	Group, Version, Kind, Namespace, Name string
}

// String is "kind.group/name" (core: "kind/name"), the way `kubectl get -o name` prints it.
func (r Ref) String() string { return r.kind() + "/" + r.Name }

func (r Ref) kind() string {
	k := strings.ToLower(r.Kind)
	if r.Group != "" {
		k += "." + r.Group
	}
	return k
}

// GVK is the ref's group, version and kind.
func (r Ref) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// RefOf names an object.
func RefOf(u *unstructured.Unstructured) Ref {
	gvk := u.GroupVersionKind()
	return Ref{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// Object is one rendered manifest: its identity plus its decoded body.
type Object struct {
	Ref
	Body *unstructured.Unstructured
}

// IsNamespace reports whether the object is a Namespace.
func (o Object) IsNamespace() bool { return o.Group == "" && o.Kind == "Namespace" }

// ParseManifests splits a multi-document YAML stream into objects, rejecting documents without identity.
func ParseManifests(data []byte) ([]Object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []Object
	for i := 1; ; i++ {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("rendered manifests: document %d is not valid YAML: %w", i, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetKind() == "" || u.GetName() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("rendered manifests: document %d lacks apiVersion, kind or metadata.name", i)
		}
		objs = append(objs, Object{Ref: RefOf(u), Body: u})
	}
	if len(objs) == 0 {
		return nil, errors.New("rendered manifests: no objects to deploy")
	}
	return objs, nil
}

// clusterScoped lists the cluster-scoped kinds a rendered set may plausibly contain.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"CustomResourceDefinition": true, "PriorityClass": true, "StorageClass": true, "IngressClass": true}

// NamespaceOf derives the one namespace all namespaced objects share, or explains the disagreement.
func NamespaceOf(objs []Object) (string, error) {
	seen := map[string][]string{}
	var order []string
	for _, o := range objs {
		if clusterScoped[o.Kind] {
			continue
		}
		if _, ok := seen[o.Namespace]; !ok {
			order = append(order, o.Namespace)
		}
		seen[o.Namespace] = append(seen[o.Namespace], o.Ref.String())
	}
	switch {
	case len(order) == 1 && order[0] != "":
		return order[0], nil
	case len(order) == 0:
		return "", errors.New("rendered manifests contain no namespaced objects: set the namespace explicitly")
	}
	var parts []string
	for _, ns := range order {
		name := ns
		if ns == "" {
			name = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s: %s", name, strings.Join(seen[ns], ", ")))
	}
	return "", fmt.Errorf("rendered objects disagree on namespace (%s): set metadata.namespace in the overlay or pass the namespace explicitly", strings.Join(parts, "; "))
}
