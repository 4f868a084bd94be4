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

func quote(s string) string { return strconv.Quote(s) }
