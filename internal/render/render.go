// Package render turns the kustomize tree in k8s/ into the exact manifests a
// deploy applies, in process. It guards against the classic pipeline's
// failure modes: sed-ing an image into YAML, shelling out to a kustomize of
// unknown version, and applying objects the pipeline cannot later find to
// prune.
package render

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// AppImage is the logical image name used in k8s/base.
const AppImage = "fastapi-app"

// Labels added to every rendered object so a deploy can prune only what it owns.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "ship"
	OverlayLabel   = "ship/overlay"
)

// In-memory layout: the manifests under manifestsRoot, the generated
// wrapper kustomization beside them.
const (
	manifestsRoot = "/k8s"
	wrapperDir    = "/ship-render"
)

// Options selects what to render.
type Options struct {
	Overlay string // a directory name under overlays/
	Image   string // host[:port]/path[:tag][@sha256:...]; the digest wins over the tag
}

var overlayNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Overlays lists overlay names found under overlays/ in manifests (sorted).
func Overlays(manifests fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(manifests, "overlays")
	if err != nil {
		return nil, fmt.Errorf("render: reading overlays/ in the manifests: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Render renders overlays/<Overlay> of manifests (an fs.FS rooted at the k8s
// dir) with AppImage pinned to opts.Image by kustomize's image transformer,
// and the ownership labels added to every object's metadata.
func Render(manifests fs.FS, opts Options) ([]byte, error) {
	img, err := imageForRender(opts.Image)
	if err != nil {
		return nil, err
	}
	overlayDir, err := checkOverlay(manifests, opts.Overlay)
	if err != nil {
		return nil, err
	}
	if err := checkNoRemote(manifests, opts.Overlay); err != nil {
		return nil, err
	}
	mem, err := loadMemFS(manifests)
	if err != nil {
		return nil, err
	}
	if err := writeWrapper(mem, opts.Overlay, img); err != nil {
		return nil, err
	}
	m, err := krusty.MakeKustomizer(kustomizerOptions()).Run(mem, wrapperDir)
	if err != nil {
		return nil, explain(manifests, opts.Overlay, err)
	}
	if err := checkPatchTargets(manifests, overlayDir, opts.Overlay, m); err != nil {
		return nil, err
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("render: overlay %q: encoding YAML: %w", opts.Overlay, err)
	}
	return out, nil
}

func kustomizerOptions() *krusty.Options {
	o := krusty.MakeDefaultOptions()
	// Legacy order puts namespaced dependencies (Services, ConfigMaps) before
	// workloads, as kubectl kustomize does; it is deterministic.
	o.Reorder = krusty.ReorderOptionLegacy
	o.PluginConfig = types.DisabledPluginConfig()
	return o
}

// imageForRender parses the image and insists on a tag or digest: an
// unpinned name means ":latest", which no environment should run.
func imageForRender(ref string) (Image, error) {
	img, err := ParseImage(ref)
	if err != nil {
		return Image{}, err
	}
	if img.Tag == "" && img.Digest == "" {
		return Image{}, &ImageError{Ref: ref, Reason: "has neither a tag nor a digest; pin it, " + exampleRefs}
	}
	return img, nil
}

// checkOverlay makes sure the overlay exists and has a kustomization file,
// returning its directory inside manifests.
func checkOverlay(manifests fs.FS, overlay string) (string, error) {
	available, err := Overlays(manifests)
	if err != nil {
		return "", err
	}
	if !overlayNameRe.MatchString(overlay) || !contains(available, overlay) {
		return "", &UnknownOverlayError{Overlay: overlay, Available: available}
	}
	dir := path.Join("overlays", overlay)
	if _, err := kustomizationFile(manifests, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// kustomizationFile returns the path of dir's kustomization file.
func kustomizationFile(manifests fs.FS, dir string) (string, error) {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		p := path.Join(dir, name)
		if st, err := fs.Stat(manifests, p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", &MissingKustomizationError{Dir: dir}
}

// writeWrapper generates the kustomization that pins the image and adds
// the ownership labels, with the overlay as its only resource.
func writeWrapper(mem filesys.FileSystem, overlay string, img Image) error {
	entry := types.Image{Name: AppImage, NewName: img.Name}
	if img.Digest != "" {
		entry.Digest = img.Digest
	} else {
		entry.NewTag = img.Tag
	}
	k := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{path.Join("..", manifestsRoot[1:], "overlays", overlay)},
		Images:    []types.Image{entry},
		Labels: []types.Label{{
			Pairs: map[string]string{ManagedByLabel: ManagedByValue, OverlayLabel: overlay},
		}},
	}
	data, err := yaml.Marshal(k)
	if err != nil {
		return fmt.Errorf("render: encoding the wrapper kustomization: %w", err)
	}
	if err := mem.MkdirAll(wrapperDir); err != nil {
		return fmt.Errorf("render: in-memory filesystem: %w", err)
	}
	if err := mem.WriteFile(path.Join(wrapperDir, "kustomization.yaml"), data); err != nil {
		return fmt.Errorf("render: in-memory filesystem: %w", err)
	}
	return nil
}

// loadMemFS copies manifests into an in-memory filesystem under manifestsRoot.
func loadMemFS(manifests fs.FS) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(manifests, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := path.Join(manifestsRoot, p)
		if d.IsDir() {
			return mem.MkdirAll(dst)
		}
		data, err := fs.ReadFile(manifests, p)
		if err != nil {
			return err
		}
		return mem.WriteFile(dst, data)
	})
	if err != nil {
		return nil, fmt.Errorf("render: reading the manifests: %w", err)
	}
	return mem, nil
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}
