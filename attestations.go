// This file attaches the SBOM and the build provenance to every published image, and reads an SBOM back
// (sbom). Dagger's publish cannot attach attestations, so ship pushes them as OCI 1.1 referrers with the
// credentials it pushed the image with. It guards against attestations that lie: the SBOM is read from the
// pushed image itself (its dpkg database and `pip inspect` in it), and a provenance is attached only by the
// run that built the image, never to a reused revision another run built. Both are signed as Sigstore
// bundles when there is a key (gate.go); without one, publish says loudly that they are unsigned.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"dagger/ship/internal/attest"
	"dagger/ship/internal/dagger"
	"dagger/ship/internal/ecr"
	"dagger/ship/internal/provenance"
	"dagger/ship/internal/publish"
	"dagger/ship/internal/sbom"
	"dagger/ship/internal/signing"
)

// Sbom returns the CycloneDX SBOM attached to a published image, read back from its registry.
// It is the document publish attached to the image's platform manifest (with-registry or with-aws give the credentials).
// +cache="never"
func (m *Ship) Sbom(
	ctx context.Context,
	// The image: repository:tag, repository@sha256:..., or repository:tag@sha256:... (the digest wins).
	image string,
	// The platform whose SBOM to return, for a multi-platform image.
	// +default="linux/amd64"
	platform dagger.Platform,
) (*dagger.File, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, fmt.Errorf("--image %q is not an image reference (repository:tag or repository@sha256:...): %v", image, err)
	}
	opts, err := m.registryOptions(ctx, ref.Context().RegistryStr())
	if err != nil {
		return nil, err
	}
	desc, err := remote.Head(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, fmt.Errorf("find %s in its registry: %v", image, err)
	}
	ims, err := attest.Resolve(ctx, ref.Context().Digest(desc.Digest.String()), "", opts...)
	if err != nil {
		return nil, err
	}
	img, err := ims.Platform(string(platform))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", image, err)
	}
	data, err := attest.Read(ctx, ref.Context().Digest(img.Digest), sbom.MediaType, opts...)
	if err != nil {
		return nil, err
	}
	return dag.Directory().WithNewFile("sbom.cdx.json", string(data)).File("sbom.cdx.json"), nil
}

// attestPublished attaches what the image at ref (repository:tag@digest) lacks: the SBOM of each platform
// image, and, when this run built it (built holds the containers it pushed, by platform), the provenance on
// the root and on each platform image.
func (m *Ship) attestPublished(ctx context.Context, target *pushTarget, ref, revision string, platforms []dagger.Platform, built map[string]*dagger.Container, started time.Time) error {
	ctx, span := Tracer().Start(ctx, "attest")
	defer span.End()
	digest, err := publish.DigestOf(ref)
	if err != nil {
		return err
	}
	root, err := name.NewDigest(target.repository + "@" + digest)
	if err != nil {
		return fmt.Errorf("attest: %v", err)
	}
	opts, err := m.targetOptions(ctx, target)
	if err != nil {
		return err
	}
	single := ""
	if len(platforms) == 1 {
		single = string(platforms[0])
	}
	ims, err := attest.Resolve(ctx, root, single, opts...)
	if err != nil {
		return err
	}
	signer, why, err := m.signer(ctx)
	if err != nil {
		return err
	}
	var done []string
	for _, img := range ims.Platforms {
		at := root.Context().Digest(img.Digest)
		res, doc, err := m.attachSBOM(ctx, target, at, img.Platform, builtFor(built, img.Platform), opts)
		switch {
		case err != nil && built != nil:
			return err
		case err != nil:
			// A reused image is the release either way; its missing SBOM is reported, not fatal.
			done = append(done, fmt.Sprintf("SBOM %s not attached: %v", img.Platform, err))
			continue
		default:
			done = append(done, describe("SBOM "+img.Platform, res))
		}
		if signer != nil {
			line, err := signSBOM(ctx, signer, at, img.Platform, doc, opts)
			if err != nil {
				return err
			}
			done = append(done, line)
		}
	}
	if built != nil {
		res, err := m.attachProvenance(ctx, root, ims, revision, platforms, started, signer, opts)
		if err != nil {
			return err
		}
		done = append(done, res...)
	} else if found, err := attest.Find(ctx, root, provenance.MediaType, opts...); err != nil {
		return err
	} else if len(found) == 0 {
		done = append(done, "no provenance: this run did not build the image, and the run that did attached none")
	} else {
		done = append(done, "provenance "+found[0].Digest.String()+" (existing)")
		if signer != nil {
			done = append(done, m.signReusedProvenance(ctx, signer, root, revision, opts))
		}
	}
	if signer == nil {
		fmt.Fprintf(os.Stderr, "WARNING: the attestations of %s are NOT SIGNED: %s. deploy --image and promote refuse an image without a signed provenance.\n", root, why)
		fmt.Fprintf(os.Stderr, "attestations of %s (unsigned): %s\n", root, strings.Join(done, "; "))
		return nil
	}
	fmt.Fprintf(os.Stderr, "attestations of %s (signed by %s): %s\n", root, signer.Describe(), strings.Join(done, "; "))
	return nil
}

// signReusedProvenance signs the provenance of a reused image that lacks its bundle (a publish that stopped
// after the statement was attached), but only a statement this run could have made itself: about this
// digest, of this revision, by this run's builder. Anything else in the registry is left unsigned.
func (m *Ship) signReusedProvenance(ctx context.Context, s signing.Signer, root name.Digest, revision string, opts []remote.Option) string {
	if found, err := attest.FindBundles(ctx, root, provenance.PredicateType, opts...); err == nil && len(found) > 0 {
		return "provenance bundle " + found[0].Digest.String() + " (existing)"
	}
	doc, err := attest.Read(ctx, root, provenance.MediaType, opts...)
	if err != nil {
		return "provenance not signed: " + err.Error()
	}
	st, err := provenance.Parse(doc)
	if err != nil {
		return "provenance not signed: " + err.Error()
	}
	tok, err := m.webIdentity(ctx)
	if err != nil {
		return "provenance not signed: " + err.Error()
	}
	runner := provenance.RunnerFromToken(nil)
	if tok != nil {
		runner = provenance.RunnerFromToken(&tok.Claims)
	}
	builder := firstNonEmpty(runner.BuilderID, provenance.LocalBuilder)
	if !st.HasSubject(root.DigestStr()) || st.Predicate.BuildDefinition.ExternalParameters.Revision != revision || st.Predicate.RunDetails.Builder.ID != builder {
		return fmt.Sprintf("provenance NOT signed: the existing statement is not one this run could have made (its subject, revision or builder is not %s, %s, %s)", root.DigestStr(), revision, builder)
	}
	res, err := signStatement(ctx, s, root, provenance.PredicateType, doc, opts)
	if err != nil {
		return "provenance not signed: " + err.Error()
	}
	return describe("provenance bundle", res)
}

// checkAttestable fails before anything is built when ship's own code could not reach the registry to
// attach the attestations: one on the caller's loopback, given without its API service.
func (t *pushTarget) checkAttestable() error {
	if t.api == nil && attest.IsLoopback(t.host) {
		return fmt.Errorf("with-registry --address %s is on this machine's loopback: the engine pushes there, but ship's own code, which attaches the attestations, runs in a container where that address is its own; add --api tcp://%s to with-registry", t.host, t.host)
	}
	return nil
}

func describe(what string, res attest.Result) string {
	if res.Existing {
		return what + " " + res.Digest + " (existing)"
	}
	return what + " " + res.Digest + " (attached)"
}

// builtFor is the container this run pushed for a platform, or nil.
func builtFor(built map[string]*dagger.Container, platform string) *dagger.Container {
	for p, ctr := range built {
		if attest.SamePlatform(p, platform) {
			return ctr
		}
	}
	return nil
}

// attachSBOM makes the SBOM of one platform image from the image itself, unless it already has one: from
// the container this run pushed (ctr), or else pulled back from the registry by digest. It returns the
// document it attached (nil when one existed), so signing needs no blob read (ECR's build role has none).
func (m *Ship) attachSBOM(ctx context.Context, target *pushTarget, img name.Digest, platform string, ctr *dagger.Container, opts []remote.Option) (attest.Result, []byte, error) {
	if found, err := attest.Find(ctx, img, sbom.MediaType, opts...); err != nil || len(found) > 0 {
		if err != nil {
			return attest.Result{}, nil, err
		}
		return attest.Result{Digest: found[0].Digest.String(), Existing: true}, nil, nil
	}
	if ctr == nil {
		ctr = dag.Container(dagger.ContainerOpts{Platform: dagger.Platform(platform)}).
			WithRegistryAuth(target.host, target.username, target.password).
			From(img.String())
	}
	in, err := imageContents(ctx, ctr)
	if err != nil {
		return attest.Result{}, nil, fmt.Errorf("read the packages of %s: %w", img, err)
	}
	in.Image = sbom.Image{Repository: img.Context().Name(), Digest: img.DigestStr(), Platform: platform}
	in.Created = time.Now()
	doc, err := sbom.Encode(in)
	if err != nil {
		return attest.Result{}, nil, err
	}
	res, err := attest.Attach(ctx, img, attest.Attestation{ArtifactType: sbom.MediaType, Data: doc, Created: in.Created}, opts...)
	if res.Existing { // another run attached one meanwhile: sign that one, not ours
		doc = nil
	}
	return res, doc, err
}

// imageContents reads what the SBOM lists from inside the image: its dpkg database, os-release, and the
// report of `pip inspect` run by the image's own python (its venv's, first on the image's PATH).
func imageContents(ctx context.Context, ctr *dagger.Container) (sbom.Input, error) {
	var in sbom.Input
	if osr, err := ctr.File("/etc/os-release").Contents(ctx); err == nil {
		in.OS = sbom.ParseOSRelease([]byte(osr))
	}
	status, err := ctr.File("/var/lib/dpkg/status").Contents(ctx)
	if err != nil {
		in.Notes = append(in.Notes, "OS packages not listed: the image has no /var/lib/dpkg/status")
	} else if in.Debs, err = sbom.ParseDpkgStatus([]byte(status)); err != nil {
		return sbom.Input{}, err
	}
	pip := ctr.WithEnvVariable("PIP_DISABLE_PIP_VERSION_CHECK", "1").WithEnvVariable("PIP_NO_CACHE_DIR", "1").
		WithEnvVariable("PIP_NO_INPUT", "1").
		WithExec([]string{"python", "-m", "pip", "--quiet", "inspect", "--local"}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := pip.ExitCode(ctx)
	if err != nil {
		return sbom.Input{}, fmt.Errorf("run pip inspect: %v", err)
	}
	if code != 0 {
		errOut, _ := pip.Stderr(ctx)
		in.Notes = append(in.Notes, fmt.Sprintf("Python packages not listed: `python -m pip inspect` exited %d: %s", code, firstLineOf(errOut)))
		fmt.Fprintf(os.Stderr, "SBOM: %s\n", in.Notes[len(in.Notes)-1])
		return in, nil
	}
	report, err := pip.Stdout(ctx)
	if err != nil {
		return sbom.Input{}, fmt.Errorf("read pip inspect's report: %v", err)
	}
	if in.Python, err = sbom.ParsePipInspect([]byte(report)); err != nil {
		return sbom.Input{}, err
	}
	return in, nil
}

// attachProvenance attaches one statement about the root and every platform image to each of them.
func (m *Ship) attachProvenance(ctx context.Context, root name.Digest, ims attest.Images, revision string, platforms []dagger.Platform, started time.Time, signer signing.Signer, opts []remote.Option) ([]string, error) {
	b, err := m.provenanceBuild(ctx, root, ims, revision, platforms, started)
	if err != nil {
		return nil, err
	}
	st, err := provenance.New(b)
	if err != nil {
		return nil, err
	}
	doc, err := st.Marshal()
	if err != nil {
		return nil, err
	}
	subjects := []attest.Image{ims.Root}
	if ims.Index {
		subjects = append(subjects, ims.Platforms...)
	}
	var done []string
	for _, s := range subjects {
		res, err := attest.Attach(ctx, root.Context().Digest(s.Digest), attest.Attestation{ArtifactType: provenance.MediaType, Data: doc, Created: b.FinishedOn}, opts...)
		if err != nil && ims.Index && s == ims.Root && attest.IsMethodNotAllowed(err) {
			// ECR refuses referrers of an index (405); the platform images carry the same statement.
			done = append(done, "provenance not attached to the index (the registry refuses referrers of an index: 405), only to its platform images")
			continue
		}
		if err != nil {
			return nil, err
		}
		done = append(done, describe(strings.TrimSpace("provenance "+s.Platform), res))
		if signer == nil {
			continue
		}
		if res, err = signStatement(ctx, signer, root.Context().Digest(s.Digest), provenance.PredicateType, doc, opts); err != nil {
			return nil, err
		}
		done = append(done, describe(strings.TrimSpace("provenance bundle "+s.Platform), res))
	}
	return done, nil
}

// provenanceBuild gathers what the statement says: the run's identity, the base image by digest, ship's
// own source digest.
func (m *Ship) provenanceBuild(ctx context.Context, root name.Digest, ims attest.Images, revision string, platforms []dagger.Platform, started time.Time) (provenance.Build, error) {
	tok, err := m.webIdentity(ctx)
	if err != nil {
		return provenance.Build{}, fmt.Errorf("provenance: the builder identity: %w", err)
	}
	runner := provenance.RunnerFromToken(nil)
	if tok != nil {
		runner = provenance.RunnerFromToken(&tok.Claims)
	}
	base, err := dag.Container().From(m.PythonImage).ImageRef(ctx)
	if err != nil {
		return provenance.Build{}, fmt.Errorf("provenance: resolve the base image %s: %v", m.PythonImage, err)
	}
	module, err := dag.CurrentModule().Source().Digest(ctx)
	if err != nil {
		return provenance.Build{}, fmt.Errorf("provenance: ship's own source digest: %v", err)
	}
	subjects := map[string]string{root.Context().Name(): ims.Root.Digest}
	if ims.Index {
		for _, p := range ims.Platforms {
			subjects[root.Context().Name()+" ("+p.Platform+")"] = p.Digest
		}
	}
	plats := make([]string, len(platforms))
	for i, p := range platforms {
		plats[i] = string(p)
	}
	return provenance.Build{
		Subjects: subjects, BuilderID: runner.BuilderID, InvocationID: runner.InvocationID,
		Repository: root.Context().Name(), Revision: revision, Platforms: plats,
		Source:    provenance.SourceResource(runner.SourceURI, revision),
		BaseImage: base,
		Module:    provenance.Resource{Name: "ship", Digest: map[string]string{"sha256": strings.TrimPrefix(module, "sha256:")}},
		StartedOn: started, FinishedOn: time.Now(),
	}, nil
}

// targetOptions are the registry options for a push target: its credentials, and its API service when
// the registry is on the caller's loopback.
func (m *Ship) targetOptions(ctx context.Context, target *pushTarget) ([]remote.Option, error) {
	password, err := target.password.Plaintext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the registry password: %w", err)
	}
	opts := []remote.Option{remote.WithAuth(&authn.Basic{Username: target.username, Password: strings.TrimSpace(password)})}
	if target.api == nil {
		return opts, nil
	}
	svc, err := target.api.Start(ctx)
	if err != nil {
		return nil, fmt.Errorf("start the registry API service: %v", err)
	}
	endpoint, err := svc.Endpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("find the registry API service: %v", err)
	}
	return append(opts, remote.WithTransport(attest.DialVia(target.host, endpoint))), nil
}

// registryOptions are the options for reading any image: with-registry's credentials for its host, ECR's
// for an ECR host when with-aws is set, none otherwise.
func (m *Ship) registryOptions(ctx context.Context, host string) ([]remote.Option, error) {
	if m.Registry != nil && host == m.Registry.Address {
		return m.targetOptions(ctx, &pushTarget{host: m.Registry.Address, username: m.Registry.Username, password: m.Registry.Password, api: m.Registry.Api})
	}
	if m.Aws != nil && isECRHost(host) {
		cfg, err := m.awsConfig(ctx, "reading from ECR", "")
		if err != nil {
			return nil, err
		}
		creds, err := ecr.Login(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return []remote.Option{remote.WithAuth(&authn.Basic{Username: creds.Username, Password: creds.Password})}, nil
	}
	return nil, nil
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
