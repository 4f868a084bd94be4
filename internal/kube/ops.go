// The requests the deployer makes, each named for what it does and returning a typed *Error. Manifests and
// object data travel only in request bodies between this process and the proxy: never on a command line,
// never as container stdin (which Dagger records in its traces), never in an error message.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
	r, err := c.resource(ctx, obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	out, err := r.apply(ctx, obj, o)
	return out, classifyFor(op, obj.GroupVersionKind(), err)
}

func (r *resource) apply(ctx context.Context, obj *unstructured.Unstructured, o ApplyOptions) (*unstructured.Unstructured, error) {
	p, err := r.object(obj.GetName())
	if err != nil {
		return nil, err
	}
	if len(obj.GetManagedFields()) > 0 {
		return nil, errors.New("cannot apply an object with managed fields already set")
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	q := url.Values{"fieldManager": {orDefault(o.Manager, FieldManager)}, "force": {"true"}}
	if o.DryRun {
		q.Set("dryRun", metav1.DryRunAll)
	}
	return r.send(ctx, http.MethodPatch, p, q, body, string(types.ApplyPatchType))
}

// Get reads one object; a missing one is a NotFound *Error.
func (c *Client) Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	r, err := c.resource(ctx, gvk, namespace)
	if err != nil {
		return nil, err
	}
	out, err := r.named(ctx, http.MethodGet, name, nil, nil, "")
	return out, classifyFor(fmt.Sprintf("read %s/%s", kindName(gvk), name), gvk, err)
}

// List reads the objects of one kind in a namespace that match a label selector ("" = all).
func (c *Client) List(ctx context.Context, gvk schema.GroupVersionKind, namespace, selector string) (*unstructured.UnstructuredList, error) {
	r, err := c.resource(ctx, gvk, namespace)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if selector != "" {
		q.Set("labelSelector", selector)
	}
	out, err := r.list(ctx, q)
	return out, classify("list "+kindName(gvk), err)
}

// Create creates an object; an existing one is an AlreadyExists *Error.
func (c *Client) Create(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	r, err := c.resource(ctx, obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	q := url.Values{"fieldManager": {FieldManager}}
	if dryRun {
		q.Set("dryRun", metav1.DryRunAll)
	}
	out, err := r.withBody(ctx, http.MethodPost, r.base, q, obj)
	return out, classifyFor("create "+RefOf(obj).String(), obj.GroupVersionKind(), err)
}

// Update replaces an object; the resourceVersion it carries makes the write optimistic (Conflict if stale).
func (c *Client) Update(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	r, err := c.resource(ctx, obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	out, err := r.named(ctx, http.MethodPut, obj.GetName(), url.Values{"fieldManager": {FieldManager}}, obj, "")
	return out, classifyFor("update "+RefOf(obj).String(), obj.GroupVersionKind(), err)
}

// Patch patches an object (JSON, merge or strategic merge patch) as the given field manager.
func (c *Client) Patch(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string, pt types.PatchType, data []byte, manager string) (*unstructured.Unstructured, error) {
	r, err := c.resource(ctx, gvk, namespace)
	if err != nil {
		return nil, err
	}
	out, err := r.named(ctx, http.MethodPatch, name, url.Values{"fieldManager": {orDefault(manager, FieldManager)}}, data, string(pt))
	return out, classifyFor(fmt.Sprintf("patch %s/%s", kindName(gvk), name), gvk, err)
}

// Precondition makes a delete conditional on the object still being the one we know.
type Precondition struct{ UID, ResourceVersion string }

// Delete deletes an object in the background (dependents are collected by the garbage collector). With a
// precondition the server refuses (Conflict) unless UID and resourceVersion still match; a missing object
// is a NotFound *Error.
func (c *Client) Delete(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string, pre *Precondition) error {
	r, err := c.resource(ctx, gvk, namespace)
	if err != nil {
		return err
	}
	policy := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}, PropagationPolicy: &policy}
	if pre != nil {
		uid := types.UID(pre.UID)
		opts.Preconditions = &metav1.Preconditions{UID: &uid, ResourceVersion: &pre.ResourceVersion}
	}
	_, err = r.named(ctx, http.MethodDelete, name, nil, opts, "")
	return classifyFor(fmt.Sprintf("delete %s/%s", kindName(gvk), name), gvk, err)
}

// Logs reads the last lines of a container's log; previous=true for the instance that crashed. The request
// is bounded: a node that serves no logs (kwok, a dead kubelet) must not stall a diagnosis.
func (c *Client) Logs(ctx context.Context, namespace, pod, container string, tail int, previous bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := c.logs(ctx, namespace, pod, container, tail, previous)
	return out, classify("read the log of pod "+pod, err)
}

func (c *Client) logs(ctx context.Context, namespace, pod, container string, tail int, previous bool) ([]byte, error) {
	for _, s := range []string{namespace, pod} {
		if msgs := path.IsValidPathSegmentName(s); len(msgs) > 0 || s == "" {
			return nil, fmt.Errorf("invalid name %q in a pod log request: %s", s, strings.Join(msgs, ", "))
		}
	}
	q := url.Values{"container": {container}, "tailLines": {strconv.Itoa(tail)}}
	if previous {
		q.Set("previous", "true")
	}
	return c.do(ctx, request{method: http.MethodGet, path: "/api/v1/namespaces/" + namespace + "/pods/" + pod + "/log",
		query: q, gr: schema.GroupResource{Resource: "pods"}, name: pod})
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
	m, err := c.lookup(ctx, gvk)
	if err != nil {
		return false, err
	}
	review := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
		"spec": map[string]any{"resourceAttributes": map[string]any{
			"namespace": namespace, "verb": verb, "group": m.Group, "resource": m.Resource}},
	}}
	out, err := c.Create(ctx, review, false)
	if err != nil {
		return false, err
	}
	allowed, _, _ := unstructured.NestedBool(out.Object, "status", "allowed")
	return allowed, nil
}

// named sends a request about one named object; body is JSON-encoded unless it is already bytes (a patch).
func (r *resource) named(ctx context.Context, method, name string, q url.Values, body any, contentType string) (*unstructured.Unstructured, error) {
	p, err := r.object(name)
	if err != nil {
		return nil, err
	}
	if b, ok := body.([]byte); ok {
		return r.send(ctx, method, p, q, b, contentType)
	}
	return r.withBody(ctx, method, p, q, body)
}

// withBody sends body (nil: none) as JSON.
func (r *resource) withBody(ctx context.Context, method, p string, q url.Values, body any) (*unstructured.Unstructured, error) {
	if body == nil {
		return r.send(ctx, method, p, q, nil, "")
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return r.send(ctx, method, p, q, data, "application/json")
}

// send sends one request and decodes the object answered (nil for an answer that is not an object, such as
// the Status a delete returns).
func (r *resource) send(ctx context.Context, method, p string, q url.Values, body []byte, contentType string) (*unstructured.Unstructured, error) {
	data, err := r.c.do(ctx, request{method: method, path: p, query: q, body: body, contentType: contentType})
	if err != nil || method == http.MethodDelete {
		return nil, err
	}
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, data)
	if err != nil {
		return nil, fmt.Errorf("decoding the answer to %s %s: %w", method, p, err)
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("the answer to %s %s is a %T, not an object", method, p, obj)
	}
	return u, nil
}

// list reads the collection. Items carry the kind of the list (the server leaves it out of each item).
func (r *resource) list(ctx context.Context, q url.Values) (*unstructured.UnstructuredList, error) {
	data, err := r.c.do(ctx, request{method: http.MethodGet, path: r.base, query: q})
	if err != nil {
		return nil, err
	}
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, data)
	if err != nil {
		return nil, fmt.Errorf("decoding the list of %s: %w", r.gvr.Resource, err)
	}
	switch l := obj.(type) {
	case *unstructured.UnstructuredList:
		return l, nil
	case *unstructured.Unstructured:
		return l.ToList()
	}
	return nil, fmt.Errorf("the list of %s is a %T, not a list", r.gvr.Resource, obj)
}
