// Rewriting of the two files that name images: OCI index.json and docker
// manifest.json. Unknown fields are kept as they are, so a newer format
// revision survives the round trip; only the name fields change.
package imagearchive

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"time"
)

const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

func (s *scan) writeIndexFiles(tw *tar.Writer, n imageName) error {
	if s.indexHdr == nil && s.manifestHdr == nil {
		return fmt.Errorf("%w: it has neither index.json (OCI layout) nor manifest.json (docker save); "+
			"export the image with dagger's as-tarball or docker save", ErrNotImageArchive)
	}
	if s.indexHdr != nil {
		idx, desc, err := renameIndex(s.index, n)
		if err != nil {
			return err
		}
		if err := writeFile(tw, s.indexHdr, idx); err != nil {
			return err
		}
		if s.manifestHdr == nil {
			if s.manifest, err = s.dockerManifestFor(desc); err != nil {
				return err
			}
			if s.manifest != nil {
				s.manifestHdr = &tar.Header{Name: manifestFile, Mode: 0o644, ModTime: s.indexHdr.ModTime}
			}
		}
	}
	if s.manifestHdr == nil {
		return nil
	}
	m, err := renameManifest(s.manifest, n)
	if err != nil {
		return err
	}
	return writeFile(tw, s.manifestHdr, m)
}

func writeFile(tw *tar.Writer, orig *tar.Header, data []byte) error {
	hdr := &tar.Header{
		Name: orig.Name, Mode: orig.Mode, ModTime: orig.ModTime, Uid: orig.Uid, Gid: orig.Gid,
		Uname: orig.Uname, Gname: orig.Gname, Typeflag: tar.TypeReg, Size: int64(len(data)), Format: orig.Format,
	}
	if hdr.ModTime.IsZero() {
		hdr.ModTime = time.Unix(0, 0)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", orig.Name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", orig.Name, err)
	}
	return nil
}

// descriptor is the part of an OCI descriptor we read.
type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// renameIndex sets the name annotations on the single image of index.json
// and returns that image's descriptor.
func renameIndex(data []byte, n imageName) ([]byte, descriptor, error) {
	var idx map[string]json.RawMessage
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, descriptor{}, fmt.Errorf("%w: index.json is not a JSON object: %v", ErrNotImageArchive, err)
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(idx["manifests"], &entries); err != nil {
		return nil, descriptor{}, fmt.Errorf("%w: index.json has no manifests list: %v", ErrNotImageArchive, err)
	}
	if len(entries) != 1 {
		return nil, descriptor{}, severalImages("index.json", len(entries))
	}
	entry := entries[0]
	var desc descriptor
	if err := remarshal(entry, &desc); err != nil || desc.Digest == "" {
		return nil, descriptor{}, fmt.Errorf("%w: index.json's manifest entry has no digest", ErrNotImageArchive)
	}
	annotations := map[string]string{}
	if raw, ok := entry["annotations"]; ok {
		if err := json.Unmarshal(raw, &annotations); err != nil {
			return nil, descriptor{}, fmt.Errorf("%w: index.json annotations are not a string map: %v", ErrNotImageArchive, err)
		}
	}
	annotations[annotationContainerdName] = n.full
	annotations[annotationRefName] = n.tag
	if err := setField(entry, "annotations", annotations); err != nil {
		return nil, descriptor{}, err
	}
	if err := setField(idx, "manifests", entries); err != nil {
		return nil, descriptor{}, err
	}
	out, err := json.Marshal(idx)
	if err != nil {
		return nil, descriptor{}, fmt.Errorf("encode index.json: %w", err)
	}
	return out, desc, nil
}

// renameManifest sets RepoTags of the single image in docker's manifest.json.
func renameManifest(data []byte, n imageName) ([]byte, error) {
	var images []map[string]json.RawMessage
	if err := json.Unmarshal(data, &images); err != nil {
		return nil, fmt.Errorf("%w: manifest.json is not a JSON list: %v", ErrNotImageArchive, err)
	}
	if len(images) != 1 {
		return nil, severalImages("manifest.json", len(images))
	}
	if err := setField(images[0], "RepoTags", []string{n.familiar}); err != nil {
		return nil, err
	}
	out, err := json.Marshal(images)
	if err != nil {
		return nil, fmt.Errorf("encode manifest.json: %w", err)
	}
	return out, nil
}

func severalImages(file string, count int) error {
	if count == 0 {
		return fmt.Errorf("%w: %s lists no image", ErrNotImageArchive, file)
	}
	return fmt.Errorf("%w: %s lists %d images and a tag names one; export a single image (one platform, or one multi-platform index)",
		ErrSeveralImages, file, count)
}

func setField(obj map[string]json.RawMessage, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	obj[key] = raw
	return nil
}

func remarshal(from, to any) error {
	raw, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, to)
}
