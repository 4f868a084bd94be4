// Image references are parsed here, before they reach kustomize, so a typo
// fails with a message that says what to fix instead of rendering a
// manifest that can never pull.
package render

import (
	"regexp"
	"strings"
)

// Image is a container image reference split into its parts.
type Image struct {
	Name   string // host[:port]/path
	Tag    string // optional
	Digest string // optional, "sha256:<64 hex>"
}

// String joins the parts back into a reference.
func (i Image) String() string {
	s := i.Name
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

var (
	digestRe    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	tagRe       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hostRe      = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?$`)
	pathPartRe  = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	exampleRefs = "e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/fastapi-app@sha256:<digest>"
)

// ParseImage splits and checks an image reference of the form
// host[:port]/path[:tag][@sha256:<64 hex>]. The registry host is required:
// a bare name would resolve against a default registry nobody chose.
func ParseImage(ref string) (Image, error) {
	if strings.TrimSpace(ref) == "" {
		return Image{}, &ImageError{Ref: ref, Reason: "is empty; pass the pushed image, " + exampleRefs}
	}
	if ref != strings.TrimSpace(ref) || strings.ContainsAny(ref, " \t\r\n") {
		return Image{}, &ImageError{Ref: ref, Reason: "contains whitespace"}
	}
	var img Image
	rest := ref
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		img.Digest = rest[at+1:]
		rest = rest[:at]
		if !digestRe.MatchString(img.Digest) {
			return Image{}, &ImageError{Ref: ref, Reason: "has a bad digest; it must be sha256: followed by 64 lowercase hex characters"}
		}
	}
	if colon := strings.LastIndexByte(rest, ':'); colon > strings.LastIndexByte(rest, '/') {
		img.Tag = rest[colon+1:]
		rest = rest[:colon]
		if !tagRe.MatchString(img.Tag) {
			return Image{}, &ImageError{Ref: ref, Reason: "has a bad tag; tags are up to 128 of [A-Za-z0-9_.-] and may not start with '.' or '-'"}
		}
	}
	img.Name = rest
	if err := checkName(ref, rest); err != nil {
		return Image{}, err
	}
	return img, nil
}

// checkName requires a registry host and lowercase repository path.
func checkName(ref, name string) error {
	host, path, _ := strings.Cut(name, "/")
	if !HasRegistryHost(name) {
		return &ImageError{Ref: ref, Reason: "has no registry host; pass the full reference, " + exampleRefs +
			" (an image loaded into a local cluster can be named localhost/fastapi-app:<tag>)"}
	}
	if !hostRe.MatchString(host) {
		return &ImageError{Ref: ref, Reason: "has a bad registry host " + quote(host)}
	}
	for _, part := range strings.Split(path, "/") {
		if !pathPartRe.MatchString(part) {
			return &ImageError{Ref: ref, Reason: "has a bad repository path " + quote(path) + "; use lowercase letters, digits and single separators (. _ -)"}
		}
	}
	return nil
}

// HasRegistryHost reports whether an image name (without tag or digest)
// starts with a registry host, as a container runtime decides it: a first
// path component with a '.' or ':', or "localhost". A name without one is
// either a logical name for render to replace or a Docker Hub image.
func HasRegistryHost(name string) bool {
	host, _, ok := strings.Cut(name, "/")
	return ok && (strings.ContainsAny(host, ".:") || host == "localhost")
}

// SplitImage splits any image reference into name, tag and digest without
// judging it: manifests may hold what ParseImage would refuse.
func SplitImage(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}
