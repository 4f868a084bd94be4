// Package gate decides whether an image may be deployed: its provenance is signed by the expected key, is
// about exactly the digest being deployed, was made by the expected builder, from the revision being
// deployed. It runs before anything touches a cluster.
//
// It guards against every way an attestation can lie or be missing, and names which one it is: no
// attestation, an unsigned one, one signed by another key, a statement modified after signing, a
// provenance about another digest, one from another repository's or workflow's builder, one of another
// revision. The key is never chosen by what the registry holds: the caller gives it.
package gate

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"dagger/ship/internal/attest"
	"dagger/ship/internal/provenance"
	"dagger/ship/internal/signing"
)

// Refusals; every error of Check and Verify wraps exactly one of them.
var (
	ErrNoAttestation = errors.New("no provenance attestation")
	ErrUnsigned      = errors.New("unsigned provenance")
	ErrOtherKey      = errors.New("provenance signed by another key")
	ErrModified      = errors.New("provenance statement modified after signing")
	ErrMalformed     = errors.New("provenance bundle unreadable")
	ErrOtherDigest   = errors.New("provenance for another digest")
	ErrOtherBuilder  = errors.New("provenance from another builder")
	ErrOtherRevision = errors.New("provenance of another revision")
)

// Policy is what a deployable image's provenance must show.
type Policy struct {
	Key      *ecdsa.PublicKey
	KeyName  string   // how messages name the key, e.g. "AWS KMS key alias/ship-shop-attestations"
	Builders []string // accepted builder ids; provenance.LocalBuilder only when the caller allows it
	Revision string   // the revision being deployed; "" is not checked
}

// Validate refuses a policy that would accept anything.
func (p Policy) Validate() error {
	if p.Key == nil {
		return errors.New("gate: no verification key")
	}
	if len(p.Builders) == 0 {
		return errors.New("gate: no expected builder")
	}
	return nil
}

// Verdict is what a verified provenance says.
type Verdict struct {
	Image      string // the deployed reference, repository@sha256:...
	Provenance string // the verified bundle artifact, repository@sha256:... (the release record names it)
	Key        string
	Builder    string
	Revision   string
	Subjects   []string
}

// Check verifies one bundle against the policy for the image digest (sha256:...), returning the statement.
func Check(bundle []byte, digest string, p Policy) (*provenance.Statement, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	payload, err := signing.Verify(bundle, p.Key)
	switch {
	case errors.Is(err, signing.ErrUnsigned):
		return nil, fmt.Errorf("%w: the bundle carries no signature", ErrUnsigned)
	case errors.Is(err, signing.ErrOtherKey):
		return nil, fmt.Errorf("%w: it does not verify with %s (%v)", ErrOtherKey, p.KeyName, err)
	case errors.Is(err, signing.ErrBadSignature):
		return nil, fmt.Errorf("%w: the signature by %s does not match the statement", ErrModified, p.KeyName)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	st, err := provenance.Parse(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: the signed statement is not SLSA provenance: %v", ErrMalformed, err)
	}
	if !st.HasSubject(digest) {
		return nil, fmt.Errorf("%w: it is about %s, not %s", ErrOtherDigest, strings.Join(subjectDigests(st), ", "), digest)
	}
	if err := checkBuilder(st.Predicate.RunDetails.Builder.ID, p.Builders); err != nil {
		return nil, err
	}
	if got := st.Predicate.BuildDefinition.ExternalParameters.Revision; p.Revision != "" && got != p.Revision {
		return nil, fmt.Errorf("%w: it was built from revision %s, not %s", ErrOtherRevision, got, p.Revision)
	}
	return st, nil
}

// checkBuilder accepts only a listed builder, and says whether another one is of another repository.
func checkBuilder(got string, want []string) error {
	for _, w := range want {
		if got == w {
			return nil
		}
	}
	for _, w := range want {
		if repoOf(w) != "" && repoOf(got) != repoOf(w) {
			return fmt.Errorf("%w: built by %s, a workflow of another repository (expected %s)", ErrOtherBuilder, got, strings.Join(want, " or "))
		}
	}
	return fmt.Errorf("%w: built by %s, expected %s", ErrOtherBuilder, got, strings.Join(want, " or "))
}

// repoOf is OWNER/REPO of a job_workflow_ref (OWNER/REPO/.github/workflows/FILE@REF), "" for another form.
func repoOf(builder string) string {
	repo, _, ok := strings.Cut(builder, "/.github/workflows/")
	if !ok {
		return ""
	}
	return repo
}

func subjectDigests(st *provenance.Statement) []string {
	out := make([]string, 0, len(st.Subject))
	for _, s := range st.Subject {
		out = append(out, "sha256:"+s.Digest["sha256"])
	}
	return out
}

// Verify finds the image's provenance bundles and checks them against the policy. A bundle that passes is
// enough; when none does, the refusal names what failed (a bundle whose signature verified explains more
// than one signed by a stranger). An index whose registry refused referrers (ECR answers 405) carries the
// bundles on its platform images; their statement must still name the index's digest.
func Verify(ctx context.Context, image name.Digest, p Policy, opts ...remote.Option) (Verdict, error) {
	if err := p.Validate(); err != nil {
		return Verdict{}, err
	}
	holders, err := holders(ctx, image, opts...)
	if err != nil {
		return Verdict{}, err
	}
	var firstErr, signedErr error
	for _, h := range holders {
		found, err := attest.FindBundles(ctx, h, provenance.PredicateType, opts...)
		if err != nil {
			return Verdict{}, err
		}
		for _, d := range found {
			ref := image.Context().Digest(d.Digest.String())
			data, err := attest.ReadDocument(ctx, ref, attest.BundleArtifactType, opts...)
			if err != nil {
				return Verdict{}, err
			}
			st, err := Check(data, image.DigestStr(), p)
			if err == nil {
				return verdict(image, ref, p, st), nil
			}
			if firstErr == nil {
				firstErr = err
			}
			if signedErr == nil && !errors.Is(err, ErrOtherKey) && !errors.Is(err, ErrUnsigned) && !errors.Is(err, ErrMalformed) {
				signedErr = err
			}
		}
	}
	switch {
	case signedErr != nil:
		return Verdict{}, fmt.Errorf("%s: %w", image, signedErr)
	case firstErr != nil:
		return Verdict{}, fmt.Errorf("%s: %w", image, firstErr)
	}
	return Verdict{}, missing(ctx, image, holders, opts...)
}

// holders are the manifests whose referrers may hold the provenance: the image, then its platform images.
func holders(ctx context.Context, image name.Digest, opts ...remote.Option) ([]name.Digest, error) {
	ims, err := attest.Resolve(ctx, image, "", opts...)
	if err != nil {
		return nil, err
	}
	out := []name.Digest{image}
	if ims.Index {
		for _, p := range ims.Platforms {
			out = append(out, image.Context().Digest(p.Digest))
		}
	}
	return out, nil
}

// missing tells an image with an unsigned provenance from one with none.
func missing(ctx context.Context, image name.Digest, holders []name.Digest, opts ...remote.Option) error {
	for _, h := range holders {
		found, err := attest.Find(ctx, h, provenance.MediaType, opts...)
		if err != nil {
			return err
		}
		if len(found) > 0 {
			return fmt.Errorf("%s: %w: it carries a provenance statement (%s) but no signed bundle: publish it with a signing key (with-signing-key, or with-aws and the KMS key bootstrap created)", image, ErrUnsigned, found[0].Digest)
		}
	}
	return fmt.Errorf("%s: %w: the image has no signed provenance (and no statement at all): publish it with ship, which attaches and signs one", image, ErrNoAttestation)
}

func verdict(image, bundle name.Digest, p Policy, st *provenance.Statement) Verdict {
	return Verdict{
		Image: image.String(), Provenance: bundle.String(), Key: p.KeyName,
		Builder:  st.Predicate.RunDetails.Builder.ID,
		Revision: st.Predicate.BuildDefinition.ExternalParameters.Revision,
		Subjects: subjectDigests(st),
	}
}

// Summary is the verdict in one line, for reports and the release record.
func (v Verdict) Summary() string {
	return fmt.Sprintf("verified: signed by %s, builder %s, revision %s, statement %s", v.Key, v.Builder, v.Revision, v.Provenance)
}
