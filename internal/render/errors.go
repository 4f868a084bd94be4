// Typed render errors. Kustomize's own errors are long, nested and name
// in-memory paths; these say which file or input is wrong and what to do,
// and callers can tell the cases apart with errors.As.
package render

import (
	"fmt"
	"strconv"
	"strings"
)

// ImageError reports an unusable image reference.
type ImageError struct {
	Ref    string
	Reason string
}

func (e *ImageError) Error() string {
	return fmt.Sprintf("render: image reference %s %s", quote(e.Ref), e.Reason)
}

// UnknownOverlayError reports an overlay name that does not exist.
type UnknownOverlayError struct {
	Overlay   string
	Available []string
}

func (e *UnknownOverlayError) Error() string {
	return fmt.Sprintf("render: unknown overlay %s; available overlays: %s",
		quote(e.Overlay), strings.Join(e.Available, ", "))
}

// MissingKustomizationError reports a directory kustomize must read that
// has no kustomization file.
type MissingKustomizationError struct {
	Dir string // relative to the manifests root
}

func (e *MissingKustomizationError) Error() string {
	return fmt.Sprintf("render: %s has no kustomization.yaml; add one listing its resources and patches", e.Dir)
}

// YAMLError reports a manifest file that is not valid YAML.
type YAMLError struct {
	File   string // relative to the manifests root
	Line   int    // 0 when unknown
	Detail string
}

func (e *YAMLError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	return fmt.Sprintf("render: %s is not valid YAML: %s", loc, e.Detail)
}

// PatchTargetError reports a patch that matches no object in the overlay.
type PatchTargetError struct {
	Overlay string
	Patch   string // the patch file, or "inline patch #N"
	Target  string // what it was meant to match
}

func (e *PatchTargetError) Error() string {
	return fmt.Sprintf("render: overlay %s: patch %s targets %s, which matches no object; fix the patch's kind/name or target",
		quote(e.Overlay), e.Patch, e.Target)
}

// BuildError is any other kustomize failure, with in-memory paths made
// relative to the manifests root.
type BuildError struct {
	Overlay string
	Detail  string
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("render: overlay %s: kustomize build failed: %s", quote(e.Overlay), e.Detail)
}

// IdentityError reports a logical image name or app name that is missing,
// ambiguous or malformed, naming the flag that sets it.
type IdentityError struct {
	Overlay string // "" when the name was given, not derived from an overlay
	Flag    string // --image-name or --app-name
	Reason  string // what is missing, ambiguous or malformed
	Hint    string // what to pass with the flag, e.g. " <name>"
}

func (e *IdentityError) Error() string {
	loc := ""
	if e.Overlay != "" {
		loc = "overlay " + quote(e.Overlay) + ": "
	}
	return fmt.Sprintf("render: %s%s; pass %s%s", loc, e.Reason, e.Flag, e.Hint)
}

// ImageNameError reports that no container image in the rendered overlay is
// named the logical image name, so the pushed image would replace nothing.
type ImageNameError struct {
	Overlay   string
	ImageName string   // the logical name ship replaces
	Images    []string // every container image the rendered overlay uses, sorted
	Suggest   string   // the one image name without a registry host, if there is one
}

func (e *ImageNameError) Error() string {
	msg := fmt.Sprintf("render: overlay %s: no container image is named %s, the logical image name ship replaces with the pushed image; ",
		quote(e.Overlay), quote(e.ImageName))
	switch {
	case len(e.Images) == 0:
		return msg + "the manifests name no container image at all; add the workload that runs your app"
	case e.Suggest != "":
		return msg + "the manifests use " + strings.Join(e.Images, ", ") + "; pass --image-name " + e.Suggest
	default:
		return msg + "the manifests use " + strings.Join(e.Images, ", ") + "; pass --image-name with the name they give your app's image"
	}
}

func quote(s string) string { return strconv.Quote(s) }
