// Package kubetest gives an integration test what a deploy on the engine has: a kube.Client whose requests
// go through a kubectl proxy (kube.ProxyArgs, the module's own arguments) to the shared real control plane,
// and a namespace of its own. It guards against tests that reach the API server some other way than the
// module does.
package kubetest

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"dagger/ship/internal/kube"
	"dagger/ship/internal/rollout"
	"dagger/ship/internal/testenv/kubecluster"
)

// Env is one test's namespace on the shared cluster, and an admin client through a proxy.
type Env struct {
	T         testing.TB
	Cluster   *kubecluster.Cluster
	Client    *kube.Client
	Namespace string
}

// New creates a namespace for the test (as admin, as bootstrap would) and deletes it afterwards.
func New(t testing.TB) *Env {
	t.Helper()
	c := kubecluster.Shared(t)
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 40 {
		name = strings.Trim(name[len(name)-40:], "-")
	}
	e := &Env{T: t, Cluster: c, Namespace: c.Namespace(t, "t-"+name)}
	e.Client = e.ClientAs(c.Kubeconfig)
	return e
}

// ClientAs is a client through a proxy of its own that acts with the given kubeconfig.
func (e *Env) ClientAs(kubeconfig string) *kube.Client {
	e.T.Helper()
	url := e.Cluster.Proxy(e.T, kubeconfig, kube.ProxyArgs("127.0.0.1", 0))
	c, err := kube.NewClient(kube.StaticEndpoint(url))
	if err != nil {
		e.T.Fatal(err)
	}
	return c
}

// UserClient is a client acting as a user with no rights but those the test binds.
func (e *Env) UserClient(user string) *kube.Client {
	e.T.Helper()
	kc, err := e.Cluster.UserKubeconfig(user)
	if err != nil {
		e.T.Fatal(err)
	}
	return e.ClientAs(kc)
}

// Kubectl runs kubectl as admin (the test's own hand, not the code under test) and fails the test on error.
func (e *Env) Kubectl(args ...string) string {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.Cluster.Kubectl(ctx, args...)
	if err != nil {
		e.T.Fatal(err)
	}
	return out
}

// KubectlStdin is Kubectl with stdin.
func (e *Env) KubectlStdin(stdin string, args ...string) string {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.Cluster.KubectlStdin(ctx, stdin, args...)
	if err != nil {
		e.T.Fatal(err)
	}
	return out
}

// RolledOutAt is when an independent watch (kubecluster.Watch of a Deployment) first saw the Deployment
// complete its rollout of img: the yardstick benchmarks measure the deployer's reports against.
func RolledOutAt(events []kubecluster.Event, img string) (time.Time, bool) {
	for _, ev := range events {
		var d appsv1.Deployment
		if json.Unmarshal(ev.Raw, &d) != nil || len(d.Spec.Template.Spec.Containers) == 0 || d.Spec.Template.Spec.Containers[0].Image != img {
			continue
		}
		if rollout.Deployment(&d, &kube.Objects{}, ev.At, rollout.Policy{}).State == rollout.Done {
			return ev.At, true
		}
	}
	return time.Time{}, false
}
