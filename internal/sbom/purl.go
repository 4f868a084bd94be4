// This file writes package URLs (purl), the identifiers vulnerability scanners match SBOM components on. A
// wrong purl is silent: the component is simply never matched, so the rules of the two types used here
// (deb, pypi) are spelled out in one place and tested.
package sbom

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// debPURL is pkg:deb/<distribution>/<name>@<version>?arch=..&distro=..&upstream=..
func debPURL(p DebPackage, osr OSRelease) string {
	vendor := osr.ID
	if vendor == "" {
		vendor = "debian"
	}
	q := map[string]string{"arch": p.Architecture, "distro": osr.Distro()}
	if p.Source != "" && p.Source != p.Name {
		q["upstream"] = p.Source
		if p.SourceVer != "" {
			q["upstream"] += "@" + p.SourceVer
		}
	}
	return fmt.Sprintf("pkg:deb/%s/%s@%s%s", escape(strings.ToLower(vendor), false), escape(strings.ToLower(p.Name), false), escape(p.Version, true), qualifiers(q))
}

// pypiPURL is pkg:pypi/<normalized name>@<version>.
func pypiPURL(p PythonPackage) string {
	return fmt.Sprintf("pkg:pypi/%s@%s", escape(pypiName(p.Name), false), escape(p.Version, true))
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// pypiName is the PEP 503 normalized name, which the purl pypi type requires (PyYAML -> pyyaml,
// typing_extensions -> typing-extensions).
func pypiName(name string) string { return pypiSeparators.ReplaceAllString(strings.ToLower(name), "-") }

// qualifiers renders the non-empty qualifiers sorted by key, as the purl specification requires.
func qualifiers(q map[string]string) string {
	keys := make([]string, 0, len(q))
	for k, v := range q {
		if v != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + escape(q[k], false)
	}
	return "?" + strings.Join(parts, "&")
}

// escape percent-encodes everything but unreserved characters; a version also keeps ':' (Debian epochs)
// and '+' as they are, the way the common scanners write and read them.
func escape(s string, version bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '~':
			b.WriteByte(c)
		case version && (c == ':' || c == '+'):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
