// This file attaches and finds signed attestations: Sigstore bundles stored as cosign's bundle
// specification lays them out (specs/BUNDLE_SPEC.md in sigstore/cosign): an OCI 1.1 artifact whose
// artifactType and one layer are application/vnd.dev.sigstore.bundle.v0.3+json, whose subject is the image,
// annotated with the bundle's content (dsse-envelope) and its statement's predicate type. All bundles share
// one artifact type, so it guards against mistaking the SBOM's bundle for the provenance's: a bundle is
// found by its predicate type, read from the manifest when the registry's listing drops annotations.
package attest

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	// BundleArtifactType is the artifact type of a Sigstore bundle v0.3 (the same as signing.BundleMediaType).
	BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// ContentAnnotation says what the bundle holds: dsse-envelope for a signed statement.
	ContentAnnotation = "dev.sigstore.bundle.content"
	// PredicateAnnotation is the predicate type of the statement the bundle signs.
	PredicateAnnotation = "dev.sigstore.bundle.predicateType"
)

// AttachBundle attaches a bundle that signs a statement of predicateType about subject, unless the subject
// already has a bundle of that predicate type.
func AttachBundle(ctx context.Context, subject name.Digest, predicateType string, bundle []byte, created time.Time, opts ...remote.Option) (Result, error) {
	existing, err := FindBundles(ctx, subject, predicateType, opts...)
	if err != nil {
		return Result{}, err
	}
	if len(existing) > 0 {
		return Result{Digest: existing[0].Digest.String(), Existing: true}, nil
	}
	return push(ctx, subject, Attestation{ArtifactType: BundleArtifactType, Data: bundle, Created: created,
		Annotations: map[string]string{ContentAnnotation: "dsse-envelope", PredicateAnnotation: predicateType}}, opts...)
}

// FindBundles lists the subject's bundles that sign a statement of predicateType, newest first.
func FindBundles(ctx context.Context, subject name.Digest, predicateType string, opts ...remote.Option) ([]v1.Descriptor, error) {
	all, err := Find(ctx, subject, BundleArtifactType, opts...)
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, d := range all {
		pt, ok := d.Annotations[PredicateAnnotation]
		if !ok {
			if pt, err = manifestAnnotation(ctx, subject.Context().Digest(d.Digest.String()), PredicateAnnotation, opts...); err != nil {
				return nil, err
			}
		}
		if pt == predicateType {
			out = append(out, d)
		}
	}
	return out, nil
}

// ReadBundles returns the documents of the subject's bundles of predicateType, newest first.
func ReadBundles(ctx context.Context, subject name.Digest, predicateType string, opts ...remote.Option) ([][]byte, error) {
	found, err := FindBundles(ctx, subject, predicateType, opts...)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(found))
	for _, d := range found {
		data, err := readArtifact(ctx, subject.Context().Digest(d.Digest.String()), BundleArtifactType, append(opts, remote.WithContext(ctx))...)
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
	return out, nil
}

func manifestAnnotation(ctx context.Context, ref name.Digest, key string, opts ...remote.Option) (string, error) {
	desc, err := remote.Get(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return "", fmt.Errorf("attest: read the referrer %s: %w", ref, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return "", nil // not an artifact manifest: not a bundle of ours
	}
	return m.Annotations[key], nil
}

// ReadDocument returns the one document an artifact manifest at ref holds, of the artifact type.
func ReadDocument(ctx context.Context, ref name.Digest, artifactType string, opts ...remote.Option) ([]byte, error) {
	return readArtifact(ctx, ref, artifactType, append(opts, remote.WithContext(ctx))...)
}
