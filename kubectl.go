// This file runs the kubectl steps defined in internal/kube inside a container, and resolves the target cluster
// (EKS through AWS, or any kubeconfig, optionally reached through a host service). It guards against three traps:
// an EKS token expiring during a long rollout (a fresh kubeconfig is minted for every step), Dagger caching a
// read of live cluster state (every step is unique), and a laptop kubeconfig pointing at 127.0.0.1, which inside
// a container is the container itself (rewritten to a service binding with TLS verification kept on).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"dagger/ship/internal/dagger"
	"dagger/ship/internal/eks"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/kubeconfig"
)

const (
	kubeconfigPath = "/run/ship/kubeconfig"
	kubeAPIAlias   = "kube-api"
)

// kubeconfigSource yields the kubeconfig for the next step.
type kubeconfigSource func(ctx context.Context) ([]byte, error)

// containerRunner runs each kube.Step as `kubectl <args>` in a fresh exec of the kubectl container.
type containerRunner struct {
	base       *dagger.Container
	kubeconfig kubeconfigSource
	service    *dagger.Service
	seq        atomic.Int64
}

// Run implements kube.Runner. A non-zero exit is returned in the result, not as an error.
func (r *containerRunner) Run(ctx context.Context, s kube.Step) (kube.Result, error) {
	ctr, err := r.container(ctx)
	if err != nil {
		return kube.Result{}, err
	}
	// The nonce makes every step a new operation: a poll of rollout state must never come from Dagger's cache.
	ctr = ctr.WithEnvVariable("SHIP_STEP", fmt.Sprintf("%d-%d", time.Now().UnixNano(), r.seq.Add(1))).
		WithExec(append([]string{"kubectl"}, s.Args...), dagger.ContainerWithExecOpts{
			Stdin:  string(s.Stdin),
			Expect: dagger.ReturnTypeAny,
		})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return kube.Result{}, fmt.Errorf("%s: run kubectl container: %w", s.Name, err)
	}
	stdout, err := ctr.Stdout(ctx)
	if err != nil {
		return kube.Result{}, fmt.Errorf("%s: read kubectl output: %w", s.Name, err)
	}
	stderr, err := ctr.Stderr(ctx)
	if err != nil {
		return kube.Result{}, fmt.Errorf("%s: read kubectl errors: %w", s.Name, err)
	}
	return kube.Result{Stdout: []byte(stdout), Stderr: []byte(stderr), ExitCode: code}, nil
}

// container is the kubectl container with the current kubeconfig mounted as a secret.
func (r *containerRunner) container(ctx context.Context) (*dagger.Container, error) {
	cfg, err := r.kubeconfig(ctx)
	if err != nil {
		return nil, err
	}
	ctr := r.base.WithMountedSecret(kubeconfigPath, dag.SetSecret("ship-kubeconfig-"+digestOf(string(cfg)), string(cfg)))
	if r.service != nil {
		ctr = ctr.WithServiceBinding(kubeAPIAlias, r.service)
	}
	return ctr, nil
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
func (m *Ship) target(ctx context.Context, cluster string, kubeconfigSecret *dagger.Secret, kubeAPI *dagger.Service) (*containerRunner, error) {
	r := &containerRunner{base: m.kubectlBase(), service: kubeAPI}
	switch {
	case kubeconfigSecret != nil && cluster != "":
		return nil, fmt.Errorf("give either --kubeconfig (any cluster) or --cluster (an EKS cluster, with with-aws), not both")
	case kubeconfigSecret != nil:
		src, err := portableKubeconfig(ctx, kubeconfigSecret, kubeAPI)
		if err != nil {
			return nil, err
		}
		r.kubeconfig = src
	case cluster != "":
		src, err := m.eksKubeconfig(ctx, cluster)
		if err != nil {
			return nil, err
		}
		r.kubeconfig = src
	default:
		return nil, fmt.Errorf("no cluster given: pass --cluster <EKS cluster name> (after with-aws) or --kubeconfig file:$HOME/.kube/config")
	}
	return r, nil
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
	return func(context.Context) ([]byte, error) { return data, nil }, nil
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

// eksKubeconfig describes the cluster once and mints a fresh token for every step (tokens live 15 minutes).
func (m *Ship) eksKubeconfig(ctx context.Context, cluster string) (kubeconfigSource, error) {
	cfg, err := m.awsConfig(ctx, "reaching EKS cluster "+cluster)
	if err != nil {
		return nil, err
	}
	info, err := eks.Describe(ctx, cfg, cluster)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) ([]byte, error) {
		tok, err := eks.NewToken(ctx, cfg, cluster, time.Now())
		if err != nil {
			return nil, err
		}
		return kubeconfig.ForToken(info.Name, info.Endpoint, info.CAData, tok.Value)
	}, nil
}

// Kubeconfig returns a kubeconfig for the EKS cluster (a bearer token valid ~14 minutes, no aws CLI needed),
// or the given kubeconfig made portable for containers. It is a secret: export it with `plaintext` only if you must.
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
	data, err := t.kubeconfig(ctx)
	if err != nil {
		return nil, err
	}
	return dag.SetSecret("ship-kubeconfig-"+digestOf(string(data)), string(data)), nil
}

// Kubectl returns a debug container with kubectl and the cluster's kubeconfig mounted, for
// `dagger call kubectl --cluster prod terminal`. EKS tokens in it expire after ~14 minutes.
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
	ctr, err := t.container(ctx)
	if err != nil {
		return nil, err
	}
	return ctr.WithDefaultTerminalCmd([]string{"sh"}), nil
}

// digestOf names a secret after its content without revealing it, so a changed value never reuses an old name.
func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
