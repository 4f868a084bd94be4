// This file reads the image's /etc/os-release, which names the distribution the dpkg packages belong to
// (the purl's distro qualifier, e.g. debian-12): a package version means little without its release.
package sbom

import (
	"strconv"
	"strings"
)

// OSRelease is the distribution of the image.
type OSRelease struct {
	ID, VersionID, PrettyName string
}

// ParseOSRelease reads os-release's KEY=value lines (values optionally quoted); unknown or malformed lines
// are ignored, as the format's own specification says to.
func ParseOSRelease(data []byte) OSRelease {
	var r OSRelease
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `"'`)
		}
		switch k {
		case "ID":
			r.ID = v
		case "VERSION_ID":
			r.VersionID = v
		case "PRETTY_NAME":
			r.PrettyName = v
		}
	}
	return r
}

// Distro is the purl distro qualifier, e.g. debian-12, or "" when the release is unknown.
func (r OSRelease) Distro() string {
	if r.ID == "" || r.VersionID == "" {
		return ""
	}
	return r.ID + "-" + r.VersionID
}
