// A live view of some kinds in one namespace, kept by list-then-watch per kind. It guards against two
// opposite failures: noticing a finished rollout late (a poll loop sees it a whole period after the fact; a
// watch hears it within a round trip), and giving up because the API server blinked (a broken watch is
// re-listed with backoff, and the error is reported as transient until the caller's deadline decides).
package kube

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// Watch is a live view; stop it by cancelling the context given to Client.Watch.
type Watch struct {
	kinds   []schema.GroupVersionKind
	changed chan struct{} // capacity 1: changes coalesce

	mu        sync.Mutex
	items     []map[string]*unstructured.Unstructured // per kind, by name
	synced    []bool
	transient error // the last failure since the last successful read
	fatal     error // a failure retrying cannot fix (forbidden, unknown kind)
}

// Watch starts watching the kinds in a namespace.
func (c *Client) Watch(ctx context.Context, namespace string, kinds ...schema.GroupVersionKind) *Watch {
	w := &Watch{kinds: kinds, changed: make(chan struct{}, 1), items: make([]map[string]*unstructured.Unstructured, len(kinds)), synced: make([]bool, len(kinds))}
	for i, k := range kinds {
		w.items[i] = map[string]*unstructured.Unstructured{}
		go w.follow(ctx, c, namespace, i, k)
	}
	return w
}

// Next waits until something changed since the last call, d passed, or ctx ended, then returns the view
// (nil until every kind has been listed once) and the last transient failure, if any since the last
// successful read. err is a failure that retrying cannot fix, or the context's.
func (w *Watch) Next(ctx context.Context, d time.Duration) (snap *Objects, transient, err error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-w.changed:
	case <-timer.C:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fatal != nil {
		return nil, nil, w.fatal
	}
	for _, s := range w.synced {
		if !s {
			return nil, w.transient, nil
		}
	}
	snap = &Objects{}
	for _, m := range w.items {
		for _, u := range m {
			if err := snap.Add(u); err != nil {
				return nil, nil, err
			}
		}
	}
	return snap, w.transient, nil
}

func (w *Watch) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// follow lists then watches one kind until ctx ends, re-listing after any break.
func (w *Watch) follow(ctx context.Context, c *Client, ns string, i int, gvk schema.GroupVersionKind) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.listAndWatch(ctx, c, ns, i, gvk)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if HasReason(err, Forbidden) || HasReason(err, Invalid) {
				w.fail(err)
				return
			}
			w.setTransient(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if err != nil {
			backoff = min(2*backoff, time.Second)
		} else {
			backoff = 100 * time.Millisecond
		}
	}
}

// listAndWatch returns when the watch ends: nil when the server closed it normally.
func (w *Watch) listAndWatch(ctx context.Context, c *Client, ns string, i int, gvk schema.GroupVersionKind) error {
	r, err := c.resource(ctx, gvk, ns)
	if err != nil {
		return err
	}
	op := "watch " + kindName(gvk)
	list, err := r.list(ctx, nil)
	if err != nil {
		return classify(op, err)
	}
	w.replace(i, list.Items)
	q := url.Values{"watch": {"true"}, "resourceVersion": {list.GetResourceVersion()},
		"allowWatchBookmarks": {"true"}, "timeoutSeconds": {"300"}}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: r.base, query: q})
	if err != nil {
		return classify(op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return classify(op, responseError(resp, body, request{method: http.MethodGet}))
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Type   watch.EventType `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		// A stream that ends or breaks, and an ERROR event (usually 410 Gone: our resourceVersion is too
		// old), all lead to a re-list, which reports real failures.
		if dec.Decode(&ev) != nil || ev.Type == watch.Error {
			return nil
		}
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, ev.Object)
			if err != nil {
				return nil
			}
			if u, ok := obj.(*unstructured.Unstructured); ok {
				w.apply(i, ev.Type, u)
			}
		}
	}
}

func (w *Watch) replace(i int, items []unstructured.Unstructured) {
	m := make(map[string]*unstructured.Unstructured, len(items))
	for j := range items {
		u := &items[j]
		if u.GetKind() == "" {
			u.SetGroupVersionKind(w.kinds[i])
		}
		m[u.GetName()] = u
	}
	w.mu.Lock()
	w.items[i], w.synced[i], w.transient = m, true, nil
	w.mu.Unlock()
	w.notify()
}

func (w *Watch) apply(i int, t watch.EventType, u *unstructured.Unstructured) {
	if u.GetKind() == "" {
		u.SetGroupVersionKind(w.kinds[i])
	}
	w.mu.Lock()
	if t == watch.Deleted {
		delete(w.items[i], u.GetName())
	} else {
		w.items[i][u.GetName()] = u
	}
	w.transient = nil
	w.mu.Unlock()
	w.notify()
}

func (w *Watch) setTransient(err error) {
	w.mu.Lock()
	w.transient = err
	w.mu.Unlock()
	w.notify()
}

func (w *Watch) fail(err error) {
	w.mu.Lock()
	w.fatal = err
	w.mu.Unlock()
	w.notify()
}
