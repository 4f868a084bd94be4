// Package kube is the deployer's one way to talk to a cluster: plain Kubernetes API requests sent through a
// `kubectl proxy`, which holds the credentials. In the module the proxy runs in the kubectl container as a
// Dagger service; in the tests it is a local kubectl against a real control plane; the requests are the
// same. It guards against the cost of one container exec per kubectl step (about 0.4 s each on the engine,
// so a deploy took seconds of pure overhead and noticed a finished rollout late): every read, write and
// watch here is one HTTP round trip, and a rollout is followed by watches, not polls.
//
// This file builds the client. Credentials never pass through it: the proxy adds them. The requests are
// plain net/http and JSON rather than client-go's dynamic client, discovery and REST mapper: those pulled
// client-go's REST machinery, every API group's types and the OpenAPI models into the module, all compiled
// on every fresh CI runner, for about a dozen kinds of request.
package kube

import (
	"context"
	"errors"
	"net/http"
	"strconv"
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
	endpoint Endpoint
	http     *http.Client
	api      discovery
}

// NewClient makes a client whose requests go to the endpoint. Nothing is sent until the first call.
func NewClient(endpoint Endpoint) (*Client, error) {
	if endpoint == nil {
		return nil, errors.New("kubernetes client: no proxy endpoint given")
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A deploy reads several kinds at once and holds one watch per kind: keep those connections alive.
	t.MaxIdleConnsPerHost = 25
	return &Client{endpoint: endpoint, http: &http.Client{Transport: t}}, nil
}
