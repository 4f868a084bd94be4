// Ship is a portable delivery pipeline for a FastAPI service on Amazon EKS.
//
// This file is the module's front door: the constructor, the credential builders and the offline steps
// (test, build, render, validate). It is thin glue on purpose: everything that can be plain Go lives in
// internal/ and is tested there against real parts; here we only wire containers and call into it.
package main

//go:generate bash internal/tools/codegen/generate.sh

import (
	"context"
	"fmt"
	"strings"
	"testing/fstest"

	"dagger/ship/internal/dagger"
	"dagger/ship/internal/imagearchive"
	"dagger/ship/internal/render"
	"dagger/ship/internal/validate"
)

// standInImage is what validate renders with when no image is given: a well-formed digest reference, so every
// other check still runs and the placeholder check proves the image transformer took effect.
const standInImage = "registry.invalid/fastapi-app@sha256:0000000000000000000000000000000000000000000000000000000000000000"

// Ship tests, builds, publishes and deploys the FastAPI service, and tells the truth about the rollout.
type Ship struct {
	// The FastAPI service source (app/).
	App *dagger.Directory
	// The Kubernetes manifests (k8s/, with base/ and overlays/).
	Manifests *dagger.Directory
	// Base image of the service and of its test container.
	PythonImage string
	// Image that provides the kubectl binary at /bin/kubectl.
	KubectlImage string
	// Image with a shell that kubectl runs in, so `kubectl terminal` works.
	ShellImage string

	// +private
	PipIndexURL *dagger.Secret
	// +private
	Aws *AwsSettings
	// +private
	Oidc *OidcSettings
	// +private
	Registry *RegistrySettings
}

// New creates the pipeline. Every image is a parameter with a pinned default, so a mirror works without edits.
func New(
	// The FastAPI service source.
	// +defaultPath="/app"
	// +ignore=["**/__pycache__", "**/.pytest_cache", ".venv"]
	app *dagger.Directory,
	// The Kubernetes manifests: base/ and overlays/<name>/.
	// +defaultPath="/k8s"
	manifests *dagger.Directory,
	// Python base image for the service and its tests (passed to the Dockerfile as PYTHON_IMAGE).
	// +default="python:3.12.8-slim-bookworm"
	pythonImage string,
	// Image providing the kubectl binary at /bin/kubectl.
	// +default="registry.k8s.io/kubectl:v1.34.2"
	kubectlImage string,
	// Image with a shell that kubectl runs in.
	// +default="alpine:3.22.2"
	shellImage string,
) *Ship {
	return &Ship{App: app, Manifests: manifests, PythonImage: pythonImage, KubectlImage: kubectlImage, ShellImage: shellImage}
}

// WithPipIndex uses a private package index (a CodeArtifact or Artifactory URL with its token) when installing
// the service's dependencies. It is mounted as a build secret, never a build argument or a layer.
func (m *Ship) WithPipIndex(
	// The index URL, e.g. env:PIP_INDEX_URL.
	url *dagger.Secret,
) *Ship {
	c := *m
	c.PipIndexURL = url
	return &c
}

// Test runs the service's pytest suite in a container from the pinned Python image and returns its output.
// It fails with pytest's output when a test fails.
func (m *Ship) Test(ctx context.Context) (string, error) {
	ctx, span := Tracer().Start(ctx, "test")
	defer span.End()
	ctr := dag.Container().From(m.PythonImage).
		WithEnvVariable("PIP_DISABLE_PIP_VERSION_CHECK", "1").
		WithEnvVariable("PIP_NO_CACHE_DIR", "1").
		WithDirectory("/src", m.App).
		WithWorkdir("/src")
	ctr = m.withPipIndexEnv(ctx, ctr).
		WithExec([]string{"sh", "-c", `if [ -s /run/secrets/pip_index_url ]; then export PIP_INDEX_URL="$(cat /run/secrets/pip_index_url)"; fi; pip install -q -r requirements-dev.txt`}).
		WithExec([]string{"python", "-m", "pytest", "-q", "tests"}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	out, err := ctr.CombinedOutput(ctx)
	if err != nil {
		return "", fmt.Errorf("run pytest: %w", err)
	}
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("run pytest: %w", err)
	}
	if code != 0 {
		return "", fmt.Errorf("service tests failed (pytest exit %d):\n%s", code, out)
	}
	return out, nil
}

// withPipIndexEnv mounts the private index URL, when one was given, where the test install step reads it.
func (m *Ship) withPipIndexEnv(_ context.Context, ctr *dagger.Container) *dagger.Container {
	if m.PipIndexURL == nil {
		return ctr
	}
	return ctr.WithMountedSecret("/run/secrets/pip_index_url", m.PipIndexURL)
}

// Build builds the service image from app/Dockerfile for one platform, with the git revision baked in.
// Chain `terminal` to look inside, `export --path image.tar` or `as-tarball` to take it away.
func (m *Ship) Build(
	ctx context.Context,
	// Target platform: linux/amd64, or linux/arm64 for Graviton nodes.
	// +default="linux/amd64"
	platform dagger.Platform,
	// Git revision reported by the service's /version endpoint.
	// +default="unknown"
	revision string,
) (*dagger.Container, error) {
	opts := dagger.DirectoryDockerBuildOpts{
		Platform: platform,
		BuildArgs: []dagger.BuildArg{
			{Name: "PYTHON_IMAGE", Value: m.PythonImage},
			{Name: "GIT_REVISION", Value: revision},
		},
	}
	if m.PipIndexURL != nil {
		// BuildKit matches build secrets by name: the Dockerfile mounts id=pip_index_url.
		url, err := m.PipIndexURL.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the pip index secret: %w", err)
		}
		opts.Secrets = []*dagger.Secret{dag.SetSecret("pip_index_url", url)}
	}
	return m.App.DockerBuild(opts), nil
}

// ImageArchive builds the image and returns it as a tarball in which the image is named --name, ready for
// `kind load image-archive` or `minikube image load` (a plain as-tarball export carries no name).
func (m *Ship) ImageArchive(
	ctx context.Context,
	// Name the cluster will know the image by; deploy it with --image <name>.
	// +default="localhost/fastapi-app:local"
	name string,
	// Target platform of the local cluster's nodes.
	// +default="linux/amd64"
	platform dagger.Platform,
	// Git revision reported by /version.
	// +default="unknown"
	revision string,
) (*dagger.File, error) {
	ctr, err := m.Build(ctx, platform, revision)
	if err != nil {
		return nil, err
	}
	// Export writes into this function's own scratch directory; the retagged copy is returned from there.
	if _, err := ctr.AsTarball().Export(ctx, "image.tar"); err != nil {
		return nil, fmt.Errorf("export the image tarball: %w", err)
	}
	if err := imagearchive.TagFile("image.tar", "image-archive.tar", name); err != nil {
		return nil, err
	}
	return dag.CurrentModule().WorkdirFile("image-archive.tar"), nil
}

// Render renders an overlay with the service image pinned (through kustomize's image transformer), validates
// the result, and returns the manifests that deploy would apply.
func (m *Ship) Render(
	ctx context.Context,
	// Overlay name under k8s/overlays, e.g. dev, staging, prod.
	overlay string,
	// Image reference: registry/repository:tag, or @sha256:digest (the digest wins).
	image string,
	// Fail unless every container image is pinned by digest.
	// +optional
	requireDigest bool,
) (*dagger.File, error) {
	rendered, err := m.renderChecked(ctx, overlay, image, requireDigest)
	if err != nil {
		return nil, err
	}
	return dag.Directory().WithNewFile(overlay+".yaml", string(rendered)).File(overlay + ".yaml"), nil
}

// Validate renders an overlay and returns a readable report of every check: strict decoding into the
// Kubernetes API types, image pinning, probes, resource limits and the hardened security context.
// Without --image a stand-in digest reference is used, so everything but your real image is checked.
func (m *Ship) Validate(
	ctx context.Context,
	// Overlay name under k8s/overlays.
	overlay string,
	// Image reference to render with.
	// +optional
	image string,
	// Manifests directory to validate instead of the module's k8s/.
	// +optional
	manifests *dagger.Directory,
	// Fail unless every container image is pinned by digest.
	// +optional
	requireDigest bool,
) (string, error) {
	if manifests != nil {
		c := *m
		c.Manifests = manifests
		m = &c
	}
	note := ""
	if image == "" {
		image, note = standInImage, "image: none given, rendered with the stand-in "+standInImage+"\n"
	}
	_, report, err := m.renderValidated(ctx, overlay, image, requireDigest)
	if err != nil {
		return "", err
	}
	if err := report.Err(); err != nil {
		return "", fmt.Errorf("%s%s", note, report.String())
	}
	return note + report.String(), nil
}

// renderValidated renders in the module's own Go code (no container), so it works offline and fast.
func (m *Ship) renderValidated(ctx context.Context, overlay, image string, requireDigest bool) ([]byte, *validate.Report, error) {
	ctx, span := Tracer().Start(ctx, "render "+overlay)
	defer span.End()
	fsys, err := directoryFS(ctx, m.Manifests)
	if err != nil {
		return nil, nil, err
	}
	rendered, err := render.Render(fsys, render.Options{Overlay: overlay, Image: image, ImageName: "fastapi-app", AppName: "fastapi-app"})
	if err != nil {
		return nil, nil, err
	}
	report, err := validate.Manifests(rendered, validate.Options{RequireDigest: requireDigest, ImageName: "fastapi-app"})
	if err != nil {
		return nil, nil, err
	}
	return rendered, report, nil
}

// renderChecked renders and validates, failing with the validation report.
func (m *Ship) renderChecked(ctx context.Context, overlay, image string, requireDigest bool) ([]byte, error) {
	rendered, rep, err := m.renderValidated(ctx, overlay, image, requireDigest)
	if err != nil {
		return nil, err
	}
	if err := rep.Err(); err != nil {
		return nil, err
	}
	return rendered, nil
}

// directoryFS copies a (small) manifests directory into memory so kustomize can render it in-process.
func directoryFS(ctx context.Context, dir *dagger.Directory) (fstest.MapFS, error) {
	paths, err := dir.Glob(ctx, "**/*")
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	fsys := fstest.MapFS{}
	for _, p := range paths {
		if strings.HasSuffix(p, "/") {
			continue
		}
		if ok, err := dir.Exists(ctx, p, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType}); err != nil || !ok {
			continue
		}
		data, err := dir.File(p).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", p, err)
		}
		fsys[strings.TrimPrefix(p, "/")] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
	}
	return fsys, nil
}
