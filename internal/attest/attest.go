// Package attest attaches attestations (an SBOM, a provenance statement) to a pushed image as OCI 1.1
// referrers, and reads them back. Dagger's publish cannot attach them, so ship pushes them itself with the
// registry credentials it already holds.
//
// It guards three things. Attaching is idempotent: an image that already has an attestation of a kind gets
// no second one, so re-running a publish never piles up duplicates. Registries without the referrers API
// (Debian's docker-registry 2.8, older Harbor) are served by the referrers tag schema (a sha256-<hex> index
// tag), which go-containerregistry maintains on push and reads on listing. And the artifacts keep to what
// ECR accepts: no ';' in media types and the OCI empty descriptor ("{}", 2 bytes) as config, never a
// zero-size blob.
package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// emptyMediaType and emptyJSON are the OCI empty descriptor: the config of an artifact that has none.
	emptyMediaType = types.MediaType("application/vnd.oci.empty.v1+json")
	emptyJSON      = "{}"
	// CreatedAnnotation is the standard OCI annotation that dates each artifact.
	CreatedAnnotation = "org.opencontainers.image.created"
	// maxArtifact bounds what is read back: an SBOM of a large image is a few megabytes.
	maxArtifact = 64 << 20
)

// Attestation is one document to attach.
type Attestation struct {
	ArtifactType string // e.g. application/vnd.cyclonedx+json; also the layer's media type
	Data         []byte
	Created      time.Time
	Annotations  map[string]string // on the artifact manifest, beside the created date
}

// Result says what Attach did.
type Result struct {
	Digest   string // the artifact manifest's digest (the existing one when nothing was pushed)
	Existing bool   // the subject already had an attestation of this type: nothing was pushed
}

// Attach pushes the attestation as an artifact whose subject is the image at subject (repository@sha256:...),
// unless the subject already has a referrer of the same artifact type.
func Attach(ctx context.Context, subject name.Digest, a Attestation, opts ...remote.Option) (Result, error) {
	opts = append(opts, remote.WithContext(ctx))
	existing, err := Find(ctx, subject, a.ArtifactType, opts...)
	if err != nil {
		return Result{}, err
	}
	if len(existing) > 0 {
		return Result{Digest: existing[0].Digest.String(), Existing: true}, nil
	}
	return push(ctx, subject, a, opts...)
}

// push writes the artifact's blobs and its manifest, whose subject is the image at subject.
func push(ctx context.Context, subject name.Digest, a Attestation, opts ...remote.Option) (Result, error) {
	opts = append(opts, remote.WithContext(ctx))
	sub, err := remote.Head(subject, opts...)
	if err != nil {
		return Result{}, fmt.Errorf("attest: the image %s is not in the registry: %w", subject, err)
	}
	repo := subject.Context()
	config := static.NewLayer([]byte(emptyJSON), emptyMediaType)
	layer := static.NewLayer(a.Data, types.MediaType(a.ArtifactType))
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return Result{}, fmt.Errorf("attest: push the %s blob to %s: %w", a.ArtifactType, repo, err)
		}
	}
	raw, err := artifactManifest(a, config, layer, sub)
	if err != nil {
		return Result{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return Result{}, err
	}
	// remote.Put of a manifest with a subject also updates the referrers tag on registries without the API.
	if err := remote.Put(repo.Digest(h.String()), rawManifest(raw), opts...); err != nil {
		return Result{}, fmt.Errorf("attest: push the %s artifact for %s: %w", a.ArtifactType, subject, err)
	}
	return Result{Digest: h.String()}, nil
}

// artifactManifest is the OCI 1.1 image manifest of an artifact: artifactType, empty config, one layer, subject.
func artifactManifest(a Attestation, config, layer v1.Layer, subject *v1.Descriptor) ([]byte, error) {
	desc := func(l v1.Layer) (v1.Descriptor, error) {
		d, err := l.Digest()
		if err != nil {
			return v1.Descriptor{}, err
		}
		size, err := l.Size()
		if err != nil {
			return v1.Descriptor{}, err
		}
		mt, err := l.MediaType()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: size}, err
	}
	cd, err := desc(config)
	if err != nil {
		return nil, fmt.Errorf("attest: describe the config: %w", err)
	}
	ld, err := desc(layer)
	if err != nil {
		return nil, fmt.Errorf("attest: describe the layer: %w", err)
	}
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: a.ArtifactType,
		Config: cd, Layers: []v1.Descriptor{ld},
		Subject: &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	for k, v := range a.Annotations {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[k] = v
	}
	if !a.Created.IsZero() {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[CreatedAnnotation] = a.Created.UTC().Format(time.RFC3339)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("attest: encode the artifact manifest: %w", err)
	}
	return raw, nil
}

// rawManifest is a manifest remote.Put sends as it is.
type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// Find lists the subject's referrers of one artifact type, newest first (by their created annotation).
// A registry that reports an artifact's config media type instead of its artifactType (go-containerregistry's
// own in-memory registry does) is answered by reading those manifests: the listing is not filtered by type
// on the way in, which would drop them.
func Find(ctx context.Context, subject name.Digest, artifactType string, opts ...remote.Option) ([]v1.Descriptor, error) {
	opts = append(opts, remote.WithContext(ctx))
	idx, err := remote.Referrers(subject, opts...)
	if err != nil {
		return nil, fmt.Errorf("attest: list the referrers of %s: %w", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("attest: read the referrers of %s: %w", subject, err)
	}
	var out []v1.Descriptor
	for _, d := range im.Manifests {
		if d.ArtifactType == string(emptyMediaType) || d.ArtifactType == "" {
			if d.ArtifactType, err = manifestArtifactType(subject.Context().Digest(d.Digest.String()), opts...); err != nil {
				return nil, err
			}
		}
		if d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Annotations[CreatedAnnotation] > out[j].Annotations[CreatedAnnotation]
	})
	return out, nil
}

// manifestArtifactType reads a referrer's artifactType from its manifest.
func manifestArtifactType(ref name.Digest, opts ...remote.Option) (string, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("attest: read the referrer %s: %w", ref, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return "", nil // an index or something else: not an attestation of ours
	}
	return m.ArtifactType, nil
}

// Read returns the document of the subject's newest attestation of the artifact type, or a
// *MissingError when it has none.
func Read(ctx context.Context, subject name.Digest, artifactType string, opts ...remote.Option) ([]byte, error) {
	found, err := Find(ctx, subject, artifactType, opts...)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, &MissingError{Subject: subject.String(), ArtifactType: artifactType}
	}
	return readArtifact(ctx, subject.Context().Digest(found[0].Digest.String()), artifactType, append(opts, remote.WithContext(ctx))...)
}

// readArtifact reads the one layer of an artifact manifest.
func readArtifact(ctx context.Context, ref name.Digest, artifactType string, opts ...remote.Option) ([]byte, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("attest: fetch the %s artifact %s: %w", artifactType, ref, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("attest: the artifact %s is not an image manifest: %w", ref, err)
	}
	if len(m.Layers) != 1 || string(m.Layers[0].MediaType) != artifactType {
		return nil, fmt.Errorf("attest: the artifact %s should hold one %s layer, it holds %d layers", ref, artifactType, len(m.Layers))
	}
	l, err := remote.Layer(ref.Context().Digest(m.Layers[0].Digest.String()), opts...)
	if err != nil {
		return nil, fmt.Errorf("attest: fetch the %s document: %w", artifactType, err)
	}
	rc, err := l.Compressed() // the blob as stored: attestations are not compressed
	if err != nil {
		return nil, fmt.Errorf("attest: fetch the %s document: %w", artifactType, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxArtifact+1))
	if err != nil {
		return nil, fmt.Errorf("attest: read the %s document: %w", artifactType, err)
	}
	if len(data) > maxArtifact {
		return nil, fmt.Errorf("attest: the %s document of %s is larger than %d bytes", artifactType, ref, maxArtifact)
	}
	return data, nil
}

// MissingError is an image without an attestation of a type.
type MissingError struct{ Subject, ArtifactType string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s has no %s attestation: publish attaches one (an image published before ship attached them has none)", e.Subject, e.ArtifactType)
}

// IsMethodNotAllowed tells whether the registry refused a push with 405: ECR answers so to a referrer whose
// subject is an image index (aws/containers-roadmap#2783), so the caller can fall back to the platform
// images instead of failing a publish whose image is already pushed.
func IsMethodNotAllowed(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusMethodNotAllowed
}
