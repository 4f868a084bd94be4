// Decoding of API objects into k8s.io/api types. Everything downstream (health, diagnosis, report) works on
// typed objects, so a decision never depends on how a field happened to be spelled in a map.
package kube

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kinds the deployer reads in typed form.
var (
	DeploymentKind  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	StatefulSetKind = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	DaemonSetKind   = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}
	ReplicaSetKind  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
	PodKind         = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	ServiceKind     = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	EventKind       = schema.GroupVersionKind{Version: "v1", Kind: "Event"}
	ConfigMapKind   = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	HPAKind         = schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}
	JobKind         = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
)

// Objects is a set of objects read from one namespace, split by kind.
type Objects struct {
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	DaemonSets   []appsv1.DaemonSet
	ReplicaSets  []appsv1.ReplicaSet
	Pods         []corev1.Pod
	Services     []corev1.Service
	Events       []corev1.Event
	ConfigMaps   []corev1.ConfigMap
	HPAs         []autoscalingv2.HorizontalPodAutoscaler
	Jobs         []batchv1.Job
}

// Add decodes one object into its typed list; kinds the deployer does not read are ignored.
func (o *Objects) Add(u *unstructured.Unstructured) error {
	var err error
	switch u.GroupVersionKind().GroupKind() {
	case DeploymentKind.GroupKind():
		err = appendTyped(u, &o.Deployments)
	case StatefulSetKind.GroupKind():
		err = appendTyped(u, &o.StatefulSets)
	case DaemonSetKind.GroupKind():
		err = appendTyped(u, &o.DaemonSets)
	case ReplicaSetKind.GroupKind():
		err = appendTyped(u, &o.ReplicaSets)
	case PodKind.GroupKind():
		err = appendTyped(u, &o.Pods)
	case ServiceKind.GroupKind():
		err = appendTyped(u, &o.Services)
	case EventKind.GroupKind():
		err = appendTyped(u, &o.Events)
	case ConfigMapKind.GroupKind():
		err = appendTyped(u, &o.ConfigMaps)
	case HPAKind.GroupKind():
		err = appendTyped(u, &o.HPAs)
	case JobKind.GroupKind():
		err = appendTyped(u, &o.Jobs)
	}
	if err != nil {
		return fmt.Errorf("decoding %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

func appendTyped[T any](u *unstructured.Unstructured, into *[]T) error {
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &v); err != nil {
		return err
	}
	*into = append(*into, v)
	return nil
}

// Read lists several kinds in a namespace at once (one request each, in parallel) into typed form.
func (c *Client) Read(ctx context.Context, namespace, selector string, kinds ...schema.GroupVersionKind) (*Objects, error) {
	lists := make([]*unstructured.UnstructuredList, len(kinds))
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i], errs[i] = c.List(ctx, k, namespace, selector)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first, typed, so callers can still branch on its Reason
		}
	}
	out := &Objects{}
	for i, l := range lists {
		for j := range l.Items {
			item := &l.Items[j]
			// A list's items carry no kind of their own in some servers' answers: take the listed one.
			if item.GetKind() == "" {
				item.SetGroupVersionKind(kinds[i])
			}
			if err := out.Add(item); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
