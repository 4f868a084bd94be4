// This file reads the JSON report of `pip inspect` run in the built image (its venv's python), so the SBOM
// lists the Python distributions actually installed there, versions as installed. The report comes from the
// image: it is decoded strictly enough that a report of another shape fails by name instead of giving an
// empty list that would look like "no Python packages".
package sbom

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// PythonPackage is one installed Python distribution.
type PythonPackage struct {
	Name    string
	Version string
	License string
}

// PipReport is what a `pip inspect` report says about the image's Python.
type PipReport struct {
	Packages       []PythonPackage
	Implementation string // e.g. cpython
	PythonVersion  string // e.g. 3.12.8
	PipVersion     string
}

// ParsePipInspect decodes a `pip inspect` report (format version 1, pip 22.2 and later), sorted by name.
func ParsePipInspect(data []byte) (*PipReport, error) {
	var doc struct {
		Version    *string `json:"version"`
		PipVersion string  `json:"pip_version"`
		Installed  *[]struct {
			Metadata struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				License string `json:"license"`
			} `json:"metadata"`
		} `json:"installed"`
		Environment struct {
			Implementation string `json:"implementation_name"`
			PythonVersion  string `json:"python_full_version"`
		} `json:"environment"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("pip inspect: the report is not JSON: %w", err)
	}
	if doc.Version == nil || doc.Installed == nil {
		return nil, fmt.Errorf("pip inspect: the report has no \"version\" or no \"installed\" list: is this `pip inspect` output?")
	}
	if *doc.Version != "1" {
		return nil, fmt.Errorf("pip inspect: report format %q is not supported (want \"1\")", *doc.Version)
	}
	r := &PipReport{Implementation: doc.Environment.Implementation, PythonVersion: doc.Environment.PythonVersion, PipVersion: doc.PipVersion}
	for i, inst := range *doc.Installed {
		m := inst.Metadata
		if strings.TrimSpace(m.Name) == "" || strings.TrimSpace(m.Version) == "" {
			return nil, fmt.Errorf("pip inspect: installed[%d] has no metadata name or version", i)
		}
		r.Packages = append(r.Packages, PythonPackage{Name: m.Name, Version: m.Version, License: firstLine(m.License)})
	}
	sort.Slice(r.Packages, func(i, j int) bool { return pypiName(r.Packages[i].Name) < pypiName(r.Packages[j].Name) })
	return r, nil
}

// firstLine keeps a license field short: some distributions paste the whole license text into it.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}
