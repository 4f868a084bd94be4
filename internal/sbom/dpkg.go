// This file reads Debian's package database (/var/lib/dpkg/status) as the built image has it, so the SBOM
// lists what is installed in the image rather than what a manifest says should be. The file comes from an
// image that anyone could have built: it is parsed defensively (no line or paragraph is trusted to be
// well-formed) and a package missing its name or version fails with the paragraph that lacks it.
package sbom

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// DebPackage is one installed Debian package.
type DebPackage struct {
	Name         string
	Version      string
	Architecture string
	Source       string // source package name, when it differs from Name
	SourceVer    string // source version, when it differs from Version
}

// maxStatusLine bounds one line of the status file (long Description and Conffiles lines are normal).
const maxStatusLine = 1 << 20

// ParseDpkgStatus returns the packages the status file marks "install ok installed", sorted by name and
// architecture. Removed packages whose configuration files remain ("deinstall ok config-files") are not in
// the image's software and are left out.
func ParseDpkgStatus(data []byte) ([]DebPackage, error) {
	var pkgs []DebPackage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), maxStatusLine)
	fields, line, start := map[string]string{}, 0, 1
	last := ""
	flush := func() error {
		defer func() { fields, last = map[string]string{}, "" }()
		if len(fields) == 0 {
			return nil
		}
		p, ok, err := debPackage(fields)
		if err != nil {
			return fmt.Errorf("dpkg status: the paragraph at line %d: %w", start, err)
		}
		if ok {
			pkgs = append(pkgs, p)
		}
		return nil
	}
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(text) == "":
			if err := flush(); err != nil {
				return nil, err
			}
			start = line + 1
		case text[0] == ' ' || text[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("dpkg status: line %d continues a field, but no field came before it", line)
			}
		default:
			name, value, ok := strings.Cut(text, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("dpkg status: line %d is not \"Field: value\": %.60q", line, text)
			}
			last = strings.TrimSpace(name)
			fields[last] = strings.TrimSpace(value)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dpkg status: after line %d: %w", line, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	sort.Slice(pkgs, func(i, j int) bool {
		if pkgs[i].Name != pkgs[j].Name {
			return pkgs[i].Name < pkgs[j].Name
		}
		return pkgs[i].Architecture < pkgs[j].Architecture
	})
	return pkgs, nil
}

// debPackage turns one paragraph into a package; ok is false for a package that is not installed.
func debPackage(f map[string]string) (DebPackage, bool, error) {
	if st := strings.Fields(f["Status"]); len(st) != 3 || st[2] != "installed" {
		return DebPackage{}, false, nil
	}
	p := DebPackage{Name: f["Package"], Version: f["Version"], Architecture: f["Architecture"]}
	if p.Name == "" || p.Version == "" {
		return DebPackage{}, false, fmt.Errorf("an installed package has no Package or no Version field (Package %q, Version %q)", p.Name, p.Version)
	}
	// "Source: util-linux (2.38.1-5+deb12u3)" names the source package and, when it differs, its version.
	if src := f["Source"]; src != "" {
		name, ver, _ := strings.Cut(src, " ")
		p.Source = name
		p.SourceVer = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(ver), "("), ")")
	}
	return p, true, nil
}
