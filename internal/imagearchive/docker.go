// Synthesis of docker's manifest.json for an OCI archive, so tools that
// only read `docker save` tarballs (older docker load, go-containerregistry's
// tarball package) find the image too. It guards against describing an image
// whose blobs are not in the archive: then no manifest.json is written.
package imagearchive

import (
	"encoding/json"
	"fmt"
)

var imageManifestTypes = map[string]bool{
	"application/vnd.oci.image.manifest.v1+json":           true,
	"application/vnd.docker.distribution.manifest.v2+json": true,
}

// dockerManifestFor returns manifest.json content for the image desc, or
// nil when desc is not a single image manifest (a multi-platform index has
// no docker form) or its blobs are not all in the archive.
func (s *scan) dockerManifestFor(desc descriptor) ([]byte, error) {
	if !imageManifestTypes[desc.MediaType] {
		return nil, nil
	}
	raw, ok := s.jsonBlobs[desc.Digest]
	if !ok {
		return nil, nil
	}
	var m struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: image manifest %s is not valid JSON: %v", ErrNotImageArchive, desc.Digest, err)
	}
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: blobPath(m.Config.Digest), RepoTags: []string{}}
	for _, l := range append([]descriptor{m.Config}, m.Layers...) {
		if !s.files[blobPath(l.Digest)] {
			return nil, nil // e.g. foreign layers left out of the archive
		}
	}
	for _, l := range m.Layers {
		entry.Layers = append(entry.Layers, blobPath(l.Digest))
	}
	out, err := json.Marshal([]any{entry})
	if err != nil {
		return nil, fmt.Errorf("encode manifest.json: %w", err)
	}
	return out, nil
}
