// This file finds the images of a pushed reference: the root (an index for a multi-platform image, or a
// single manifest) and each platform's manifest, since the SBOM describes one platform's filesystem and
// scanners look it up on the platform image they resolve to.
package attest

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Image is one manifest of a pushed reference.
type Image struct {
	Digest   string // sha256:...
	Platform string // os/arch[/variant]; "" for an index
}

// Images is the root and its platform images. For a single-platform manifest, Platforms holds the root.
type Images struct {
	Root      Image
	Index     bool
	Platforms []Image
}

// Resolve reads the root manifest at ref (repository@sha256:...) and lists its platform images. An index
// entry without a platform, or for unknown/unknown (BuildKit's own attestation manifests), is not an image.
// single is the platform of a root that is a lone manifest, when the caller knows it (publish built it):
// otherwise it is read from the image config, a blob read that ECR's push-only build role may not do.
func Resolve(ctx context.Context, ref name.Digest, single string, opts ...remote.Option) (Images, error) {
	opts = append(opts, remote.WithContext(ctx))
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return Images{}, fmt.Errorf("attest: read %s: %w", ref, err)
	}
	out := Images{Root: Image{Digest: desc.Digest.String()}}
	if !desc.MediaType.IsIndex() && single != "" {
		out.Root.Platform = single
		out.Platforms = []Image{out.Root}
		return out, nil
	}
	if !desc.MediaType.IsIndex() {
		cfg, err := desc.Image()
		if err != nil {
			return Images{}, fmt.Errorf("attest: read the image %s: %w", ref, err)
		}
		cf, err := cfg.ConfigFile()
		if err != nil {
			return Images{}, fmt.Errorf("attest: read the config of %s: %w", ref, err)
		}
		out.Root.Platform = cf.Platform().String()
		out.Platforms = []Image{out.Root}
		return out, nil
	}
	out.Index = true
	idx, err := desc.ImageIndex()
	if err != nil {
		return Images{}, fmt.Errorf("attest: read the index %s: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return Images{}, fmt.Errorf("attest: read the index %s: %w", ref, err)
	}
	for _, m := range im.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" || !m.MediaType.IsImage() {
			continue
		}
		out.Platforms = append(out.Platforms, Image{Digest: m.Digest.String(), Platform: m.Platform.String()})
	}
	if len(out.Platforms) == 0 {
		return Images{}, fmt.Errorf("attest: the index %s lists no platform image", ref)
	}
	return out, nil
}

// Platform returns the image of one platform, naming those there are when it is not one of them.
func (im Images) Platform(platform string) (Image, error) {
	var have []string
	for _, p := range im.Platforms {
		if SamePlatform(p.Platform, platform) {
			return p, nil
		}
		have = append(have, p.Platform)
	}
	return Image{}, fmt.Errorf("the image has no %s platform (it has %v): pass --platform with one of them", platform, have)
}

// SamePlatform compares os/arch[/variant] strings, taking arm64 and arm64/v8 as the same platform (BuildKit
// writes the variant, users and Dagger often do not).
func SamePlatform(a, b string) bool { return normPlatform(a) == normPlatform(b) }

func normPlatform(p string) string {
	p = strings.TrimSpace(p)
	if strings.HasSuffix(p, "/arm64/v8") {
		return strings.TrimSuffix(p, "/v8")
	}
	return p
}
