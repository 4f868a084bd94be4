// This file connects the deployer to the target cluster: a kubectl container running `kubectl proxy` as a
// Dagger service holds the credentials, and the module's Go code sends its requests through it (see
// internal/kube). It guards against four traps: one container exec per kubectl step (0.4 s each on the
// engine), manifests passed as exec stdin (which Dagger records in its traces in plain text), an EKS
// token expiring during a long rollout (the proxy is restarted with a fresh token before it expires), and
// a laptop kubeconfig pointing at 127.0.0.1, which inside a container is the container itself (rewritten
// to a service binding with TLS verification kept on).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"dagger/ship/internal/dagger"
	"dagger/ship/internal/eks"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/kubeconfig"
)

const (
	kubeconfigPath = "/run/ship/kubeconfig"
	kubeAPIAlias   = "kube-api"
	// proxyRefreshMargin restarts the proxy this long before its credentials expire.
	proxyRefreshMargin = 2 * time.Minute
	// proxyStartTimeout is how long kubectl proxy may take to listen: it reads a kubeconfig and binds a port.
	proxyStartTimeout = 30 * time.Second
)

// credentials is a kubeconfig and when the credentials in it stop working (zero: never).
type credentials struct {
	kubeconfig []byte
	expires    time.Time
}

// kubeconfigSource yields the kubeconfig for the next proxy.
type kubeconfigSource func(ctx context.Context) (credentials, error)

// cluster is one target cluster: how to reach it, and the proxy that does.
type cluster struct {
	base       *dagger.Container
	service    *dagger.Service // --kube-api (or preview's apiserver), bound into the proxy as alias
	alias      string          // kube-api unless set
	kubeconfig kubeconfigSource

	mu      sync.Mutex
	proxy   *dagger.Service
	url     string
	refresh time.Time // when to start a new proxy; zero: never
}

// endpoint is the proxy's URL, starting a proxy (again) when none runs or its credentials near expiry.
func (c *cluster) endpoint(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.url != "" && (c.refresh.IsZero() || time.Now().Before(c.refresh)) {
		return c.url, nil
	}
	creds, err := c.kubeconfig(ctx)
	if err != nil {
		return "", err
	}
	// The engine's own port check polls with a backoff from 100 ms; the proxy listens well before its second
	// try, so the module polls the port itself, more often.
	svc, err := c.container(creds.kubeconfig).
		WithExposedPort(kube.ProxyPort, dagger.ContainerWithExposedPortOpts{ExperimentalSkipHealthcheck: true}).
		AsService(dagger.ContainerAsServiceOpts{Args: append([]string{"kubectl"}, kube.ProxyArgs("0.0.0.0", kube.ProxyPort)...)}).
		Start(ctx)
	if err != nil {
		return "", fmt.Errorf("start kubectl proxy: %v", err)
	}
	u, err := svc.Endpoint(ctx, dagger.ServiceEndpointOpts{Port: kube.ProxyPort, Scheme: "http"})
	if err == nil {
		err = kube.AwaitListening(ctx, u, proxyStartTimeout)
	}
	if err != nil {
		_, _ = svc.Stop(context.WithoutCancel(ctx), dagger.ServiceStopOpts{Kill: true})
		return "", fmt.Errorf("start kubectl proxy: %v", err)
	}
	old := c.proxy
	c.proxy, c.url, c.refresh = svc, u, time.Time{}
	if !creds.expires.IsZero() {
		c.refresh = creds.expires.Add(-proxyRefreshMargin)
	}
	if old != nil {
		_, _ = old.Stop(ctx, dagger.ServiceStopOpts{Kill: true}) // requests still on it fail and are retried
	}
	return u, nil
}

// client is a Kubernetes client whose requests go through the proxy.
func (c *cluster) client() (*kube.Client, error) { return kube.NewClient(c.endpoint) }

// stop stops the proxy, if one runs. It is killed: kubectl is PID 1 in its container and does not handle
// SIGTERM, so a graceful stop would wait out the engine's grace period (about 10 s) for nothing.
func (c *cluster) stop(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proxy != nil {
		_, _ = c.proxy.Stop(ctx, dagger.ServiceStopOpts{Kill: true})
		c.proxy, c.url = nil, ""
	}
}

// container is the kubectl container with a kubeconfig mounted as a secret.
func (c *cluster) container(cfg []byte) *dagger.Container {
	ctr := c.base.WithMountedSecret(kubeconfigPath, dag.SetSecret("ship-kubeconfig-"+digestOf(string(cfg)), string(cfg)))
	if c.service != nil {
		ctr = ctr.WithServiceBinding(firstNonEmpty(c.alias, kubeAPIAlias), c.service)
	}
	return ctr
}

// kubectlBase is a shell image with the official kubectl binary copied in (the kubectl image has no shell).
func (m *Ship) kubectlBase() *dagger.Container {
	return dag.Container().From(m.ShellImage).
		WithFile("/usr/local/bin/kubectl", dag.Container().From(m.KubectlImage).File("/bin/kubectl")).
		WithEnvVariable("KUBECONFIG", kubeconfigPath).
		WithEnvVariable("HOME", "/tmp").
		WithWorkdir("/tmp")
}

// target resolves the cluster to talk to: --kubeconfig (any cluster) or --cluster (EKS with-aws).
func (m *Ship) target(ctx context.Context, clusterName string, kubeconfigSecret *dagger.Secret, kubeAPI *dagger.Service) (*cluster, error) {
	c := &cluster{base: m.kubectlBase(), service: kubeAPI}
	switch {
	case kubeconfigSecret != nil && clusterName != "":
		return nil, fmt.Errorf("give either --kubeconfig (any cluster) or --cluster (an EKS cluster, with with-aws), not both")
	case kubeconfigSecret != nil:
		src, err := portableKubeconfig(ctx, kubeconfigSecret, kubeAPI)
		if err != nil {
			return nil, err
		}
		c.kubeconfig = src
	case clusterName != "":
		src, err := m.eksKubeconfig(ctx, clusterName)
		if err != nil {
			return nil, err
		}
		c.kubeconfig = src
	default:
		return nil, fmt.Errorf("no cluster given: pass --cluster <EKS cluster name> (after with-aws) or --kubeconfig file:$HOME/.kube/config")
	}
	return c, nil
}

// portableKubeconfig checks the user's kubeconfig once, up front, so nothing runs against an unreachable server.
func portableKubeconfig(ctx context.Context, secret *dagger.Secret, kubeAPI *dagger.Service) (kubeconfigSource, error) {
	raw, err := secret.Plaintext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the kubeconfig secret: %w", err)
	}
	cfg, err := kubeconfig.Parse([]byte(raw), "")
	if err != nil {
		return nil, err
	}
	// File references cannot be read from inside the engine: Portable refuses them with the flatten command to run.
	if cfg, err = cfg.Portable(nil); err != nil {
		return nil, err
	}
	if err := kubeconfig.RequireReachable(cfg, kubeAPI != nil); err != nil {
		return nil, err
	}
	if kubeAPI != nil {
		port, err := servicePort(ctx, kubeAPI, cfg.Server())
		if err != nil {
			return nil, err
		}
		if cfg, err = cfg.ForService(kubeAPIAlias, port); err != nil {
			return nil, err
		}
	}
	data, err := cfg.Bytes()
	if err != nil {
		return nil, err
	}
	return func(context.Context) (credentials, error) { return credentials{kubeconfig: data}, nil }, nil
}

// servicePort picks the bound service's port that matches the kubeconfig's server port.
func servicePort(ctx context.Context, svc *dagger.Service, server string) (int, error) {
	u, err := url.Parse(server)
	if err != nil {
		return 0, fmt.Errorf("kubeconfig server %q is not a URL: %w", server, err)
	}
	want := 443
	if p := u.Port(); p != "" {
		want, _ = strconv.Atoi(p)
	}
	ports, err := svc.Ports(ctx)
	if err != nil {
		return 0, fmt.Errorf("read --kube-api ports: %w", err)
	}
	var have []string
	for _, p := range ports {
		n, err := p.Port(ctx)
		if err != nil {
			return 0, fmt.Errorf("read --kube-api port: %w", err)
		}
		if n == want {
			return n, nil
		}
		have = append(have, strconv.Itoa(n))
	}
	return 0, fmt.Errorf("--kube-api exposes port(s) %s but the kubeconfig server is %s: pass --kube-api tcp://localhost:%d",
		strings.Join(have, ", "), server, want)
}

// eksKubeconfig describes the cluster once and mints a fresh token for every proxy (tokens live 15 minutes).
func (m *Ship) eksKubeconfig(ctx context.Context, clusterName string) (kubeconfigSource, error) {
	cfg, err := m.awsConfig(ctx, "reaching EKS cluster "+clusterName, "pass --kubeconfig to reach any other cluster")
	if err != nil {
		return nil, err
	}
	info, err := eks.Describe(ctx, cfg, clusterName)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (credentials, error) {
		tok, err := eks.NewToken(ctx, cfg, clusterName, time.Now())
		if err != nil {
			return credentials{}, err
		}
		data, err := kubeconfig.ForToken(info.Name, info.Endpoint, info.CAData, tok.Value)
		return credentials{kubeconfig: data, expires: tok.Expiry}, err
	}, nil
}

// Kubeconfig returns a kubeconfig secret for the EKS cluster, or the given kubeconfig made portable for containers.
// For EKS it holds a bearer token valid about 14 minutes (no aws CLI needed). It is a secret: export it with
// `plaintext` only if you must.
// +cache="never"
func (m *Ship) Kubeconfig(
	ctx context.Context,
	// EKS cluster name (needs with-aws).
	// +optional
	cluster string,
	// Any kubeconfig, e.g. file:$HOME/.kube/config.
	// +optional
	kubeconfig *dagger.Secret,
	// The Kubernetes API as a host service, for a kubeconfig whose server is on localhost: tcp://localhost:6443.
	// +optional
	kubeApi *dagger.Service,
) (*dagger.Secret, error) {
	t, err := m.target(ctx, cluster, kubeconfig, kubeApi)
	if err != nil {
		return nil, err
	}
	creds, err := t.kubeconfig(ctx)
	if err != nil {
		return nil, err
	}
	return dag.SetSecret("ship-kubeconfig-"+digestOf(string(creds.kubeconfig)), string(creds.kubeconfig)), nil
}

// Kubectl returns a debug container with kubectl and the cluster's kubeconfig mounted.
// Open it with `dagger call kubectl --cluster prod terminal`. EKS tokens in it expire after ~14 minutes.
// +cache="never"
func (m *Ship) Kubectl(
	ctx context.Context,
	// EKS cluster name (needs with-aws).
	// +optional
	cluster string,
	// Any kubeconfig, e.g. file:$HOME/.kube/config.
	// +optional
	kubeconfig *dagger.Secret,
	// The Kubernetes API as a host service: tcp://localhost:6443.
	// +optional
	kubeApi *dagger.Service,
) (*dagger.Container, error) {
	t, err := m.target(ctx, cluster, kubeconfig, kubeApi)
	if err != nil {
		return nil, err
	}
	creds, err := t.kubeconfig(ctx)
	if err != nil {
		return nil, err
	}
	return t.container(creds.kubeconfig).WithDefaultTerminalCmd([]string{"sh"}), nil
}

// digestOf names a secret after its content without revealing it, so a changed value never reuses an old name.
func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
