// This file is the deploy chain and its cluster-facing siblings (plan, rollback, status). It guards the order
// that keeps a deploy honest: every input is checked (overlay renders, cluster reachable) before anything is
// built or pushed, the image is pinned by digest, and the deploy succeeds only when the rollout is healthy.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"dagger/ship/internal/dagger"
	"dagger/ship/internal/deploy"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/report"
)

// Deploy runs the whole chain: test, build, publish, render with the digest, apply (server-side, after a
// server-side dry-run of everything), wait for the rollout, diagnose and roll back a failed one, and report.
// It returns the Markdown deploy report, and fails when the new revision is not healthy.
// +cache="never"
func (m *Ship) Deploy(
	ctx context.Context,
	// Overlay to deploy: dev, staging, prod.
	overlay string,
	// ECR repository name (with-aws), or a repository address (with-registry) to publish to.
	// +optional
	repository string,
	// Deploy this existing image instead of building one (e.g. an image already loaded into kind).
	// +optional
	image string,
	// Git revision: the image tag and what /version reports. Required when building.
	// +optional
	revision string,
	// EKS cluster name (needs with-aws).
	// +optional
	cluster string,
	// Any kubeconfig, e.g. file:$HOME/.kube/config.
	// +optional
	kubeconfig *dagger.Secret,
	// The Kubernetes API as a host service, for a kubeconfig whose server is on localhost: tcp://localhost:6443.
	// +optional
	kubeApi *dagger.Service,
	// Rollout deadline, e.g. 5m; default: each workload's progressDeadlineSeconds.
	// +optional
	timeout string,
	// Leave a failed rollout in place instead of rolling back.
	// +optional
	noRollback bool,
	// Skip the service's tests.
	// +optional
	skipTests bool,
	// Platforms to build.
	// +default=["linux/amd64"]
	platforms []dagger.Platform,
	// Create the ECR repository when missing.
	// +optional
	createRepository bool,
	// Who holds the namespace's deploy lock, shown to a concurrent deploy (default: the revision).
	// +optional
	owner string,
) (string, error) {
	wait, err := parseTimeout(timeout)
	if err != nil {
		return "", err
	}
	if (repository == "") == (image == "") {
		return "", fmt.Errorf("give exactly one of --repository (build and publish the service) or --image (deploy an existing image)")
	}
	// Fail on a broken overlay or an unreachable cluster before spending minutes on a build.
	if _, err := m.renderChecked(ctx, overlay, standInImage, false); err != nil {
		return "", err
	}
	runner, err := m.target(ctx, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	pinned := image
	if image == "" {
		if !skipTests {
			if _, err := m.Test(ctx); err != nil {
				return "", err
			}
		}
		if pinned, err = m.Publish(ctx, repository, revision, nil, platforms, createRepository); err != nil {
			return "", err
		}
	}
	manifests, err := m.renderChecked(ctx, overlay, pinned, image == "")
	if err != nil {
		return "", err
	}
	if owner == "" {
		owner = "ship deploy " + firstNonEmpty(revision, pinned)
	}
	ctx, span := Tracer().Start(ctx, "rollout "+overlay)
	defer span.End()
	rep, err := deploy.Run(ctx, runner, deploy.Options{
		Overlay: overlay, Image: pinned, Owner: owner, Manifests: manifests,
		Timeout: wait, NoRollback: noRollback, Progress: os.Stderr, Stage: traceStage,
	})
	return reportResult(rep, err)
}

// Plan shows what a deploy would change: a server-side diff of the rendered overlay against the cluster,
// and the objects a deploy would prune. Nothing is applied.
// +cache="never"
func (m *Ship) Plan(
	ctx context.Context,
	// Overlay to plan: dev, staging, prod.
	overlay string,
	// Image to render with (default: a stand-in, so only the image line differs from a real deploy).
	// +optional
	image string,
	// EKS cluster name (needs with-aws).
	// +optional
	cluster string,
	// Any kubeconfig, e.g. file:$HOME/.kube/config.
	// +optional
	kubeconfig *dagger.Secret,
	// The Kubernetes API as a host service: tcp://localhost:6443.
	// +optional
	kubeApi *dagger.Service,
) (string, error) {
	manifests, err := m.renderChecked(ctx, overlay, firstNonEmpty(image, standInImage), false)
	if err != nil {
		return "", err
	}
	runner, err := m.target(ctx, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	res, err := deploy.Plan(ctx, runner, deploy.Options{Overlay: overlay, Image: image, Manifests: manifests, Progress: os.Stderr})
	if err != nil {
		return "", err
	}
	if res.Empty() {
		return res.Summary(), nil
	}
	return res.Summary() + "\n" + res.Diff, nil
}

// Rollback undoes the overlay's workloads to their previous revision (or --to-revision), waits until they are
// healthy, and returns the report.
// +cache="never"
func (m *Ship) Rollback(
	ctx context.Context,
	// Overlay whose workloads to roll back.
	overlay string,
	// Revision to return to (default: the previous one).
	// +optional
	toRevision int,
	// EKS cluster name (needs with-aws).
	// +optional
	cluster string,
	// Any kubeconfig, e.g. file:$HOME/.kube/config.
	// +optional
	kubeconfig *dagger.Secret,
	// The Kubernetes API as a host service: tcp://localhost:6443.
	// +optional
	kubeApi *dagger.Service,
) (string, error) {
	namespace, runner, err := m.overlayTarget(ctx, overlay, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	rep, err := deploy.Rollback(ctx, runner, namespace, overlay, int64(toRevision), os.Stderr)
	return reportResult(rep, err)
}

// Status shows the overlay's workloads in the cluster: revision, image, and ready/updated/available replicas.
// +cache="never"
func (m *Ship) Status(
	ctx context.Context,
	// Overlay to inspect.
	overlay string,
	// EKS cluster name (needs with-aws).
	// +optional
	cluster string,
	// Any kubeconfig, e.g. file:$HOME/.kube/config.
	// +optional
	kubeconfig *dagger.Secret,
	// The Kubernetes API as a host service: tcp://localhost:6443.
	// +optional
	kubeApi *dagger.Service,
) (string, error) {
	namespace, runner, err := m.overlayTarget(ctx, overlay, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	st, err := deploy.Status(ctx, runner, namespace, overlay)
	if err != nil {
		return "", err
	}
	return st.String(), nil
}

// overlayTarget finds the overlay's namespace from its rendering and resolves the cluster.
func (m *Ship) overlayTarget(ctx context.Context, overlay, cluster string, kc *dagger.Secret, api *dagger.Service) (string, kube.Runner, error) {
	namespace, err := m.overlayNamespace(ctx, overlay)
	if err != nil {
		return "", nil, err
	}
	runner, err := m.target(ctx, cluster, kc, api)
	if err != nil {
		return "", nil, err
	}
	return namespace, runner, nil
}

// reportResult returns the report as the function's output, or inside the error when the deploy failed,
// so the reason and the rollback are what a failed CI job shows.
func reportResult(rep *report.Report, err error) (string, error) {
	if rep == nil {
		return "", err
	}
	md := rep.Markdown()
	if err != nil {
		// The report already holds the diagnosis and the rollback; the first line is what a log view shows.
		first, _, _ := strings.Cut(err.Error(), "\n")
		return "", fmt.Errorf("%s\n\n%s", first, md)
	}
	return md, nil
}

// traceStage makes each deploy stage a named step in Dagger's TUI.
func traceStage(ctx context.Context, name string) (context.Context, func()) {
	ctx, span := Tracer().Start(ctx, name)
	return ctx, func() { span.End() }
}

// parseTimeout accepts Go durations ("90s", "5m") and rejects anything else with the expected form.
func parseTimeout(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--timeout %q is not a positive duration: use a form like 90s, 5m or 1h", s)
	}
	return d, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
