// The requests the deployer makes, each named for what it does and returning a typed *Error. Manifests and
// object data travel only in request bodies between this process and the proxy: never on a command line,
// never as container stdin (which Dagger records in its traces), never in an error message.
package kube

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	DryRun  bool   // validate, admit and default on the server without persisting
	Manager string // field manager; FieldManager when empty
}

// Apply server-side applies one object. Conflicts are forced: a previous rollback took ownership of the pod
// template, and must not block the next deploy.
func (c *Client) Apply(ctx context.Context, obj *unstructured.Unstructured, o ApplyOptions) (*unstructured.Unstructured, error) {
	op := "apply " + RefOf(obj).String()
	if o.DryRun {
		op = "dry-run " + RefOf(obj).String()
	}
	r, err := c.resource(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{FieldManager: orDefault(o.Manager, FieldManager), Force: true}
	if o.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := r.Apply(ctx, obj.GetName(), obj, opts)
	return out, classifyFor(op, obj.GroupVersionKind(), err)
}

// Get reads one object; a missing one is a NotFound *Error.
func (c *Client) Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	r, err := c.resource(gvk, namespace)
	if err != nil {
		return nil, err
	}
	out, err := r.Get(ctx, name, metav1.GetOptions{})
	return out, classifyFor(fmt.Sprintf("read %s/%s", kindName(gvk), name), gvk, err)
}

// List reads the objects of one kind in a namespace that match a label selector ("" = all).
func (c *Client) List(ctx context.Context, gvk schema.GroupVersionKind, namespace, selector string) (*unstructured.UnstructuredList, error) {
	r, err := c.resource(gvk, namespace)
	if err != nil {
		return nil, err
	}
	out, err := r.List(ctx, metav1.ListOptions{LabelSelector: selector})
	return out, classify("list "+kindName(gvk), err)
}

// Create creates an object; an existing one is an AlreadyExists *Error.
func (c *Client) Create(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	r, err := c.resource(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	opts := metav1.CreateOptions{FieldManager: FieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := r.Create(ctx, obj, opts)
	return out, classifyFor("create "+RefOf(obj).String(), obj.GroupVersionKind(), err)
}

// Update replaces an object; the resourceVersion it carries makes the write optimistic (Conflict if stale).
func (c *Client) Update(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	r, err := c.resource(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	out, err := r.Update(ctx, obj, metav1.UpdateOptions{FieldManager: FieldManager})
	return out, classifyFor("update "+RefOf(obj).String(), obj.GroupVersionKind(), err)
}

// Patch patches an object (JSON, merge or strategic merge patch) as the given field manager.
func (c *Client) Patch(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string, pt types.PatchType, data []byte, manager string) (*unstructured.Unstructured, error) {
	r, err := c.resource(gvk, namespace)
	if err != nil {
		return nil, err
	}
	out, err := r.Patch(ctx, name, pt, data, metav1.PatchOptions{FieldManager: orDefault(manager, FieldManager)})
	return out, classifyFor(fmt.Sprintf("patch %s/%s", kindName(gvk), name), gvk, err)
}

// Precondition makes a delete conditional on the object still being the one we know.
type Precondition struct{ UID, ResourceVersion string }

// Delete deletes an object in the background (dependents are collected by the garbage collector). With a
// precondition the server refuses (Conflict) unless UID and resourceVersion still match; a missing object
// is a NotFound *Error.
func (c *Client) Delete(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string, pre *Precondition) error {
	r, err := c.resource(gvk, namespace)
	if err != nil {
		return err
	}
	policy := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &policy}
	if pre != nil {
		uid := types.UID(pre.UID)
		opts.Preconditions = &metav1.Preconditions{UID: &uid, ResourceVersion: &pre.ResourceVersion}
	}
	return classifyFor(fmt.Sprintf("delete %s/%s", kindName(gvk), name), gvk, r.Delete(ctx, name, opts))
}

// Logs reads the last lines of a container's log; previous=true for the instance that crashed. The request
// is bounded: a node that serves no logs (kwok, a dead kubelet) must not stall a diagnosis.
func (c *Client) Logs(ctx context.Context, namespace, pod, container string, tail int, previous bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := c.rest.Get().Namespace(namespace).Resource("pods").Name(pod).SubResource("log").
		Param("container", container).Param("tailLines", strconv.Itoa(tail))
	if previous {
		req = req.Param("previous", "true")
	}
	out, err := req.DoRaw(ctx)
	return out, classify("read the log of pod "+pod, err)
}

// classifyFor is classify for a request about objects of kind gvk. "namespaces "x" not found" names the
// missing namespace of a namespaced object, except when the object asked for is that Namespace itself: then
// it is plainly NotFound.
func classifyFor(op string, gvk schema.GroupVersionKind, err error) error {
	err = classify(op, err)
	var e *Error
	if gvk.Group == "" && gvk.Kind == "Namespace" && errors.As(err, &e) && e.Reason == NamespaceNotFound {
		e.Reason = NotFound
	}
	return err
}

// kindName is "deployment.apps" (core kinds: "service"), the form kubectl prints.
func kindName(gvk schema.GroupVersionKind) string {
	return Ref{Group: gvk.Group, Kind: gvk.Kind}.kind()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// CanI asks the API server whether this identity may do verb on a kind in a namespace
// (a SelfSubjectAccessReview, which every authenticated identity may create).
func (c *Client) CanI(ctx context.Context, verb string, gvk schema.GroupVersionKind, namespace string) (bool, error) {
	m, err := c.Mapping(gvk)
	if err != nil {
		return false, err
	}
	review := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
		"spec": map[string]any{"resourceAttributes": map[string]any{
			"namespace": namespace, "verb": verb, "group": m.Resource.Group, "resource": m.Resource.Resource}},
	}}
	out, err := c.Create(ctx, review, false)
	if err != nil {
		return false, err
	}
	allowed, _, _ := unstructured.NestedBool(out.Object, "status", "allowed")
	return allowed, nil
}
