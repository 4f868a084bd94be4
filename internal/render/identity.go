// An app's identity in its manifests: the logical image name that render
// replaces with the pushed image, and the app name on ship's ownership
// label. Both used to be our one service's constants; for another team's
// service they are derived from its manifests or given, and checked, so a
// wrong name fails here and says which flag fixes it instead of surfacing
// as a misleading validation finding or as two apps pruning each other.
package render

import (
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
)

// DefaultImageName is the logical image name chosen when several images
// could be the app's and one is named this (our FastAPI service's name).
const DefaultImageName = "fastapi-app"

// NameLabel is the well-known label the app name is taken from.
const NameLabel = "app.kubernetes.io/name"

// Identity names an app inside its manifests.
type Identity struct {
	ImageName string // the logical image name in the manifests that ship replaces with the pushed image
	AppName   string // the value of AppLabel on every rendered object
}

// workloadKinds are the kinds ship rolls out; their NameLabel names the app.
var workloadKinds = []string{"Deployment", "StatefulSet", "DaemonSet"}

// ResolveIdentity returns given with each empty field derived from the
// rendered overlay (before any image is pinned), then checks both:
//   - ImageName: the one container image without a registry host; among
//     several, the one never given a tag or digest, else DefaultImageName if
//     present, else an error listing them that names --image-name.
//   - AppName: the NameLabel of the overlay's Deployments, StatefulSets and
//     DaemonSets, when they agree on one; else an error naming --app-name.
func ResolveIdentity(manifests fs.FS, overlay string, given Identity) (Identity, error) {
	id := given
	if id.ImageName == "" || id.AppName == "" {
		m, err := build(manifests, overlay, types.Kustomization{})
		if err != nil {
			return Identity{}, err
		}
		if id.ImageName == "" {
			if id.ImageName, err = imageNameOf(m, overlay); err != nil {
				return Identity{}, err
			}
		}
		if id.AppName == "" {
			if id.AppName, err = appNameOf(m, overlay); err != nil {
				return Identity{}, err
			}
		}
	}
	if err := checkIdentity(id); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// checkIdentity refuses names kustomize or the API server would mishandle:
// an image name is matched by kustomize as a regular expression, and an app
// name becomes a label value.
func checkIdentity(id Identity) error {
	switch {
	case id.ImageName == "":
		return &IdentityError{Flag: "--image-name", Hint: " <name>",
			Reason: "no logical image name given (the image name in the manifests that ship replaces with the pushed image)"}
	case !validImageName(id.ImageName):
		return &IdentityError{Flag: "--image-name", Hint: " with the name alone, e.g. shop-api",
			Reason: fmt.Sprintf("image name %s is not an image repository name without tag or digest", quote(id.ImageName))}
	case id.AppName == "":
		return &IdentityError{Flag: "--app-name", Hint: " <name>",
			Reason: "no app name given (the value of ship's ownership label " + AppLabel + ")"}
	case len(validation.IsValidLabelValue(id.AppName)) > 0:
		return &IdentityError{Flag: "--app-name", Hint: " with a valid one",
			Reason: fmt.Sprintf("app name %s is not a valid Kubernetes label value: at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit", quote(id.AppName))}
	}
	return nil
}

// validImageName accepts [host[:port]/]path with lowercase path components.
func validImageName(name string) bool {
	parts := strings.Split(name, "/")
	if HasRegistryHost(name) {
		if !hostRe.MatchString(parts[0]) {
			return false
		}
		parts = parts[1:]
	}
	for _, p := range parts {
		if !pathPartRe.MatchString(p) {
			return false
		}
	}
	return true
}

// imageNameOf picks the logical image name from the overlay's images.
func imageNameOf(m resmap.ResMap, overlay string) (string, error) {
	images, err := containerImages(m)
	if err != nil {
		return "", err
	}
	if name, ok := pickImageName(images); ok {
		return name, nil
	}
	if candidates := logicalNames(images, false); len(candidates) > 0 {
		return "", &IdentityError{Overlay: overlay, Flag: "--image-name", Hint: " with one of them",
			Reason: fmt.Sprintf("several container images have no registry host (%s), so which one ship replaces with the pushed image is ambiguous",
				strings.Join(candidates, ", "))}
	}
	if len(images) == 0 {
		return "", &IdentityError{Overlay: overlay, Flag: "--image-name", Hint: " <name>",
			Reason: "no container names an image, so there is no logical image name for ship to replace"}
	}
	return "", &IdentityError{Overlay: overlay, Flag: "--image-name",
		Hint:   " with the image to replace, or name your app's image without a registry host in the manifests (e.g. image: shop-api)",
		Reason: fmt.Sprintf("every container image has a registry host (%s), so none is a logical name for ship to replace", strings.Join(images, ", "))}
}

// pickImageName applies the default rule to a sorted list of images.
func pickImageName(images []string) (string, bool) {
	all := logicalNames(images, false)
	if len(all) == 1 {
		return all[0], true
	}
	if unpinned := logicalNames(images, true); len(unpinned) == 1 {
		return unpinned[0], true
	}
	if slices.Contains(all, DefaultImageName) {
		return DefaultImageName, true
	}
	return "", false
}

// logicalNames lists, sorted, the names of images without a registry host;
// with unpinnedOnly, only names never given a tag or digest (a logical name
// is pinned at render time, not in git; a sidecar such as busybox:1.36 is).
func logicalNames(images []string, unpinnedOnly bool) []string {
	pinned := map[string]bool{}
	for _, ref := range images {
		name, tag, digest := SplitImage(ref)
		if !HasRegistryHost(name) {
			pinned[name] = pinned[name] || tag != "" || digest != ""
		}
	}
	var names []string
	for name, p := range pinned {
		if !unpinnedOnly || !p {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// appNameOf takes the app name from the workloads' NameLabel.
func appNameOf(m resmap.ResMap, overlay string) (string, error) {
	byName := map[string][]string{}
	for _, r := range m.Resources() {
		if !slices.Contains(workloadKinds, r.GetKind()) {
			continue
		}
		if v := r.GetLabels()[NameLabel]; v != "" {
			byName[v] = append(byName[v], objectName(r.GetKind(), r.GetNamespace(), r.GetName()))
		}
	}
	switch len(byName) {
	case 1:
		for name := range byName {
			return name, nil
		}
	case 0:
		return "", &IdentityError{Overlay: overlay, Flag: "--app-name", Hint: " <name>, or add the label",
			Reason: "no Deployment, StatefulSet or DaemonSet has the label " + NameLabel + " in its metadata.labels, so the app name for ship's ownership label " + AppLabel + " is unknown"}
	}
	var found []string
	for name, objs := range byName {
		found = append(found, quote(name)+" on "+strings.Join(objs, ", "))
	}
	sort.Strings(found)
	return "", &IdentityError{Overlay: overlay, Flag: "--app-name", Hint: " <name>",
		Reason: "the workloads name several apps in " + NameLabel + " (" + strings.Join(found, "; ") + "), so the app name for ship's ownership label " + AppLabel + " is ambiguous"}
}

// checkImageReplaced fails when the image transformer matched no container:
// kustomize silently skips a name it never finds, and the overlay would
// then run whatever image the manifests name instead of the pushed one.
func checkImageReplaced(m resmap.ResMap, overlay, imageName string, img Image) error {
	images, err := containerImages(m)
	if err != nil {
		return err
	}
	if slices.Contains(images, pinnedRef(img)) {
		return nil
	}
	suggest, _ := pickImageName(images)
	return &ImageNameError{Overlay: overlay, ImageName: imageName, Images: images, Suggest: suggest}
}

// containerImages lists, sorted and once each, the image of every
// container, init container and ephemeral container in m, wherever in an
// object it sits (as kustomize's image transformer finds them).
func containerImages(m resmap.ResMap) ([]string, error) {
	seen := map[string]bool{}
	for _, r := range m.Resources() {
		obj, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("render: reading %s: %w", objectName(r.GetKind(), r.GetNamespace(), r.GetName()), err)
		}
		walkContainers(obj, func(image string) { seen[image] = true })
	}
	images := make([]string, 0, len(seen))
	for image := range seen {
		images = append(images, image)
	}
	sort.Strings(images)
	return images, nil
}

var containerLists = []string{"containers", "initContainers", "ephemeralContainers"}

func walkContainers(v any, fn func(image string)) {
	switch t := v.(type) {
	case map[string]any:
		for key, child := range t {
			if list, ok := child.([]any); ok && slices.Contains(containerLists, key) {
				for _, c := range list {
					container, _ := c.(map[string]any)
					if image, ok := container["image"].(string); ok && image != "" {
						fn(image)
					}
				}
				continue
			}
			walkContainers(child, fn)
		}
	case []any:
		for _, child := range t {
			walkContainers(child, fn)
		}
	}
}

// objectName names an object as validate's report does: "Kind ns/name".
func objectName(kind, namespace, name string) string {
	if namespace != "" {
		name = namespace + "/" + name
	}
	return kind + " " + name
}
