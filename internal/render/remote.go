// Kustomize fetches remote bases (git URLs) by running git. A render must be
// hermetic and never shell out, so remote references are refused up front.
package render

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// checkNoRemote refuses any kustomization in manifests that names a remote
// resource or component.
func checkNoRemote(manifests fs.FS, overlay string) error {
	return fs.WalkDir(manifests, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		k, err := readKustomization(manifests, p)
		if err != nil {
			return nil // not a kustomization dir, or reported when kustomize loads it
		}
		for _, ref := range append(append([]string{}, k.Resources...), k.Components...) {
			if isRemote(manifests, p, ref) {
				return &BuildError{Overlay: overlay, Detail: fmt.Sprintf(
					"%s names the remote resource %s; renders are hermetic, so vendor it into the manifests tree",
					path.Join(p, "kustomization.yaml"), quote(ref))}
			}
		}
		return nil
	})
}

// isRemote matches what kustomize would try to clone: URLs, scp-style git
// addresses, and host/path references that are not local paths.
func isRemote(manifests fs.FS, dir, ref string) bool {
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") {
		return true
	}
	first, rest, hasPath := strings.Cut(ref, "/")
	if !hasPath || rest == "" || first == "." || first == ".." || !strings.Contains(first, ".") {
		return false
	}
	_, err := fs.Stat(manifests, path.Join(dir, ref))
	return err != nil
}
