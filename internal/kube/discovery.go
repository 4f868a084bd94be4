// Which resource serves a kind, asked of the cluster one group-version at a time and remembered for the
// client's life. It guards against guessing a resource's plural or scope from its kind (an Ingress is
// "ingresses", a Namespace is cluster-scoped, a CRD's plural is whatever its author chose), and against a
// discovery answer that predates a CustomResourceDefinition installed since: a kind not found is looked up
// afresh, a few times over about two seconds, before it is called unknown.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// lookAgain spaces the fresh looks for a kind not found: a CustomResourceDefinition reported Established can
// take a moment more to appear in discovery, so only a kind still missing after about two seconds is unknown.
var lookAgain = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second}

// served is how the cluster serves a kind.
type served struct {
	schema.GroupVersionResource
	namespaced bool
}

// discovery remembers the cluster's answers: a group's versions (preferred first) and a group-version's
// resources. A group or group-version the cluster does not serve is remembered as nil.
type discovery struct {
	mu        sync.Mutex
	versions  map[string]*answer[[]string]
	resources map[schema.GroupVersion]*answer[[]metav1.APIResource]
}

// answer is one discovery request's result, shared by the callers that asked for it at the same time.
type answer[T any] struct {
	ready chan struct{}
	value T
	err   error
}

// remembered returns the answer for key, fetching it unless a fetch is under way or done; fresh replaces
// a finished answer. A failed fetch is forgotten, so the next caller asks again.
func remembered[K comparable, T any](mu *sync.Mutex, m *map[K]*answer[T], key K, fresh bool, fetch func() (T, error)) (T, error) {
	mu.Lock()
	if *m == nil {
		*m = map[K]*answer[T]{}
	}
	a, ok := (*m)[key]
	if ok && fresh {
		select {
		case <-a.ready:
			ok = false
		default: // a fetch under way is fresh enough
		}
	}
	if !ok {
		a = &answer[T]{ready: make(chan struct{})}
		(*m)[key] = a
		mu.Unlock()
		a.value, a.err = fetch()
		if a.err != nil {
			mu.Lock()
			if (*m)[key] == a {
				delete(*m, key)
			}
			mu.Unlock()
		}
		close(a.ready)
		return a.value, a.err
	}
	mu.Unlock()
	<-a.ready
	if errors.Is(a.err, context.Canceled) || errors.Is(a.err, context.DeadlineExceeded) {
		// The caller that fetched gave up; this one may not have: ask again.
		return remembered(mu, m, key, false, fetch)
	}
	return a.value, a.err
}

// lookup finds the resource that serves a kind. A version left empty means the group's preferred version,
// then its others. A kind unknown to the cluster (a CRD not installed) is an Invalid error naming it.
func (c *Client) lookup(ctx context.Context, gvk schema.GroupVersionKind) (served, error) {
	s, found, err := c.find(ctx, gvk, false)
	for _, wait := range lookAgain {
		if err != nil || found {
			break
		}
		select {
		case <-ctx.Done():
			return served{}, classify("discover the cluster's API", ctx.Err())
		case <-time.After(wait):
		}
		s, found, err = c.find(ctx, gvk, true)
	}
	if err != nil {
		return served{}, classify("discover the cluster's API", err)
	}
	if !found {
		return served{}, &Error{Op: "find " + gvk.Kind, Reason: Invalid,
			Detail: fmt.Sprintf("the cluster does not serve kind %s of group %q (is its CustomResourceDefinition installed?)", gvk.Kind, gvk.Group)}
	}
	return s, nil
}

func (c *Client) find(ctx context.Context, gvk schema.GroupVersionKind, fresh bool) (served, bool, error) {
	versions := []string{gvk.Version}
	if gvk.Version == "" {
		var err error
		if versions, err = c.groupVersions(ctx, gvk.Group, fresh); err != nil {
			return served{}, false, err
		}
	}
	for _, v := range versions {
		gv := schema.GroupVersion{Group: gvk.Group, Version: v}
		resources, err := c.groupVersionResources(ctx, gv, fresh)
		if err != nil {
			return served{}, false, err
		}
		for _, r := range resources {
			if r.Kind == gvk.Kind && !strings.Contains(r.Name, "/") { // "pods/log" is a subresource
				return served{GroupVersionResource: gv.WithResource(r.Name), namespaced: r.Namespaced}, true, nil
			}
		}
	}
	return served{}, false, nil
}

// groupVersions lists a group's versions, preferred first; the core group has only v1.
func (c *Client) groupVersions(ctx context.Context, group string, fresh bool) ([]string, error) {
	if group == "" {
		return []string{"v1"}, nil
	}
	return remembered(&c.api.mu, &c.api.versions, group, fresh, func() ([]string, error) {
		var g metav1.APIGroup
		if found, err := c.discover(ctx, "/apis/"+group, &g); !found || err != nil {
			return nil, err
		}
		versions := []string{g.PreferredVersion.Version}
		for _, v := range g.Versions {
			if v.Version != g.PreferredVersion.Version {
				versions = append(versions, v.Version)
			}
		}
		return versions, nil
	})
}

// groupVersionResources lists the resources of a group-version (nil when the cluster does not serve it).
func (c *Client) groupVersionResources(ctx context.Context, gv schema.GroupVersion, fresh bool) ([]metav1.APIResource, error) {
	p := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		p = "/api/" + gv.Version
	}
	return remembered(&c.api.mu, &c.api.resources, gv, fresh, func() ([]metav1.APIResource, error) {
		var l metav1.APIResourceList
		if found, err := c.discover(ctx, p, &l); !found || err != nil {
			return nil, err
		}
		return l.APIResources, nil
	})
}

// discover reads one discovery document into v; found is false when the server does not serve it.
func (c *Client) discover(ctx context.Context, p string, v any) (found bool, err error) {
	body, err := c.do(ctx, request{method: http.MethodGet, path: p})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return false, fmt.Errorf("the cluster's discovery document %s is not valid JSON: %w", p, err)
	}
	return true, nil
}

// resource is one kind's objects in a namespace (ignored for a cluster-scoped kind), as the cluster serves
// them; namespace "" of a namespaced kind means all namespaces.
type resource struct {
	c    *Client
	gvr  schema.GroupVersionResource
	base string // the collection's path
}

// resource finds the resource that serves a kind, and its collection in a namespace.
func (c *Client) resource(ctx context.Context, gvk schema.GroupVersionKind, namespace string) (*resource, error) {
	s, err := c.lookup(ctx, gvk)
	if err != nil {
		return nil, err
	}
	base := "/apis/" + s.Group + "/" + s.Version
	if s.Group == "" {
		base = "/api/" + s.Version
	}
	if s.namespaced && namespace != "" {
		if msgs := path.IsValidPathSegmentName(namespace); len(msgs) > 0 {
			return nil, fmt.Errorf("invalid namespace %q: %s", namespace, strings.Join(msgs, ", "))
		}
		base += "/namespaces/" + namespace
	}
	return &resource{c: c, gvr: s.GroupVersionResource, base: base + "/" + s.Resource}, nil
}

// object is the path of one named object of the resource.
func (r *resource) object(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("name is required")
	}
	if msgs := path.IsValidPathSegmentName(name); len(msgs) > 0 {
		return "", fmt.Errorf("invalid resource name %q: %s", name, strings.Join(msgs, ", "))
	}
	return r.base + "/" + name, nil
}
