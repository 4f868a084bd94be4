// Package kube is the deployer's one way to talk to a cluster: plain Kubernetes API requests sent through a
// `kubectl proxy`, which holds the credentials. In the module the proxy runs in the kubectl container as a
// Dagger service; in the tests it is a local kubectl against a real control plane; the requests are the
// same. It guards against the cost of one container exec per kubectl step (about 0.4 s each on the engine,
// so a deploy took seconds of pure overhead and noticed a finished rollout late): every read, write and
// watch here is one HTTP round trip, and a rollout is followed by watches, not polls.
//
// This file builds the client. Credentials never pass through it: the proxy adds them.
package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"
)

// FieldManager owns the fields ship applies (server-side apply).
const FieldManager = "ship"

// Endpoint returns the proxy's base URL ("http://host:port") for the next request. It may change between
// requests: the module restarts the proxy with fresh credentials before an EKS token expires.
type Endpoint func(ctx context.Context) (string, error)

// StaticEndpoint is an Endpoint that never changes.
func StaticEndpoint(base string) Endpoint {
	return func(context.Context) (string, error) { return base, nil }
}

// ProxyPort is the port the proxy listens on inside its container.
const ProxyPort = 8001

// ProxyArgs is the one definition of how a proxy is started (after "kubectl"), for both runners. port 0
// picks a free port (the proxy prints "Starting to serve on ADDR:PORT"). Any Host header is accepted: in
// the module the proxy is reached by a service hostname, never by localhost.
func ProxyArgs(address string, port int) []string {
	return []string{"proxy", "--address=" + address, "--port=" + strconv.Itoa(port),
		"--accept-hosts=.*", "--accept-paths=^/.*", "--keepalive=30s"}
}

// Client sends the deployer's requests through a proxy.
type Client struct {
	dyn    dynamic.Interface
	rest   rest.Interface // core/v1, for the few non-JSON subresources (logs)
	mapper meta.ResettableRESTMapper
	mu     sync.Mutex // guards mapper resets
}

// quiet keeps client-go's own logging (klog: "Unhandled Error ..." on every failed discovery) out of the
// deploy's output: every failure reaches the caller as an error, and is reported once, there.
var quiet sync.Once

// NewClient makes a client whose requests go to the endpoint. Nothing is sent until the first call.
func NewClient(endpoint Endpoint) (*Client, error) {
	quiet.Do(func() {
		klog.LogToStderr(false)
		klog.SetOutput(io.Discard)
	})
	cfg := &rest.Config{
		// Host is a placeholder: endpointTransport sends each request to the current endpoint instead.
		Host:      "http://kube-proxy.invalid",
		UserAgent: "ship",
		QPS:       200,
		Burst:     400,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return &endpointTransport{next: rt, endpoint: endpoint}
		},
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery client: %w", err)
	}
	coreCfg := rest.CopyConfig(cfg)
	coreCfg.APIPath = "/api"
	coreCfg.GroupVersion = &schema.GroupVersion{Version: "v1"}
	coreCfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	core, err := rest.RESTClientFor(coreCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes core client: %w", err)
	}
	return &Client{dyn: dyn, rest: core, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}, nil
}

// endpointTransport sends a request to the endpoint's current base URL.
type endpointTransport struct {
	next     http.RoundTripper
	endpoint Endpoint
}

func (t *endpointTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base, err := t.endpoint(req.Context())
	if err != nil {
		return nil, &Error{Op: "connect to the cluster", Reason: Unavailable, Detail: err.Error()}
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("kubernetes proxy endpoint %q is not a URL", base)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
	r.URL.Path = strings.TrimSuffix(u.Path, "/") + req.URL.Path
	return t.next.RoundTrip(r)
}

// Mapping finds the resource (and whether it is namespaced) that serves a kind. A kind unknown to the
// cluster (a CRD not installed) is an Invalid error naming it.
func (c *Client) Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	var versions []string
	if gvk.Version != "" {
		versions = []string{gvk.Version}
	}
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), versions...)
	if meta.IsNoMatchError(err) {
		// The discovery cache may predate a CRD installed since: look once more.
		c.mu.Lock()
		c.mapper.Reset()
		c.mu.Unlock()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), versions...)
	}
	if meta.IsNoMatchError(err) {
		return nil, &Error{Op: "find " + gvk.Kind, Reason: Invalid,
			Detail: fmt.Sprintf("the cluster does not serve kind %s of group %q (is its CustomResourceDefinition installed?)", gvk.Kind, gvk.Group)}
	}
	if err != nil {
		return nil, classify("discover the cluster's API", err)
	}
	return m, nil
}

// resource is the dynamic client for a kind in a namespace (ignored for cluster-scoped kinds).
func (c *Client) resource(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	m, err := c.Mapping(gvk)
	if err != nil {
		return nil, err
	}
	r := c.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return r.Namespace(namespace), nil
	}
	return r, nil
}
