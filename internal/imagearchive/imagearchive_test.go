// Tests build real image tarballs with go-containerregistry (docker save
// format, OCI layout, both, multi-platform), tag them, and read them back
// with go-containerregistry: the image must be found by the new tag with
// the same digests, and the OCI index must carry the name annotations.
package imagearchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const localRef = "127.0.0.1:5000/fastapi-app:dev"

func randomImage(t testing.TB, size int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// dockerArchive writes img as `docker save` does, but unnamed (RepoTags empty),
// like an image exported by digest.
func dockerArchive(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest("unnamed/image@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "docker.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tarball.MultiRefWrite(map[name.Reference]v1.Image{ref: img}, f); err != nil {
		t.Fatal(err)
	}
	return path
}

// ociArchive writes an OCI layout holding add's result and tars it, as
// dagger's as-tarball does.
func ociArchive(t testing.TB, add func(layout.Path) error) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := add(p); err != nil {
		t.Fatal(err)
	}
	return tarDir(t, dir)
}

func tarDir(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oci.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func tagFile(t testing.TB, src, ref string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "tagged.tar")
	if err := TagFile(src, dst, ref); err != nil {
		t.Fatalf("TagFile: %v", err)
	}
	return dst
}

// assertSameImage reads the tagged archive by tag and compares digests.
func assertSameImage(t *testing.T, archive, ref string, want v1.Image) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatalf("go-containerregistry cannot find %s in the tagged archive: %v", ref, err)
	}
	for what, pair := range map[string][2]func() (v1.Hash, error){
		"manifest digest": {got.Digest, want.Digest},
		"config digest":   {got.ConfigName, want.ConfigName},
	} {
		g, err1 := pair[0]()
		w, err2 := pair[1]()
		if err1 != nil || err2 != nil || g != w {
			t.Errorf("%s: got %v (%v), want %v (%v)", what, g, err1, w, err2)
		}
	}
	gl, _ := got.Layers()
	wl, _ := want.Layers()
	if len(gl) != len(wl) {
		t.Fatalf("%d layers, want %d", len(gl), len(wl))
	}
	for i := range gl {
		g, _ := gl[i].Digest()
		w, _ := wl[i].Digest()
		if g != w {
			t.Errorf("layer %d digest %v, want %v", i, g, w)
		}
	}
}

// readEntry returns the named file of a tar archive.
func readEntry(t *testing.T, archive, entry string) []byte {
	t.Helper()
	return mustRead(t, filepath.Join(untar(t, archive), entry))
}

func indexAnnotations(t *testing.T, archive string) map[string]string {
	t.Helper()
	var idx v1.IndexManifest
	if err := json.Unmarshal(readEntry(t, archive, "index.json"), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests", len(idx.Manifests))
	}
	return idx.Manifests[0].Annotations
}

func TestTagDockerArchive(t *testing.T) {
	img := randomImage(t, 1024)
	out := tagFile(t, dockerArchive(t, img), localRef)
	assertSameImage(t, out, localRef, img)
	var m tarball.Manifest
	if err := json.Unmarshal(readEntry(t, out, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != localRef {
		t.Errorf("RepoTags = %v, want [%s]", m, localRef)
	}
}

func TestTagOCIArchive(t *testing.T) {
	img := randomImage(t, 1024)
	src := ociArchive(t, func(p layout.Path) error {
		return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.example.keep": "yes"}))
	})
	out := tagFile(t, src, "fastapi-app:dev")
	assertSameImage(t, out, "fastapi-app:dev", img) // through the synthesized manifest.json
	got := indexAnnotations(t, out)
	want := map[string]string{
		"io.containerd.image.name":          "docker.io/library/fastapi-app:dev",
		"org.opencontainers.image.ref.name": "dev",
		"org.example.keep":                  "yes",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got[k], v)
		}
	}
	var m tarball.Manifest
	if err := json.Unmarshal(readEntry(t, out, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	if m[0].RepoTags[0] != "fastapi-app:dev" {
		t.Errorf("RepoTags = %v, want docker's familiar spelling", m[0].RepoTags)
	}
	// The OCI side reads back too, by layout.
	dir := untar(t, out)
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	back, err := ii.Image(d)
	if err != nil {
		t.Fatalf("layout cannot find the image by digest: %v", err)
	}
	if bd, _ := back.Digest(); bd != d {
		t.Errorf("layout digest %v, want %v", bd, d)
	}
}

// TestTagBothFormats covers archives with index.json and manifest.json,
// as docker save (25+) and buildkit's docker exporter write them.
func TestTagBothFormats(t *testing.T) {
	img := randomImage(t, 512)
	oci := ociArchive(t, func(p layout.Path) error { return p.AppendImage(img) })
	first := tagFile(t, oci, "old/name:one") // now has both files
	out := tagFile(t, first, localRef)
	assertSameImage(t, out, localRef, img)
	if got := indexAnnotations(t, out)["io.containerd.image.name"]; got != localRef {
		t.Errorf("containerd name = %q", got)
	}
	if _, err := tarball.ImageFromPath(out, ptr(name.MustParseReference("old/name:one").(name.Tag))); err == nil {
		t.Error("the old tag still resolves")
	}
	if n := strings.Count(string(listNames(t, out)), "manifest.json"); n != 1 {
		t.Errorf("manifest.json appears %d times", n)
	}
}

func TestTagMultiPlatformIndex(t *testing.T) {
	amd, arm := randomImage(t, 256), randomImage(t, 256)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	out := tagFile(t, ociArchive(t, func(p layout.Path) error { return p.AppendIndex(idx) }), localRef)
	got := indexAnnotations(t, out)
	if got["io.containerd.image.name"] != localRef || got["org.opencontainers.image.ref.name"] != "dev" {
		t.Errorf("annotations = %v", got)
	}
	ii, err := layout.ImageIndexFromPath(untar(t, out))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	inner, err := ii.ImageIndex(want)
	if err != nil {
		t.Fatalf("nested index not found by digest: %v", err)
	}
	if m, err := inner.IndexManifest(); err != nil || len(m.Manifests) != 2 {
		t.Errorf("nested index: %v, %v", m, err)
	}
	if bytes.Contains(listNames(t, out), []byte("manifest.json")) {
		t.Error("a multi-platform index has no docker form, yet manifest.json was written")
	}
}

func TestTagGzipInput(t *testing.T) {
	img := randomImage(t, 512)
	src := dockerArchive(t, img)
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzPath := filepath.Join(t.TempDir(), "image.tar.gz")
	if err := os.WriteFile(gzPath, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	assertSameImage(t, tagFile(t, gzPath, localRef), localRef, img)
}

func TestBadRefs(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"", "empty"},
		{" app:dev", "surrounding spaces"},
		{"fastapi-app", "has no tag"},
		{"127.0.0.1:5000/fastapi-app", "has no tag"},
		{"fastapi-app@sha256:" + strings.Repeat("a", 64), "names a digest"},
		{"FastAPI:dev", "lowercase"},
		{"app:bad/tag!", "invalid image reference"},
		{"app:", "must specify a tag"},
	}
	src := dockerArchive(t, randomImage(t, 128))
	for _, tt := range tests {
		var out bytes.Buffer
		in, _ := os.Open(src)
		err := Tag(in, &out, tt.ref)
		in.Close()
		if !errors.Is(err, ErrBadRef) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Tag(%q) = %v, want ErrBadRef containing %q", tt.ref, err, tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("Tag(%q) wrote %d bytes before rejecting the reference", tt.ref, out.Len())
		}
	}
}

func TestRefSpellings(t *testing.T) {
	tests := []struct{ ref, full, familiar string }{
		{"app:dev", "docker.io/library/app:dev", "app:dev"},
		{"docker.io/library/app:dev", "docker.io/library/app:dev", "app:dev"},
		{"team/app:1.2", "docker.io/team/app:1.2", "team/app:1.2"},
		{"localhost:5000/app:dev", "localhost:5000/app:dev", "localhost:5000/app:dev"},
		{"127.0.0.1:5000/a/b:v1", "127.0.0.1:5000/a/b:v1", "127.0.0.1:5000/a/b:v1"},
	}
	for _, tt := range tests {
		n, err := parseRef(tt.ref)
		if err != nil || n.full != tt.full || n.familiar != tt.familiar {
			t.Errorf("parseRef(%q) = %+v, %v; want full %q familiar %q", tt.ref, n, err, tt.full, tt.familiar)
		}
	}
}

func TestRejectsNonImages(t *testing.T) {
	two := ociArchive(t, func(p layout.Path) error {
		if err := p.AppendImage(randomImage(t, 64)); err != nil {
			return err
		}
		return p.AppendImage(randomImage(t, 64))
	})
	tests := []struct {
		name  string
		input []byte
		is    error
		want  string
	}{
		{"empty input", nil, ErrNotImageArchive, "empty"},
		{"not a tar", bytes.Repeat([]byte("garbage!"), 200), ErrNotImageArchive, "reading tar entry 1"},
		{"tar without index files", tarOf(t, map[string]string{"hello.txt": "hi"}), ErrNotImageArchive, "neither index.json"},
		{"index without manifests", tarOf(t, map[string]string{"index.json": `{"schemaVersion":2}`}), ErrNotImageArchive, "no manifests list"},
		{"empty index", tarOf(t, map[string]string{"index.json": `{"schemaVersion":2,"manifests":[]}`}), ErrNotImageArchive, "lists no image"},
		{"broken manifest.json", tarOf(t, map[string]string{"manifest.json": `{"oops"`}), ErrNotImageArchive, "not a JSON list"},
		{"two images", mustRead(t, two), ErrSeveralImages, "lists 2 images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Tag(bytes.NewReader(tt.input), io.Discard, localRef)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
}

func TestTagFileLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "bad.tar")
	if err := os.WriteFile(src, tarOf(t, map[string]string{"hello.txt": "hi"}), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "out.tar")
	if err := TagFile(src, dst, localRef); !errors.Is(err, ErrNotImageArchive) {
		t.Fatalf("err = %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}

// TestTagStreamsLayers tags an archive with a 16 MiB layer and checks the
// heap allocated is a small fraction of it: layers are streamed, not held.
func TestTagStreamsLayers(t *testing.T) {
	const layer = 16 << 20
	big, err := random.Image(layer, 1)
	if err != nil {
		t.Fatal(err)
	}
	src := dockerArchive(t, big)
	dst := filepath.Join(t.TempDir(), "tagged.tar")
	allocated := heapAllocated(func() {
		if err := TagFile(src, dst, localRef); err != nil {
			t.Fatal(err)
		}
	})
	if allocated > layer/8 {
		t.Errorf("tagging allocated %d bytes for a %d-byte layer: it is buffering blobs", allocated, layer)
	}
	t.Logf("allocated %d KiB for a %d MiB layer", allocated>>10, layer>>20)
	assertSameImage(t, dst, localRef, big)
}
