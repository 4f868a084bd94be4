// This file is the signing and provenance gate's glue (the logic is internal/signing and internal/gate):
// which key signs what publish attaches, which key and builder deploy and promote expect, and verify, which
// prints the whole verdict on an image without deploying. It guards against an image reaching a cluster
// without proof of where it came from: deploy --image and promote refuse it before anything touches the
// cluster, and the one way around (--allow-unverified, outside AWS only) is written into the report.
package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"dagger/ship/internal/attest"
	"dagger/ship/internal/dagger"
	"dagger/ship/internal/gate"
	"dagger/ship/internal/provenance"
	"dagger/ship/internal/report"
	"dagger/ship/internal/sbom"
	"dagger/ship/internal/signing"
	"dagger/ship/internal/vulns"
)

// SigningSettings say which key signs the attestations publish attaches.
type SigningSettings struct {
	Key      *dagger.Secret
	Password *dagger.Secret
	KmsKey   string
}

// VerifySettings say what deploy, promote and verify expect of an image's provenance.
type VerifySettings struct {
	Key               *dagger.File
	KmsKey            string
	Builder           string
	AllowLocalBuilder bool
}

// WithSigningKey signs the attestations publish attaches with this key instead of the default.
//
// Either a cosign-format key (cosign generate-key-pair) with its password, for a registry outside AWS, or
// an AWS KMS key. Without this, publish with with-aws signs with alias/ship-<repo>-attestations (the key
// bootstrap creates; <repo> comes from the CI's OIDC token), and publish without AWS or a key attaches
// unsigned attestations, which deploy and promote refuse.
func (m *Ship) WithSigningKey(
	// A cosign-format private key, e.g. file:cosign.key.
	// +optional
	key *dagger.Secret,
	// The key's password, e.g. env:COSIGN_PASSWORD.
	// +optional
	password *dagger.Secret,
	// An AWS KMS key that signs instead (key ID, ARN or alias), e.g. alias/ship-shop-attestations.
	// +optional
	kmsKey string,
) (*Ship, error) {
	if (key == nil) == (kmsKey == "") {
		return nil, errors.New("with-signing-key: give exactly one of --key file:cosign.key (with --password env:COSIGN_PASSWORD) or --kms-key alias/ship-<repo>-attestations")
	}
	c := *m
	c.Signing = &SigningSettings{Key: key, Password: password, KmsKey: kmsKey}
	return &c, nil
}

// WithVerifyKey sets what deploy --image, promote and verify expect of an image's provenance: the key and the builder.
//
// The key is a public key PEM (cosign.pub, for images signed with with-signing-key --key) or an AWS KMS key
// whose public key the environment role may read; with with-aws the default is alias/ship-<repo>-attestations.
// The builder defaults to the repository's own deploy workflow, OWNER/REPO/.github/workflows/deploy.yml@refs/heads/main
// (OWNER/REPO from the CI's OIDC token); an image published outside CI (builder "local") passes only with
// --allow-local-builder.
func (m *Ship) WithVerifyKey(
	// The public key, e.g. file:cosign.pub.
	// +optional
	key *dagger.File,
	// An AWS KMS key whose public key verifies (key ID, ARN or alias).
	// +optional
	kmsKey string,
	// The expected builder id (a job_workflow_ref), e.g. acme/shop/.github/workflows/deploy.yml@refs/heads/main.
	// +optional
	builder string,
	// Also accept images published outside CI (builder "local").
	// +optional
	allowLocalBuilder bool,
) (*Ship, error) {
	if key != nil && kmsKey != "" {
		return nil, errors.New("with-verify-key: give one of --key file:cosign.pub or --kms-key, not both")
	}
	c := *m
	c.Verification = &VerifySettings{Key: key, KmsKey: kmsKey, Builder: builder, AllowLocalBuilder: allowLocalBuilder}
	return &c, nil
}

// ciRepository is OWNER/REPO from the CI's OIDC token, "" without one.
func (m *Ship) ciRepository(ctx context.Context) (string, error) {
	tok, err := m.webIdentity(ctx)
	if err != nil || tok == nil {
		return "", err
	}
	return tok.Claims.Repository, nil
}

// defaultKMSKey is the alias bootstrap gives the attestation key of the CI's repository, "" outside CI.
func (m *Ship) defaultKMSKey(ctx context.Context) (string, error) {
	repo, err := m.ciRepository(ctx)
	if err != nil || repo == "" {
		return "", err
	}
	_, short, _ := strings.Cut(repo, "/")
	return "alias/ship-" + short + "-attestations", nil
}

// signer is the key publish signs with; nil (and why) when there is none.
func (m *Ship) signer(ctx context.Context) (signing.Signer, string, error) {
	s := m.Signing
	if s != nil && s.Key != nil {
		pemData, err := s.Key.Plaintext(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("read with-signing-key --key: %w", err)
		}
		var password string
		if s.Password != nil {
			if password, err = s.Password.Plaintext(ctx); err != nil {
				return nil, "", fmt.Errorf("read with-signing-key --password: %w", err)
			}
		}
		k, err := signing.LoadPrivateKey([]byte(pemData), []byte(strings.TrimRight(password, "\r\n")))
		return k, "", err
	}
	keyID := ""
	if s != nil {
		keyID = s.KmsKey
	} else if m.Aws != nil && m.Registry == nil {
		var err error
		if keyID, err = m.defaultKMSKey(ctx); err != nil {
			return nil, "", err
		}
		if keyID == "" {
			return nil, "with-aws without a CI token names no repository, so no KMS key (give with-signing-key --kms-key alias/ship-<repo>-attestations)", nil
		}
	}
	if keyID == "" {
		return nil, "no signing key (with-signing-key --key file:cosign.key --password env:COSIGN_PASSWORD, or with-aws and the KMS key bootstrap created)", nil
	}
	cfg, err := m.awsConfig(ctx, "signing with KMS key "+keyID, "use with-signing-key --key file:cosign.key")
	if err != nil {
		return nil, "", err
	}
	k, err := signing.NewKMSSigner(ctx, kms.NewFromConfig(cfg), keyID)
	return k, "", err
}

// signStatement signs a statement and attaches the bundle to subject, unless it has one of its predicate type.
func signStatement(ctx context.Context, s signing.Signer, subject name.Digest, predicateType string, statement []byte, opts []remote.Option) (attest.Result, error) {
	if found, err := attest.FindBundles(ctx, subject, predicateType, opts...); err != nil || len(found) > 0 {
		if err != nil {
			return attest.Result{}, err
		}
		return attest.Result{Digest: found[0].Digest.String(), Existing: true}, nil
	}
	bundle, err := signing.SignStatement(ctx, s, statement)
	if err != nil {
		return attest.Result{}, fmt.Errorf("sign the %s statement about %s: %w", predicateType, subject, err)
	}
	return attest.AttachBundle(ctx, subject, predicateType, bundle, time.Now(), opts...)
}

// signSBOM signs the SBOM attached to a platform image (doc, when this run made it; else read back),
// wrapped in a statement about that image. Failing to sign this run's SBOM fails publish; a reused image's
// SBOM that cannot be read back (ECR's build role may not read blobs) stays unsigned, and the line says so.
func signSBOM(ctx context.Context, s signing.Signer, img name.Digest, platform string, doc []byte, opts []remote.Option) (string, error) {
	what := "SBOM bundle " + platform
	if found, err := attest.FindBundles(ctx, img, sbom.PredicateType, opts...); err != nil || len(found) > 0 {
		if err != nil {
			return "", err
		}
		return describe(what, attest.Result{Digest: found[0].Digest.String(), Existing: true}), nil
	}
	if doc == nil {
		var err error
		if doc, err = attest.Read(ctx, img, sbom.MediaType, opts...); err != nil {
			return what + " not attached (the existing SBOM could not be read back): " + err.Error(), nil
		}
	}
	st, err := sbom.Statement(doc, img.Context().Name(), img.DigestStr())
	if err != nil {
		return "", err
	}
	res, err := signStatement(ctx, s, img, sbom.PredicateType, st, opts)
	if err != nil {
		return "", err
	}
	return describe(what, res), nil
}

// provenanceCheck is the gate's outcome for a deploy: the image to deploy (pinned by the verified
// digest), the report's line, and the verified statement for the release record.
type provenanceCheck struct{ Image, Line, Provenance string }

// gateImage runs the provenance gate on the image deploy --image or promote is about to deploy, before
// anything touches the cluster. onAWS is a target inside AWS (an EKS cluster), where --allow-unverified is refused.
func (m *Ship) gateImage(ctx context.Context, image, revision string, onAWS, allowUnverified bool) (provenanceCheck, error) {
	ctx, span := Tracer().Start(ctx, "verify provenance")
	defer span.End()
	ref, err := name.ParseReference(image)
	if err != nil {
		return provenanceCheck{}, fmt.Errorf("--image %q is not an image reference: %v", image, err)
	}
	onAWS = onAWS || isECRHost(ref.Context().RegistryStr())
	if allowUnverified && onAWS {
		return provenanceCheck{}, errors.New("--allow-unverified is only for targets outside AWS (a kubeconfig cluster, an image in another registry): on EKS or ECR, publish with the KMS key and deploy the verified image; nothing was deployed")
	}
	v, err := m.verifyProvenance(ctx, ref, revision)
	if err == nil {
		fmt.Fprintf(os.Stderr, "provenance of %s %s\n", v.Image, v.Summary())
		return provenanceCheck{Image: v.Image, Line: v.Summary(), Provenance: v.Provenance}, nil
	}
	if !allowUnverified {
		// err names the image by digest (or says why it could not look)
		return provenanceCheck{}, fmt.Errorf("refusing to deploy: %w; nothing was deployed", err)
	}
	line := "NOT VERIFIED (--allow-unverified): " + err.Error()
	fmt.Fprintf(os.Stderr, "WARNING: deploying %s with its provenance %s\n", image, line)
	return provenanceCheck{Image: image, Line: line}, nil
}

// verifyProvenance resolves the image to its digest and checks its provenance against the policy.
func (m *Ship) verifyProvenance(ctx context.Context, ref name.Reference, revision string) (gate.Verdict, error) {
	p, err := m.verifyPolicy(ctx, revision)
	if err != nil {
		return gate.Verdict{}, err
	}
	opts, err := m.registryOptions(ctx, ref.Context().RegistryStr())
	if err != nil {
		return gate.Verdict{}, err
	}
	digest, err := resolveDigest(ctx, ref, opts)
	if err != nil {
		return gate.Verdict{}, err
	}
	return gate.Verify(ctx, digest, p, opts...)
}

// resolveDigest pins a reference by digest (the digest in it wins over a tag).
func resolveDigest(ctx context.Context, ref name.Reference, opts []remote.Option) (name.Digest, error) {
	if d, ok := ref.(name.Digest); ok {
		return ref.Context().Digest(d.DigestStr()), nil
	}
	desc, err := remote.Head(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("find %s in its registry: %v", ref, err)
	}
	return ref.Context().Digest(desc.Digest.String()), nil
}

// verifyPolicy is what the image must show: the expected key, the expected builder, the revision.
func (m *Ship) verifyPolicy(ctx context.Context, revision string) (gate.Policy, error) {
	v := m.Verification
	if v == nil {
		v = &VerifySettings{}
	}
	p := gate.Policy{Revision: revision}
	var err error
	switch {
	case v.Key != nil:
		if p.Key, p.KeyName, err = publicKeyFile(ctx, v.Key); err != nil {
			return gate.Policy{}, err
		}
	case v.KmsKey != "" || m.Aws != nil:
		if p.Key, p.KeyName, err = m.kmsPublicKey(ctx, v.KmsKey); err != nil {
			return gate.Policy{}, err
		}
	default:
		return gate.Policy{}, errors.New("no key to verify the provenance with: give with-verify-key --key file:cosign.pub (the public half of with-signing-key's key), or with-aws (the KMS key bootstrap created)")
	}
	repo, err := m.ciRepository(ctx)
	if err != nil {
		return gate.Policy{}, err
	}
	switch {
	case v.Builder != "":
		p.Builders = []string{v.Builder}
	case repo != "":
		p.Builders = []string{repo + "/.github/workflows/deploy.yml@refs/heads/main"}
	}
	if v.AllowLocalBuilder {
		p.Builders = append(p.Builders, provenance.LocalBuilder)
	}
	if len(p.Builders) == 0 {
		return gate.Policy{}, errors.New("no expected builder: outside CI, give with-verify-key --builder OWNER/REPO/.github/workflows/deploy.yml@refs/heads/main, or --allow-local-builder for images published outside CI")
	}
	return p, nil
}

func publicKeyFile(ctx context.Context, f *dagger.File) (*ecdsa.PublicKey, string, error) {
	name, err := f.Name(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("read with-verify-key --key: %w", err)
	}
	data, err := f.Contents(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("read with-verify-key --key %s: %w", name, err)
	}
	pub, err := signing.ParsePublicKeyPEM([]byte(data))
	if err != nil {
		return nil, "", fmt.Errorf("with-verify-key --key %s: %w", name, err)
	}
	return pub, fmt.Sprintf("public key %s (%s)", name, signing.KeyHint(pub)), nil
}

// kmsPublicKey reads the KMS key's public key with the caller's role (environment roles may GetPublicKey).
func (m *Ship) kmsPublicKey(ctx context.Context, keyID string) (*ecdsa.PublicKey, string, error) {
	if keyID == "" {
		var err error
		if keyID, err = m.defaultKMSKey(ctx); err != nil {
			return nil, "", err
		}
		if keyID == "" {
			return nil, "", errors.New("no key to verify the provenance with: with-aws without a CI token names no repository; give with-verify-key --kms-key alias/ship-<repo>-attestations")
		}
	}
	cfg, err := m.awsConfig(ctx, "reading the public key of KMS key "+keyID, "")
	if err != nil {
		return nil, "", err
	}
	pub, err := signing.KMSPublicKey(ctx, kms.NewFromConfig(cfg), keyID)
	if err != nil {
		return nil, "", err
	}
	return pub, "AWS KMS key " + keyID, nil
}

// Verify prints the whole verdict on an image without deploying it: signature, provenance, SBOM and vulnerabilities.
//
// The signature and provenance are checked as deploy and promote check them (with-verify-key, or with-aws
// for the KMS key); the SBOM is the one attached to the platform image; the vulnerabilities are ECR's scan
// at the default threshold (CRITICAL), available with with-aws only. It fails when the provenance would be
// refused, after printing the verdict.
// +cache="never"
func (m *Ship) Verify(
	ctx context.Context,
	// The image: repository:tag, repository@sha256:..., or repository:tag@sha256:... (the digest wins).
	image string,
	// The revision the provenance must name (default: any).
	// +optional
	revision string,
	// The platform whose SBOM to report, for a multi-platform image.
	// +default="linux/amd64"
	platform dagger.Platform,
) (string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", fmt.Errorf("--image %q is not an image reference (repository:tag or repository@sha256:...): %v", image, err)
	}
	opts, err := m.registryOptions(ctx, ref.Context().RegistryStr())
	if err != nil {
		return "", err
	}
	digest, err := resolveDigest(ctx, ref, opts)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## ship verify %s\n\n| Check | Verdict |\n|---|---|\n", digest)
	v, verr := m.verifyProvenance(ctx, digest, revision)
	if verr != nil {
		fmt.Fprintf(&b, "| Signature | REFUSED: %s |\n| Provenance | not trusted (see the signature) |\n", report.Cell(verr.Error()))
	} else {
		fmt.Fprintf(&b, "| Signature | verified with %s |\n", report.Cell(v.Key))
		fmt.Fprintf(&b, "| Provenance | subject %s; builder %s; revision %s; statement %s |\n", digest.DigestStr(), v.Builder, v.Revision, v.Provenance)
	}
	fmt.Fprintf(&b, "| SBOM | %s |\n", report.Cell(m.sbomVerdict(ctx, digest, string(platform), opts)))
	fmt.Fprintf(&b, "| Vulnerabilities | %s |\n", report.Cell(m.vulnVerdict(ctx, digest)))
	if verr != nil {
		fmt.Fprintf(os.Stderr, "\n%s\n", b.String())
		return "", fmt.Errorf("%s would be refused by deploy and promote: %w (the verdict is above)", digest, verr)
	}
	return b.String(), nil
}

// sbomVerdict says whether the platform image has an SBOM, how many components it lists, and whether it is signed.
func (m *Ship) sbomVerdict(ctx context.Context, digest name.Digest, platform string, opts []remote.Option) string {
	ims, err := attest.Resolve(ctx, digest, "", opts...)
	if err != nil {
		return "not checked: " + err.Error()
	}
	img, err := ims.Platform(platform)
	if err != nil {
		return "not checked: " + err.Error()
	}
	at := digest.Context().Digest(img.Digest)
	doc, err := attest.Read(ctx, at, sbom.MediaType, opts...)
	if err != nil {
		return "MISSING: " + err.Error()
	}
	n, err := sbom.Components(doc)
	if err != nil {
		return "UNREADABLE: " + err.Error()
	}
	return fmt.Sprintf("present (%s, %s): %d components; %s", img.Platform, img.Digest, n, m.sbomSignature(ctx, at, opts))
}

// sbomSignature says whether the SBOM's bundle verifies with the expected key.
func (m *Ship) sbomSignature(ctx context.Context, img name.Digest, opts []remote.Option) string {
	bundles, err := attest.ReadBundles(ctx, img, sbom.PredicateType, opts...)
	if err != nil {
		return "signature not checked: " + err.Error()
	}
	if len(bundles) == 0 {
		return "NOT SIGNED"
	}
	p, err := m.verifyPolicy(ctx, "")
	if err != nil {
		return "signature not checked: " + err.Error()
	}
	for _, b := range bundles {
		if _, err := signing.Verify(b, p.Key); err == nil {
			return "signed by " + p.KeyName
		} else if len(bundles) == 1 {
			return "signature REFUSED: " + err.Error()
		}
	}
	return "no signature verifies with " + p.KeyName
}

// vulnVerdict is ECR's scan verdict at the default threshold, or why there is none.
func (m *Ship) vulnVerdict(ctx context.Context, digest name.Digest) string {
	if m.Aws == nil || !isECRHost(digest.Context().RegistryStr()) {
		return "not available without ECR (with-aws and an ECR image): ship reads ECR's scan results"
	}
	img, err := vulns.ParseImage(digest.String(), "")
	if err != nil {
		return "not checked: " + err.Error()
	}
	cfg, err := m.awsConfig(ctx, "the scan report", "")
	if err != nil {
		return "not checked: " + err.Error()
	}
	verdict, err := scanReport(ctx, cfg, img)
	if err != nil {
		return "not available: " + err.Error()
	}
	return strings.TrimSpace(verdict)
}

// previewProvenance signs a provenance statement about the preview's image with a key made for this run,
// and verifies it with the gate's own check before anything is deployed. Preview pushes to no registry, so
// the statement's subject is the digest of the image's OCI archive, and bundle and statement live only in
// memory: the report says so rather than claiming a registry round trip that did not happen.
func (m *Ship) previewProvenance(ctx context.Context, ctr *dagger.Container, revision string) (string, error) {
	ctx, span := Tracer().Start(ctx, "sign and verify the provenance")
	defer span.End()
	digest, err := ctr.AsTarball(dagger.ContainerAsTarballOpts{MediaTypes: dagger.ImageMediaTypesOcimediaTypes}).Digest(ctx)
	if err != nil {
		return "", fmt.Errorf("preview provenance: the image's digest: %v", err)
	}
	base, err := dag.Container().From(m.PythonImage).ImageRef(ctx)
	if err != nil {
		return "", fmt.Errorf("preview provenance: resolve the base image %s: %v", m.PythonImage, err)
	}
	module, err := dag.CurrentModule().Source().Digest(ctx)
	if err != nil {
		return "", fmt.Errorf("preview provenance: ship's own source digest: %v", err)
	}
	st, err := provenance.New(provenance.Build{
		Subjects: map[string]string{"preview image (OCI archive)": digest}, Repository: "preview.local", Revision: revision,
		Platforms: []string{"local"}, Source: provenance.SourceResource("", revision), BaseImage: base,
		Module: provenance.Resource{Name: "ship", Digest: map[string]string{"sha256": strings.TrimPrefix(module, "sha256:")}},
	})
	if err != nil {
		return "", err
	}
	return previewSignAndCheck(ctx, st, digest, revision)
}

// previewSignAndCheck signs the statement with an ephemeral key and checks the bundle as the gate would.
func previewSignAndCheck(ctx context.Context, st *provenance.Statement, digest, revision string) (string, error) {
	doc, err := st.Marshal()
	if err != nil {
		return "", err
	}
	key, err := signing.NewEphemeralSigner()
	if err != nil {
		return "", err
	}
	bundle, err := signing.SignStatement(ctx, key, doc)
	if err != nil {
		return "", err
	}
	p := gate.Policy{Key: key.PublicKey(), KeyName: key.Describe(), Builders: []string{provenance.LocalBuilder}, Revision: revision}
	if _, err := gate.Check(bundle, digest, p); err != nil {
		return "", fmt.Errorf("preview: the provenance it just signed does not verify: %w", err)
	}
	return fmt.Sprintf("SLSA provenance of the image (subject %s, the digest of its OCI archive: preview pushes to no registry), "+
		"signed as a Sigstore bundle with an %s made in the engine for this run, and verified with the deploy gate's own check "+
		"(signature, subject, builder %s, revision %s) before the deploy. The bundle lived in memory only; the key is gone.",
		digest, key.Describe(), provenance.LocalBuilder, revision), nil
}
