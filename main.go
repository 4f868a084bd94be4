// Ship is a portable delivery pipeline for a service on Amazon EKS (or any Kubernetes cluster).
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
	"sync"
	"testing/fstest"

	"dagger/ship/internal/dagger"
	"dagger/ship/internal/imagearchive"
	"dagger/ship/internal/kube"
	"dagger/ship/internal/render"
	"dagger/ship/internal/validate"
)

// standInImage is what validate, plan and the pre-build checks render with when no image is given: a
// well-formed digest reference, so every other check still runs and the placeholder check proves the image
// transformer took effect. Its repository is replaced by the app's logical image name (see standIn).
const standInDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// Ship tests, builds, publishes and deploys a service to Kubernetes (EKS or any cluster), and tells the
// truth about the rollout.
type Ship struct {
	// +private
	App *dagger.Directory
	// +private
	Manifests *dagger.Directory
	// +private
	PythonImage string
	// +private
	KubectlImage string
	// +private
	ShellImage string
	// +private
	ImageName string
	// +private
	AppName string
	// +private
	Dockerfile string
	// +private
	TestCommand string

	// +private
	PipIndexURL *dagger.Secret
	// +private
	Aws *AwsSettings
	// +private
	Oidc *OidcSettings
	// +private
	Registry *RegistrySettings
	// +private
	Signing *SigningSettings
	// +private
	Verification *VerifySettings
}

// New creates the pipeline for a service: its source, its manifests and how to test and build it.
func New(
	// The service source: its Dockerfile and tests.
	// +defaultPath="/app"
	// +ignore=["**/__pycache__", "**/.pytest_cache", ".venv"]
	app *dagger.Directory,
	// The Kubernetes manifests: base/ and overlays/<name>/ (kustomize), one overlay per environment.
	// +defaultPath="/k8s"
	manifests *dagger.Directory,
	// The logical image name in the manifests that ship replaces with the pushed image (default: the one container image without a registry host).
	// +optional
	imageName string,
	// The app name on ship's ownership labels and in reports (default: the workloads' app.kubernetes.io/name label).
	// +optional
	appName string,
	// The Dockerfile, relative to --app.
	// +default="Dockerfile"
	dockerfile string,
	// The shell command that runs the service's tests in --app, in the Python image (with-pip-index sets PIP_INDEX_URL for it).
	// +default="pip install -q -r requirements-dev.txt && python -m pytest -q tests"
	testCommand string,
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
	return &Ship{App: app, Manifests: manifests, ImageName: imageName, AppName: appName, Dockerfile: dockerfile, TestCommand: testCommand,
		PythonImage: pythonImage, KubectlImage: kubectlImage, ShellImage: shellImage}
}

// WithPipIndex installs the service's dependencies from a private package index (e.g. CodeArtifact, Artifactory).
// The URL, token included, is mounted as a build secret, never a build argument or a layer.
func (m *Ship) WithPipIndex(
	// The index URL, e.g. env:PIP_INDEX_URL.
	url *dagger.Secret,
) *Ship {
	c := *m
	c.PipIndexURL = url
	return &c
}

// Test runs the service's tests (--test-command) in the pinned Python image and returns their output.
func (m *Ship) Test(ctx context.Context) (string, error) {
	ctx, span := Tracer().Start(ctx, "test")
	defer span.End()
	ctr := dag.Container().From(m.PythonImage).
		WithEnvVariable("PIP_DISABLE_PIP_VERSION_CHECK", "1").
		WithEnvVariable("PIP_NO_CACHE_DIR", "1").
		WithDirectory("/src", m.App).
		WithWorkdir("/src")
	ctr = m.withPipIndexEnv(ctx, ctr).
		WithExec([]string{"sh", "-c", `if [ -s /run/secrets/pip_index_url ]; then export PIP_INDEX_URL="$(cat /run/secrets/pip_index_url)"; fi; ` + m.TestCommand},
			dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	out, err := ctr.CombinedOutput(ctx)
	if err != nil {
		return "", fmt.Errorf("run the service's tests: %v", err)
	}
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("run the service's tests: %v", err)
	}
	if code != 0 {
		return "", fmt.Errorf("the service's tests failed (exit %d from %q):\n%s", code, m.TestCommand, out)
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

// Build builds the service image from its Dockerfile (--dockerfile, in --app) for one platform, with the revision baked in.
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
		Platform:   platform,
		Dockerfile: m.Dockerfile,
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

// ImageArchive builds the image and returns a tarball in which it is named --name, for kind or minikube.
// Load it with `kind load image-archive` or `minikube image load` (a plain as-tarball export carries no name).
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

// Render renders an overlay with the service image pinned and validates it, returning what deploy would apply.
func (m *Ship) Render(
	ctx context.Context,
	// Overlay name under the manifests' overlays/, e.g. dev, staging, prod.
	overlay string,
	// Image reference: registry/repository:tag, or @sha256:digest (the digest wins).
	image string,
	// Fail unless every container image is pinned by digest.
	// +optional
	requireDigest bool,
) (*dagger.File, error) {
	r, err := m.renderChecked(ctx, overlay, image, requireDigest)
	if err != nil {
		return nil, err
	}
	return dag.Directory().WithNewFile(overlay+".yaml", string(r.manifests)).File(overlay + ".yaml"), nil
}

// Validate renders an overlay and reports every check: strict decoding, image pinning, probes, limits, security context.
// Without --image a stand-in digest reference is used, so everything but your real image is checked.
func (m *Ship) Validate(
	ctx context.Context,
	// Overlay name under the manifests' overlays/.
	overlay string,
	// Image reference to render with.
	// +optional
	image string,
	// Manifests directory to validate instead of the constructor's --manifests.
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
	r, err := m.renderValidated(ctx, overlay, image, requireDigest)
	if err != nil {
		return "", err
	}
	note := fmt.Sprintf("app %s, logical image %s\n", r.id.AppName, r.id.ImageName)
	if image == "" {
		note += "image: none given, rendered with the stand-in " + r.image + "\n"
	}
	if err := r.report.Err(); err != nil {
		return "", fmt.Errorf("%s%s", note, r.report.String())
	}
	return note + r.report.String(), nil
}

// rendered is an overlay rendered and validated, with the identity it was rendered for.
type rendered struct {
	manifests []byte
	report    *validate.Report
	id        render.Identity
	image     string // what was pinned
	namespace string
}

// renderValidated renders in the module's own Go code (no container), so it works offline and fast. An
// empty image renders with a stand-in digest reference of the app's logical image name.
func (m *Ship) renderValidated(ctx context.Context, overlay, image string, requireDigest bool) (*rendered, error) {
	ctx, span := Tracer().Start(ctx, "render "+overlay)
	defer span.End()
	fsys, err := directoryFS(ctx, m.Manifests)
	if err != nil {
		return nil, err
	}
	id, err := render.ResolveIdentity(fsys, overlay, render.Identity{ImageName: m.ImageName, AppName: m.AppName})
	if err != nil {
		return nil, err
	}
	if image == "" {
		image = "registry.invalid/" + id.ImageName + "@" + standInDigest
	}
	out, err := render.Render(fsys, render.Options{Overlay: overlay, Image: image, ImageName: id.ImageName, AppName: id.AppName})
	if err != nil {
		return nil, err
	}
	rep, err := validate.Manifests(out, validate.Options{RequireDigest: requireDigest, ImageName: id.ImageName})
	if err != nil {
		return nil, err
	}
	objs, err := kube.ParseManifests(out)
	if err != nil {
		return nil, err
	}
	ns, err := kube.NamespaceOf(objs)
	if err != nil {
		return nil, err
	}
	return &rendered{manifests: out, report: rep, id: id, image: image, namespace: ns}, nil
}

// renderChecked renders and validates, failing with the validation report.
func (m *Ship) renderChecked(ctx context.Context, overlay, image string, requireDigest bool) (*rendered, error) {
	r, err := m.renderValidated(ctx, overlay, image, requireDigest)
	if err != nil {
		return nil, err
	}
	if err := r.report.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// readManifests remembers, for the length of a call, the files of each manifests directory read: deploy,
// promote and preview render overlays of the same directory several times, and each read is a few API
// round trips per file.
var readManifests sync.Map // *dagger.Directory -> fstest.MapFS

// directoryFS copies a (small) manifests directory into memory so kustomize can render it in-process. The
// files are read side by side: each is two API round trips, and one after the other they were most of a
// render's time.
func directoryFS(ctx context.Context, dir *dagger.Directory) (fstest.MapFS, error) {
	if fsys, ok := readManifests.Load(dir); ok {
		return fsys.(fstest.MapFS), nil
	}
	paths, err := dir.Glob(ctx, "**/*")
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	files := make([]*fstest.MapFile, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8) // a large tree does not open hundreds of API calls at once
	for i, p := range paths {
		if strings.HasSuffix(p, "/") {
			continue
		}
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			files[i], errs[i] = manifestFile(ctx, dir, p)
		})
	}
	wg.Wait()
	fsys := fstest.MapFS{}
	for i, p := range paths {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if files[i] != nil {
			fsys[strings.TrimPrefix(p, "/")] = files[i]
		}
	}
	readManifests.Store(dir, fsys)
	return fsys, nil
}

// manifestFile reads one regular file of the manifests (nil for anything else, such as a symlink).
func manifestFile(ctx context.Context, dir *dagger.Directory, p string) (*fstest.MapFile, error) {
	if ok, err := dir.Exists(ctx, p, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType}); err != nil || !ok {
		return nil, nil
	}
	data, err := dir.File(p).Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", p, err)
	}
	return &fstest.MapFile{Data: []byte(data), Mode: 0o644}, nil
}
