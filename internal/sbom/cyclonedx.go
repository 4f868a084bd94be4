// Package sbom makes a CycloneDX software bill of materials of a built image from what is installed in it:
// the Debian packages of its dpkg database and the Python distributions `pip inspect` finds in its venv.
// It is plain Go over bytes read from the image (the Dagger glue reads them), so it is tested on real
// files, and it uses only cyclonedx-go (one package, no dependencies) to keep the module's compile light.
//
// This file encodes the document. It guards against an SBOM that cannot be matched or trusted: every
// component has a purl, the document names the image digest it describes, and the same inputs always give
// the same bytes (serial number derived from the content), so a golden file pins the format.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// MediaType is the artifact type of the SBOM (no parameters: ECR refuses ';' in media types).
const MediaType = "application/vnd.cyclonedx+json"

// Image is the image the SBOM describes.
type Image struct {
	Repository string // e.g. 123.dkr.ecr.us-east-1.amazonaws.com/fastapi-app
	Digest     string // the platform image's manifest digest, sha256:...
	Platform   string // e.g. linux/amd64
}

// Input is everything read from the image.
type Input struct {
	Image   Image
	OS      OSRelease
	Debs    []DebPackage
	Python  *PipReport // nil when the image has no pip to ask
	Created time.Time
	Notes   []string // what could not be read, said in the document rather than left out silently
}

// Encode writes the CycloneDX 1.6 JSON document.
func Encode(in Input) ([]byte, error) {
	if in.Image.Digest == "" {
		return nil, fmt.Errorf("sbom: the image digest is empty: the SBOM must name the image it describes")
	}
	bom := cdx.NewBOM()
	bom.SerialNumber = serialNumber(in)
	bom.Metadata = metadata(in)
	comps := components(in)
	bom.Components = &comps
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("sbom: encode CycloneDX: %w", err)
	}
	return buf.Bytes(), nil
}

func metadata(in Input) *cdx.Metadata {
	img := &cdx.Component{
		BOMRef: "image", Type: cdx.ComponentTypeContainer, Name: in.Image.Repository, Version: in.Image.Digest,
		PackageURL: ociPURL(in.Image),
	}
	props := []cdx.Property{}
	if in.Image.Platform != "" {
		props = append(props, cdx.Property{Name: "ship:platform", Value: in.Image.Platform})
	}
	for _, n := range in.Notes {
		props = append(props, cdx.Property{Name: "ship:note", Value: n})
	}
	m := &cdx.Metadata{
		Timestamp: in.Created.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "ship"}}},
		Component: img,
	}
	if len(props) > 0 {
		m.Properties = &props
	}
	return m
}

// components lists the OS, its packages, the Python runtime and its distributions, each purl once.
func components(in Input) []cdx.Component {
	out := []cdx.Component{}
	seen := map[string]bool{}
	add := func(c cdx.Component) {
		key := c.BOMRef
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, c)
	}
	if in.OS.ID != "" {
		add(cdx.Component{BOMRef: "os:" + in.OS.Distro(), Type: cdx.ComponentTypeOS, Name: in.OS.ID, Version: in.OS.VersionID, Description: in.OS.PrettyName})
	}
	for _, p := range in.Debs {
		purl := debPURL(p, in.OS)
		add(cdx.Component{BOMRef: purl, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: purl})
	}
	if in.Python == nil {
		return out
	}
	if in.Python.PythonVersion != "" {
		// The interpreter of the official images is built from source, so dpkg does not list it.
		add(cdx.Component{BOMRef: "python:" + in.Python.PythonVersion, Type: cdx.ComponentTypeApplication,
			Name: firstNonEmpty(in.Python.Implementation, "python"), Version: in.Python.PythonVersion})
	}
	for _, p := range in.Python.Packages {
		purl := pypiPURL(p)
		c := cdx.Component{BOMRef: purl, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: purl}
		if p.License != "" {
			c.Licenses = &cdx.Licenses{{License: &cdx.License{Name: p.License}}}
		}
		add(c)
	}
	return out
}

// ociPURL is pkg:oci/<name>@<digest>?repository_url=<repository>, the purl of an image by digest.
func ociPURL(img Image) string {
	name := img.Repository
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			name = name[i+1:]
			break
		}
	}
	q := map[string]string{"repository_url": img.Repository}
	if img.Platform != "" {
		q["platform"] = img.Platform
	}
	return "pkg:oci/" + escape(name, false) + "@" + escape(img.Digest, true) + qualifiers(q)
}

// serialNumber is a UUID (version 5 layout) derived from the image and the time, so the same input always
// gives the same document.
func serialNumber(in Input) string {
	h := sha256.Sum256([]byte(in.Image.Repository + "\x00" + in.Image.Digest + "\x00" + in.Image.Platform + "\x00" + in.Created.UTC().Format(time.RFC3339Nano)))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
