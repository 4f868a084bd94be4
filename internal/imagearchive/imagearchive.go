// Package imagearchive names the image in an image tarball so local
// clusters can load it: `dagger call build ... as-tarball` writes images
// without a name, and `kind load image-archive` / `minikube image load`
// store an unnamed image under nothing the Deployment can refer to.
//
// This file streams the archive through, copying blobs byte-for-byte
// without holding layers in memory, and rewrites only the two small index
// files. It guards against archives that are not images, that hold several
// images (which one would the tag name?), and against unbounded reads of
// the JSON files.
package imagearchive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

var (
	// ErrBadRef: the reference to tag with is not a valid tagged name.
	ErrBadRef = errors.New("invalid image reference")
	// ErrNotImageArchive: the input is not an OCI layout or docker save tarball.
	ErrNotImageArchive = errors.New("not an image archive")
	// ErrSeveralImages: the archive holds more than one image, so a single tag is ambiguous.
	ErrSeveralImages = errors.New("image archive holds several images")
)

const (
	indexFile    = "index.json"
	manifestFile = "manifest.json"
	// maxJSON bounds the files we read into memory; real ones are a few KiB.
	maxJSON = 4 << 20
)

// Tag copies the image tarball in to out with the image named ref: in the
// docker manifest.json RepoTags, and in the OCI index.json annotations
// io.containerd.image.name (full name) and org.opencontainers.image.ref.name
// (the tag). A gzip-compressed archive is accepted and written uncompressed.
// An OCI archive without manifest.json gets one when it holds a single
// image manifest, for tools that only read the docker format. ref is
// checked before anything is written; on any later error out holds a
// partial archive and must be discarded (TagFile does that for you).
func Tag(in io.Reader, out io.Writer, ref string) error {
	n, err := parseRef(ref)
	if err != nil {
		return err
	}
	r, err := decompressed(in)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	s := newScan()
	if err := s.copyEntries(tar.NewReader(r), tw); err != nil {
		return err
	}
	if err := s.writeIndexFiles(tw, n); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish image archive: %w", err)
	}
	return nil
}

// TagFile tags the archive at src into dst, which appears only when
// complete: a failure leaves no partial archive behind.
func TagFile(src, dst, ref string) (err error) {
	if _, err := parseRef(ref); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open image archive: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return fmt.Errorf("create tagged archive next to %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := Tag(bufio.NewReaderSize(in, 256<<10), bw, ref); err != nil {
		return fmt.Errorf("tag %s: %w", src, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// decompressed undoes an outer gzip layer, if any (blobs inside stay as they are).
func decompressed(in io.Reader) (io.Reader, error) {
	br := bufio.NewReader(in)
	magic, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("%w: the input is empty or shorter than a tar header", ErrNotImageArchive)
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: gzip header: %v", ErrNotImageArchive, err)
	}
	return zr, nil
}

// scan is what Tag learns while streaming: the two index files (held back
// and written last) and the small JSON blobs needed to describe an OCI image
// in docker's format.
type scan struct {
	index, manifest       []byte
	indexHdr, manifestHdr *tar.Header
	jsonBlobs             map[string][]byte // "sha256:<hex>" -> manifest/config/index blobs
	files                 map[string]bool   // every regular file name, cleaned
}

func newScan() *scan {
	return &scan{jsonBlobs: map[string][]byte{}, files: map[string]bool{}}
}

func (s *scan) copyEntries(tr *tar.Reader, tw *tar.Writer) error {
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			if entries == 0 {
				return fmt.Errorf("%w: the tar archive is empty", ErrNotImageArchive)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: reading tar entry %d: %v", ErrNotImageArchive, entries+1, err)
		}
		if err := s.copyEntry(hdr, tr, tw); err != nil {
			return err
		}
	}
}

func (s *scan) copyEntry(hdr *tar.Header, tr *tar.Reader, tw *tar.Writer) error {
	name := cleanName(hdr.Name)
	if hdr.Typeflag == tar.TypeReg {
		s.files[name] = true
	}
	switch name {
	case indexFile:
		return s.holdBack(&s.index, &s.indexHdr, hdr, tr)
	case manifestFile:
		return s.holdBack(&s.manifest, &s.manifestHdr, hdr, tr)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write tar header for %s: %w", hdr.Name, err)
	}
	if key, ok := blobKey(name); ok && hdr.Typeflag == tar.TypeReg && hdr.Size <= maxJSON {
		return s.copyMaybeJSON(key, tr, tw, hdr.Name)
	}
	if _, err := io.Copy(tw, tr); err != nil {
		return fmt.Errorf("copy %s: %w", hdr.Name, err)
	}
	return nil
}

func (s *scan) holdBack(dst *[]byte, dstHdr **tar.Header, hdr *tar.Header, tr *tar.Reader) error {
	if *dstHdr != nil {
		return fmt.Errorf("%w: %s appears twice", ErrNotImageArchive, hdr.Name)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size > maxJSON {
		return fmt.Errorf("%w: %s is not a regular file under %d bytes", ErrNotImageArchive, hdr.Name, maxJSON)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrNotImageArchive, hdr.Name, err)
	}
	*dst, *dstHdr = data, hdr
	return nil
}

// copyMaybeJSON copies a small blob and keeps it when it is JSON (a manifest,
// config or index); layers are compressed tars and never start with '{'.
func (s *scan) copyMaybeJSON(key string, tr *tar.Reader, tw *tar.Writer, entry string) error {
	var first [1]byte
	if _, err := io.ReadFull(tr, first[:]); err != nil {
		if err == io.EOF {
			return nil // empty blob
		}
		return fmt.Errorf("copy %s: %w", entry, err)
	}
	if first[0] != '{' {
		if _, err := tw.Write(first[:]); err != nil {
			return fmt.Errorf("copy %s: %w", entry, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("copy %s: %w", entry, err)
		}
		return nil
	}
	rest, err := io.ReadAll(tr)
	if err != nil {
		return fmt.Errorf("copy %s: %w", entry, err)
	}
	data := append(first[:], rest...)
	s.jsonBlobs[key] = data
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("copy %s: %w", entry, err)
	}
	return nil
}

func cleanName(n string) string {
	return path.Clean(strings.TrimPrefix(n, "./"))
}

// blobKey maps "blobs/sha256/<hex>" to "sha256:<hex>".
func blobKey(name string) (string, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "blobs" || parts[1] == "" || parts[2] == "" {
		return "", false
	}
	return parts[1] + ":" + parts[2], true
}

// blobPath maps "sha256:<hex>" to "blobs/sha256/<hex>".
func blobPath(digest string) string {
	return "blobs/" + strings.Replace(digest, ":", "/", 1)
}
