// This file is the deploy chain and its cluster-facing siblings (promote, plan, rollback, status). It guards
// the order that keeps a deploy honest: every input is checked (the overlay renders, the cluster answers and
// this identity may deploy there, the repository exists) before anything is built or pushed; a revision is
// built and pushed once and reused after; the image is pinned by digest; and the deploy succeeds only when
// the rollout is healthy.
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

// Deploy tests, builds and publishes a revision (once: a published revision is reused), then applies and waits.
//
// The whole chain: check inputs and the cluster, test, build, publish (skipped when the revision tag already
// exists), render with the digest, run the pre-deploy jobs (migrations annotated ship/hook: pre-deploy), apply
// (server-side, after a server-side dry-run of everything), wait for the rollout, diagnose and roll back a
// failed one, record the release, prune, and report. It returns the Markdown deploy report, and fails when
// the new revision is not healthy.
// +cache="never"
func (m *Ship) Deploy(
	ctx context.Context,
	// Overlay to deploy (a directory under the manifests' overlays/).
	overlay string,
	// ECR repository name (with-aws), or a repository address (with-registry) to publish to or reuse from.
	// +optional
	repository string,
	// Deploy this existing image instead (e.g. the digest a build job published, or one loaded into kind).
	// +optional
	image string,
	// Git revision: the image tag, what /version reports, and what the release record says.
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
	// Overall cap on the rollout wait, e.g. 15m (each workload also fails after progressDeadlineSeconds without progress).
	// +optional
	timeout string,
	// How long to wait for another deploy of the namespace to finish, e.g. 10m.
	// +default="5m"
	lockWait string,
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
	// The CI run that deploys, recorded in the release (e.g. the GitHub Actions run URL).
	// +optional
	runUrl string,
	// Who triggered the deploy, recorded in the release.
	// +optional
	actor string,
	// Deploy an image whose provenance does not verify, saying so in the report (targets outside AWS only).
	// +optional
	allowUnverified bool,
) (string, error) {
	o, err := deployOptions(timeout, lockWait, noRollback)
	if err != nil {
		return "", err
	}
	if (repository == "") == (image == "") {
		return "", fmt.Errorf("give exactly one of --repository (publish the revision, or reuse it if already published) or --image (deploy an existing image)")
	}
	if image == "" && strings.TrimSpace(revision) == "" {
		return "", fmt.Errorf("--revision is required with --repository: it tags the image (e.g. --revision $(git rev-parse HEAD))")
	}
	var prov provenanceCheck
	if image != "" {
		if prov, err = m.gateImage(ctx, image, revision, cluster != "", allowUnverified); err != nil {
			return "", err
		}
	}
	target, client, err := m.checkTarget(ctx, overlay, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	defer target.stop(context.WithoutCancel(ctx))
	pinned := firstNonEmpty(prov.Image, image)
	if image == "" {
		if pinned, err = m.release(ctx, repository, revision, platforms, createRepository, skipTests); err != nil {
			return "", err
		}
		// The revision may have been reused, published by an earlier run (or another tool): it passes the
		// same gate as an --image before anything changes in the cluster.
		if prov, err = m.gateImage(ctx, pinned, revision, cluster != "", allowUnverified); err != nil {
			return "", err
		}
		pinned = prov.Image
	}
	o.Image, o.Owner = pinned, firstNonEmpty(owner, "ship deploy "+firstNonEmpty(revision, pinned))
	o.Release = deploy.Release{Revision: revision, RunURL: runUrl, Actor: actor, Provenance: prov.Provenance}
	o.Provenance = prov.Line
	return m.rollOut(ctx, client, overlay, o, image == "")
}

// Promote deploys to an environment exactly the image another one runs, or a revision already published.
//
// With --from, the image is read from the source environment's release record, and only if the source is
// healthy at that digest; with --revision, it is looked up by its tag in --repository. Promote never builds
// or pushes. --expect-image makes it refuse when the image found is not the one expected (e.g. the digest
// the build job published). A promote to a protected environment (prod by default) first passes the
// vulnerability gate on the image's ECR scan (threshold, --ignore-unfixed, --vulnerability-allowlist).
// +cache="never"
func (m *Ship) Promote(
	ctx context.Context,
	// Target overlay, e.g. prod.
	to string,
	// Source overlay whose released image to promote, e.g. staging (its namespace must be readable).
	// +optional
	from string,
	// Revision to promote, looked up by its tag in --repository.
	// +optional
	revision string,
	// ECR repository name (with-aws) or repository address (with-registry) to look --revision up in.
	// +optional
	repository string,
	// Refuse unless the image found is this one (compared by digest).
	// +optional
	expectImage string,
	// EKS cluster name (needs with-aws).
	// +optional
	cluster string,
	// Any kubeconfig, e.g. file:$HOME/.kube/config.
	// +optional
	kubeconfig *dagger.Secret,
	// The Kubernetes API as a host service: tcp://localhost:6443.
	// +optional
	kubeApi *dagger.Service,
	// Overall cap on the rollout wait, e.g. 15m.
	// +optional
	timeout string,
	// How long to wait for another deploy of the namespace to finish.
	// +default="5m"
	lockWait string,
	// Leave a failed rollout in place instead of rolling back.
	// +optional
	noRollback bool,
	// The CI run that promotes, recorded in the release.
	// +optional
	runUrl string,
	// Who triggered the promotion, recorded in the release.
	// +optional
	actor string,
	// Environments whose promotes must pass the vulnerability gate, comma-separated, or none.
	// +default="prod"
	protectedEnvironments string,
	// Findings at or above this severity block: INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL.
	// +default="CRITICAL"
	vulnerabilityThreshold string,
	// Let findings pass that enhanced scanning marks as having no fix available.
	// +optional
	ignoreUnfixed bool,
	// Accepted vulnerabilities (YAML or JSON; each with id, reason and expires: YYYY-MM-DD).
	// +optional
	vulnerabilityAllowlist *dagger.File,
	// Promote an image whose provenance does not verify, saying so in the report (targets outside AWS only).
	// +optional
	allowUnverified bool,
) (string, error) {
	o, err := deployOptions(timeout, lockWait, noRollback)
	if err != nil {
		return "", err
	}
	gate, err := newVulnGate(ctx, protectedEnvironments, vulnerabilityThreshold, ignoreUnfixed, vulnerabilityAllowlist)
	if err != nil {
		return "", err
	}
	verdict := ""
	if (from == "") == (revision == "") {
		return "", fmt.Errorf("give exactly one of --from <environment> (promote what it runs) or --revision <sha> (with --repository)")
	}
	if revision != "" && repository == "" {
		return "", fmt.Errorf("--revision needs --repository: the repository to look the revision's tag up in")
	}
	// A revision is looked up before the cluster is touched: an unpublished one is refused first.
	var rel deploy.Release
	var prov provenanceCheck
	if revision != "" {
		if rel, err = m.promoted(ctx, nil, "", revision, repository); err != nil {
			return "", err
		}
		if prov, err = m.gateImage(ctx, rel.Image, rel.Revision, cluster != "", allowUnverified); err != nil {
			return "", err
		}
		if verdict, err = m.enforce(ctx, gate, to, rel.Image, repository); err != nil {
			return "", err
		}
	}
	target, client, err := m.checkTarget(ctx, to, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	defer target.stop(context.WithoutCancel(ctx))
	if from != "" {
		if rel, err = m.promoted(ctx, client, from, "", ""); err != nil {
			return "", err
		}
		if prov, err = m.gateImage(ctx, rel.Image, rel.Revision, cluster != "", allowUnverified); err != nil {
			return "", err
		}
		if verdict, err = m.enforce(ctx, gate, to, rel.Image, repository); err != nil {
			return "", err
		}
	}
	if expectImage != "" && !deploy.SameDigest(expectImage, rel.Image) {
		return "", fmt.Errorf("refusing to promote %s: --expect-image is %s (a different digest); nothing was deployed", rel.Image, expectImage)
	}
	fmt.Fprintf(os.Stderr, "promoting %s to %s\n", rel.Image, to)
	o.Image, o.Owner, o.Action = rel.Image, "ship promote "+firstNonEmpty(rel.Revision, rel.Image), "promote"
	o.Release = deploy.Release{Revision: rel.Revision, From: from, RunURL: runUrl, Actor: actor, Provenance: prov.Provenance}
	o.Provenance = prov.Line
	rep, err := m.rollOut(ctx, client, to, o, true)
	return verdict + rep, err
}

// promoted finds the image to promote: the source environment's release, or the revision's published image.
func (m *Ship) promoted(ctx context.Context, client *kube.Client, from, revision, repository string) (deploy.Release, error) {
	if from != "" {
		src, err := m.renderChecked(ctx, from, "", false)
		if err != nil {
			return deploy.Release{}, fmt.Errorf("--from %s: %w", from, err)
		}
		return deploy.Released(ctx, client, src.namespace, kube.Owner{App: src.id.AppName, Overlay: from})
	}
	ref, err := m.publishedRef(ctx, repository, revision)
	if err != nil {
		return deploy.Release{}, err
	}
	return deploy.Release{Revision: revision, Image: ref}, nil
}

// checkTarget checks, before anything is built, that the overlay renders and that the cluster answers and
// lets this identity deploy the overlay's namespace; it returns the cluster and a client through its proxy.
func (m *Ship) checkTarget(ctx context.Context, overlay, clusterName string, kc *dagger.Secret, api *dagger.Service) (*cluster, *kube.Client, error) {
	ctx, span := Tracer().Start(ctx, "check inputs")
	defer span.End()
	target, err := m.target(ctx, clusterName, kc, api)
	if err != nil {
		if _, renderErr := m.renderChecked(ctx, overlay, "", false); renderErr != nil {
			return nil, nil, renderErr // the overlay is the first thing to fix
		}
		return nil, nil, err
	}
	// The proxy's container starts while the overlay renders: neither needs the other, and each takes a
	// tenth of a second or more. A proxy that fails to start is reported as it is, not started again by the
	// preflight's first request (which would double a start's timeout).
	started := make(chan error, 1)
	go func() {
		_, err := target.endpoint(ctx)
		started <- err
	}()
	r, err := m.renderChecked(ctx, overlay, "", false)
	if startErr := <-started; err == nil && startErr != nil {
		err = startErr
	}
	if err != nil {
		target.stop(ctx)
		return nil, nil, err
	}
	client, err := target.client()
	if err != nil {
		target.stop(ctx)
		return nil, nil, err
	}
	if err := deploy.Preflight(ctx, client, r.manifests, r.id.AppName, overlay); err != nil {
		target.stop(ctx)
		return nil, nil, err
	}
	return target, client, nil
}

// rollOut renders the overlay with the image and runs the deploy.
func (m *Ship) rollOut(ctx context.Context, client *kube.Client, overlay string, o deploy.Options, requireDigest bool) (string, error) {
	r, err := m.renderChecked(ctx, overlay, o.Image, requireDigest)
	if err != nil {
		return "", err
	}
	o.App, o.Overlay, o.Manifests = r.id.AppName, overlay, r.manifests
	o.Progress, o.Stage = os.Stderr, traceStage
	ctx, span := Tracer().Start(ctx, "rollout "+overlay)
	defer span.End()
	rep, err := deploy.Run(ctx, client, o)
	return reportResult(rep, err)
}

// deployOptions parses the flags every deploying function shares.
func deployOptions(timeout, lockWait string, noRollback bool) (deploy.Options, error) {
	wait, err := parseDuration("--timeout", timeout)
	if err != nil {
		return deploy.Options{}, err
	}
	lw, err := parseDuration("--lock-wait", lockWait)
	if err != nil {
		return deploy.Options{}, err
	}
	return deploy.Options{Timeout: wait, LockWait: lw, NoRollback: noRollback}, nil
}

// Plan shows what a deploy would change: a diff of each object against the cluster, and what would be pruned.
// Nothing is applied. An identity that may only read gets a comparison of the rendered fields instead of a
// server-side dry-run.
// +cache="never"
func (m *Ship) Plan(
	ctx context.Context,
	// Overlay to plan.
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
	r, err := m.renderChecked(ctx, overlay, image, false)
	if err != nil {
		return "", err
	}
	target, client, err := m.connect(ctx, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	defer target.stop(context.WithoutCancel(ctx))
	res, err := deploy.Plan(ctx, client, deploy.Options{App: r.id.AppName, Overlay: overlay, Image: r.image, Manifests: r.manifests})
	if err != nil {
		return "", err
	}
	if res.Diff == "" {
		return res.Summary(), nil
	}
	return res.Summary() + "\n" + res.Diff, nil
}

// Rollback undoes the overlay's Deployments to the previous revision that did not fail, and waits until healthy.
// With --if-interrupted it is the cleanup of a cancelled CI job: it undoes only what the interrupted deploy of
// that revision left, once its lock's lease has run out.
// +cache="never"
func (m *Ship) Rollback(
	ctx context.Context,
	// Overlay whose workloads to roll back.
	overlay string,
	// Revision to return to (default: the newest earlier one that ship did not see fail).
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
	// Overall cap on the wait for the rolled-back revision, e.g. 10m.
	// +optional
	timeout string,
	// How long to wait for a deploy of the namespace to finish.
	// +default="5m"
	lockWait string,
	// Only undo what an interrupted deploy or promote of this release revision left unverified, e.g. in a CI
	// step that runs when the job is cancelled; change nothing if there is none.
	// +optional
	ifInterrupted string,
) (string, error) {
	if ifInterrupted != "" && toRevision != 0 {
		return "", fmt.Errorf("--if-interrupted and --to-revision exclude each other: an interrupted deploy goes back to the revision before it; nothing was rolled back")
	}
	o, err := deployOptions(timeout, lockWait, false)
	if err != nil {
		return "", err
	}
	r, err := m.renderChecked(ctx, overlay, "", false)
	if err != nil {
		return "", err
	}
	target, client, err := m.connect(ctx, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	defer target.stop(context.WithoutCancel(ctx))
	rep, err := deploy.Rollback(ctx, client, deploy.RollbackOptions{App: r.id.AppName, Overlay: overlay, Namespace: r.namespace,
		ToRevision: int64(toRevision), Timeout: o.Timeout, LockWait: o.LockWait, Progress: os.Stderr, IfInterrupted: ifInterrupted})
	return reportResult(rep, err)
}

// Status shows the overlay's workloads: revision, image, ready/updated/available replicas and the release record.
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
	r, err := m.renderChecked(ctx, overlay, "", false)
	if err != nil {
		return "", err
	}
	target, client, err := m.connect(ctx, cluster, kubeconfig, kubeApi)
	if err != nil {
		return "", err
	}
	defer target.stop(context.WithoutCancel(ctx))
	st, err := deploy.Status(ctx, client, r.namespace, kube.Owner{App: r.id.AppName, Overlay: overlay})
	if err != nil {
		return "", err
	}
	return st.String(), nil
}

// connect resolves the cluster and a client through its proxy.
func (m *Ship) connect(ctx context.Context, clusterName string, kc *dagger.Secret, api *dagger.Service) (*cluster, *kube.Client, error) {
	target, err := m.target(ctx, clusterName, kc, api)
	if err != nil {
		return nil, nil, err
	}
	client, err := target.client()
	if err != nil {
		return nil, nil, err
	}
	return target, client, nil
}

// reportResult returns the report as the function's output, or, when the deploy failed, prints it once to
// the function's log and returns its one-line summary: the dagger CLI shows only the first line of a
// function's error, so a report inside the error would never be seen (and the engine repeats errors).
func reportResult(rep *report.Report, err error) (string, error) {
	if rep == nil {
		return "", err
	}
	md := rep.Markdown()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\n%s\n", md)
		first, _, _ := strings.Cut(err.Error(), "\n")
		return "", fmt.Errorf("%s (the %s report is above)", first, firstNonEmpty(rep.Action, "deploy"))
	}
	return md, nil
}

// traceStage makes each deploy stage a named step in Dagger's TUI.
func traceStage(ctx context.Context, name string) (context.Context, func()) {
	ctx, span := Tracer().Start(ctx, name)
	return ctx, func() { span.End() }
}

// parseDuration accepts Go durations ("90s", "5m") and rejects anything else with the expected form.
func parseDuration(flag, s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q is not a duration: use a form like 90s, 5m or 1h", flag, s)
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
