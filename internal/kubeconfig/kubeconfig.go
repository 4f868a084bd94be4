// Package kubeconfig turns a developer's kubeconfig into one that works
// inside the kubectl container: one context, no file references, no auth
// plugins, and (for local clusters) a server reached through a service
// binding while TLS is still verified against the original name.
//
// This file parses and selects the context. It guards against the usual
// ways a kubeconfig is broken (empty, not YAML, no or unknown context, a
// context naming a missing cluster or user) and against secrets leaking
// through String or %#v.
package kubeconfig

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	api "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/tools/clientcmd/api/latest"
)

// Config is the selected context of a kubeconfig with its cluster and user.
// Values are immutable: every transformation returns a new Config.
type Config struct {
	contextName string
	clusterName string
	userName    string
	context     api.Context
	cluster     api.Cluster
	user        api.AuthInfo
}

// Parse loads a kubeconfig and selects contextName, or the current context
// when contextName is empty. A kubeconfig without current-context but with
// exactly one context selects that one.
func Parse(data []byte, contextName string) (*Config, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: give the contents of a kubeconfig file (e.g. ~/.kube/config)", ErrEmpty)
	}
	raw, err := load(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, describeLoadError(err))
	}
	name, err := selectContext(raw, contextName)
	if err != nil {
		return nil, err
	}
	return resolve(raw, name)
}

// load decodes a kubeconfig the way clientcmd.Load does, with the codec it uses. clientcmd itself is not
// imported: it drags in client-go's REST client, auth plugins and the whole API scheme, all compiled on
// every fresh CI runner, for two calls.
func load(data []byte) (*api.Config, error) {
	decoded, _, err := latest.Codec.Decode(data, &schema.GroupVersionKind{Version: latest.Version, Kind: "Config"}, api.NewConfig())
	if err != nil {
		return nil, err
	}
	return decoded.(*api.Config), nil
}

func selectContext(raw *api.Config, requested string) (string, error) {
	names := contextNames(raw)
	if len(names) == 0 {
		return "", fmt.Errorf("%w: add a context (kubectl config set-context) or use a kubeconfig written by your cluster tool", ErrNoContexts)
	}
	name := requested
	if name == "" {
		name = raw.CurrentContext
	}
	if name == "" && len(names) == 1 {
		name = names[0]
	}
	if name == "" {
		return "", fmt.Errorf("%w: no current-context is set; name one of: %s", ErrUnknownContext, strings.Join(names, ", "))
	}
	if _, ok := raw.Contexts[name]; !ok {
		return "", fmt.Errorf("%w: context %q does not exist; available: %s", ErrUnknownContext, name, strings.Join(names, ", "))
	}
	return name, nil
}

func contextNames(raw *api.Config) []string {
	names := make([]string, 0, len(raw.Contexts))
	for n := range raw.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func resolve(raw *api.Config, name string) (*Config, error) {
	ctx := raw.Contexts[name]
	cluster, ok := raw.Clusters[ctx.Cluster]
	if !ok || ctx.Cluster == "" {
		return nil, fmt.Errorf("%w: context %q uses cluster %q, which is not defined in clusters", ErrDanglingReference, name, ctx.Cluster)
	}
	if cluster.Server == "" {
		return nil, fmt.Errorf("%w: cluster %q has no server address", ErrInvalid, ctx.Cluster)
	}
	if _, err := parseServer(cluster.Server); err != nil {
		return nil, fmt.Errorf("%w: cluster %q: %v", ErrInvalid, ctx.Cluster, err)
	}
	c := &Config{contextName: name, clusterName: ctx.Cluster, userName: ctx.AuthInfo}
	c.context = *ctx.DeepCopy()
	c.cluster = *cluster.DeepCopy()
	if ctx.AuthInfo == "" {
		return c, nil // anonymous access is legal
	}
	user, ok := raw.AuthInfos[ctx.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("%w: context %q uses user %q, which is not defined in users", ErrDanglingReference, name, ctx.AuthInfo)
	}
	c.user = *user.DeepCopy()
	return c, nil
}

// describeLoadError keeps the decoder's explanation but not the input: YAML
// and JSON errors describe positions and types, and any long quoted text (a
// decoder echoing a value) is cut, so a token cannot slip through.
func describeLoadError(err error) string {
	if runtime.IsNotRegisteredError(err) {
		return "the document's apiVersion/kind is not v1 Config; check the file is a kubeconfig"
	}
	msg := longQuoted.ReplaceAllString(err.Error(), "…")
	return msg + "; check the file is a kubeconfig (apiVersion: v1, kind: Config)"
}

var longQuoted = regexp.MustCompile("\"[^\"]{17,}\"|`[^`]{17,}`")

func parseServer(server string) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("server %s is not an http(s) URL with a host", redactURL(server))
	}
	return u, nil
}

// Server is the API server URL, with any user:password part redacted.
func (c *Config) Server() string { return redactURL(c.cluster.Server) }

func (c *Config) serverURL() *url.URL {
	u, _ := parseServer(c.cluster.Server) // validated in Parse
	return u
}

func (c *Config) port() string {
	u := c.serverURL()
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// IsLoopback reports whether the server only exists on the developer's
// machine, so a container cannot reach it by its address: 127.0.0.0/8, ::1,
// the unspecified addresses (0.0.0.0, ::, which connect to the local host),
// localhost and *.localhost (RFC 6761), and Docker Desktop's *.docker.internal
// names (kubernetes.docker.internal is /etc/hosts'ed to 127.0.0.1, and
// host.docker.internal does not resolve inside Dagger's nested containers).
// Names are not resolved: the module runs on another machine than the host.
func (c *Config) IsLoopback() bool {
	return isLoopbackHost(c.serverURL().Hostname())
}

func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || ip.IsUnspecified()
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		host == "docker.internal" || strings.HasSuffix(host, ".docker.internal")
}

// Bytes renders the single-context kubeconfig. Output is deterministic:
// the v1 encoding sorts named entries and we hold exactly one of each.
func (c *Config) Bytes() ([]byte, error) {
	out := api.NewConfig()
	out.CurrentContext = c.contextName
	ctx := c.context.DeepCopy()
	ctx.Extensions = nil
	out.Contexts[c.contextName] = ctx
	out.Clusters[c.clusterName] = c.cluster.DeepCopy()
	if c.userName != "" {
		out.AuthInfos[c.userName] = c.user.DeepCopy()
	}
	data, err := runtime.Encode(latest.Codec, out)
	if err != nil {
		return nil, fmt.Errorf("render kubeconfig for context %q: %w", c.contextName, err)
	}
	return data, nil
}

// String is a redacted summary safe for logs: context, cluster, server and
// the kind of credentials, never their values.
func (c *Config) String() string {
	if c == nil {
		return "kubeconfig(<nil>)"
	}
	s := fmt.Sprintf("kubeconfig(context %q, cluster %q, server %s", c.contextName, c.clusterName, c.Server())
	if c.cluster.TLSServerName != "" {
		s += fmt.Sprintf(", tls-server-name %s", c.cluster.TLSServerName)
	}
	return s + fmt.Sprintf(", user %q: %s)", c.userName, c.authKind())
}

// GoString keeps %#v from dumping credentials.
func (c *Config) GoString() string { return c.String() }

func (c *Config) authKind() string {
	u := c.user
	var kinds []string
	switch {
	case u.Exec != nil:
		kinds = append(kinds, "exec plugin "+u.Exec.Command)
	case u.AuthProvider != nil:
		kinds = append(kinds, "auth-provider "+u.AuthProvider.Name)
	}
	if len(u.ClientCertificateData) > 0 || u.ClientCertificate != "" {
		kinds = append(kinds, "client certificate")
	}
	if u.Token != "" {
		kinds = append(kinds, "bearer token")
	}
	if u.TokenFile != "" {
		kinds = append(kinds, "token file")
	}
	if u.Username != "" || u.Password != "" {
		kinds = append(kinds, "basic auth")
	}
	if len(kinds) == 0 {
		return "no credentials"
	}
	return strings.Join(kinds, " + ")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "<unparseable URL>"
		}
		return fmt.Sprintf("%q", s)
	}
	return u.Redacted()
}
