// Package render turns a service's kustomize tree (ours is k8s/) into the
// exact manifests a deploy applies, in process. It guards against the
// classic pipeline's failure modes: sed-ing an image into YAML, shelling out
// to a kustomize of unknown version, and applying objects the pipeline
// cannot later find to prune.
package render

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Labels added to every rendered object so a deploy can prune only what it
// owns: objects of its own app and overlay, never another app's in a shared
// namespace.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "ship"
	OverlayLabel   = "ship/overlay"
	AppLabel       = "ship/app"
)

// In-memory layout: the manifests under manifestsRoot, the generated
// wrapper kustomization beside them.
const (
	manifestsRoot = "/k8s"
	wrapperDir    = "/ship-render"
)

// Options selects what to render.
type Options struct {
	Overlay   string // a directory name under overlays/
	Image     string // host[:port]/path[:tag][@sha256:...]; the digest wins over the tag
	ImageName string // the logical image name in the manifests that Image replaces (see ResolveIdentity)
	AppName   string // the value of AppLabel on every object; a valid label value (see ResolveIdentity)
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
// dir) with opts.ImageName pinned to opts.Image by kustomize's image
// transformer, and the ownership labels added to every object's metadata.
// It fails when no container image is named opts.ImageName.
func Render(manifests fs.FS, opts Options) ([]byte, error) {
	img, err := imageForRender(opts.Image)
	if err != nil {
		return nil, err
	}
	if err := checkIdentity(Identity{ImageName: opts.ImageName, AppName: opts.AppName}); err != nil {
		return nil, err
	}
	m, err := build(manifests, opts.Overlay, types.Kustomization{
		Images: []types.Image{imageEntry(opts.ImageName, img)},
		Labels: []types.Label{{Pairs: map[string]string{
			ManagedByLabel: ManagedByValue, OverlayLabel: opts.Overlay, AppLabel: opts.AppName,
		}}},
	})
	if err != nil {
		return nil, err
	}
	if err := checkImageReplaced(m, opts.Overlay, opts.ImageName, img); err != nil {
		return nil, err
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("render: overlay %q: encoding YAML: %w", opts.Overlay, err)
	}
	return out, nil
}

// build runs kustomize on the overlay through the wrapper kustomization k
// (its only resource is the overlay), with every check a render makes.
func build(manifests fs.FS, overlay string, k types.Kustomization) (resmap.ResMap, error) {
	overlayDir, err := checkOverlay(manifests, overlay)
	if err != nil {
		return nil, err
	}
	if err := checkNoRemote(manifests, overlay); err != nil {
		return nil, err
	}
	mem, err := loadMemFS(manifests)
	if err != nil {
		return nil, err
	}
	k.Resources = []string{path.Join("..", manifestsRoot[1:], "overlays", overlay)}
	if err := writeWrapper(mem, k); err != nil {
		return nil, err
	}
	m, err := krusty.MakeKustomizer(kustomizerOptions()).Run(mem, wrapperDir)
	if err != nil {
		return nil, explain(manifests, overlay, err)
	}
	if err := checkPatchTargets(manifests, overlayDir, overlay, m); err != nil {
		return nil, err
	}
	return m, nil
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

// imageEntry pins the logical name to img; with a digest, the digest alone.
func imageEntry(logical string, img Image) types.Image {
	entry := types.Image{Name: logical, NewName: img.Name}
	if img.Digest != "" {
		entry.Digest = img.Digest
	} else {
		entry.NewTag = img.Tag
	}
	return entry
}

// pinnedRef is the reference imageEntry makes kustomize write.
func pinnedRef(img Image) string {
	if img.Digest != "" {
		return img.Name + "@" + img.Digest
	}
	return img.Name + ":" + img.Tag
}

// writeWrapper writes the generated kustomization k into the in-memory tree.
func writeWrapper(mem filesys.FileSystem, k types.Kustomization) error {
	k.TypeMeta = types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind}
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
