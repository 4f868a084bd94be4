// Kustomize reports failures as one long nested string naming in-memory
// paths. explain maps the common ones to typed errors that name the file in
// the user's tree (and the line, for YAML), so the fix is obvious.
package render

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

var (
	// The innermost kustomization directory kustomize was building.
	buildDirRe      = regexp.MustCompile(`(?:recursed accumulation of path|couldn't make target for path) '` + manifestsRoot + `/([^']*)'`)
	noKustomization = regexp.MustCompile(`unable to find one of 'kustomization.yaml'.* in directory '` + manifestsRoot + `/?([^']*)'`)
	malformedYAML   = regexp.MustCompile(`MalformedYAMLError: (?:yaml: )?(?:line (\d+): )?(.*?) in File: (\S+)`)
	noPatchTarget   = regexp.MustCompile(`no resource matches strategic merge patch "([^"]+)"`)
	missingFile     = regexp.MustCompile(`'` + manifestsRoot + `/([^']+)' doesn't exist`)
	yamlLine        = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// explain turns a kustomize error into one of the typed render errors.
func explain(manifests fs.FS, overlay string, err error) error {
	msg := err.Error()
	dir := innermostDir(msg)
	if m := noKustomization.FindStringSubmatch(msg); m != nil {
		return &MissingKustomizationError{Dir: m[1]}
	}
	if m := malformedYAML.FindStringSubmatch(msg); m != nil {
		return yamlError(manifests, dir, m)
	}
	if m := noPatchTarget.FindStringSubmatch(msg); m != nil {
		kind, name := splitResID(m[1])
		return &PatchTargetError{Overlay: overlay, Patch: findSMPatch(manifests, dir, kind, name), Target: kind + " " + quote(name)}
	}
	if m := missingFile.FindStringSubmatch(msg); m != nil {
		return &BuildError{Overlay: overlay, Detail: fmt.Sprintf("%s does not exist; fix the list that names it in %s", m[1], kustomizationName(manifests, dir))}
	}
	if yerr := scanYAML(manifests, dir); yerr != nil {
		return yerr
	}
	return &BuildError{Overlay: overlay, Detail: lastCause(msg, dir)}
}

func innermostDir(msg string) string {
	all := buildDirRe.FindAllStringSubmatch(msg, -1)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1][1]
}

// yamlError names the broken file; kustomize gives only its base name, so
// it is joined to the directory being built and the line re-checked.
func yamlError(manifests fs.FS, dir string, m []string) error {
	file := path.Join(dir, m[3])
	if _, err := fs.Stat(manifests, file); err != nil {
		file = m[3]
	}
	if yerr := parseYAMLFile(manifests, file); yerr != nil {
		return yerr
	}
	line, _ := strconv.Atoi(m[1])
	return &YAMLError{File: file, Line: line, Detail: m[2]}
}

// scanYAML looks for a syntactically broken YAML file in dir.
func scanYAML(manifests fs.FS, dir string) error {
	if dir == "" {
		return nil
	}
	entries, err := fs.ReadDir(manifests, dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") || n == "Kustomization") {
			continue
		}
		if yerr := parseYAMLFile(manifests, path.Join(dir, n)); yerr != nil {
			return yerr
		}
	}
	return nil
}

// parseYAMLFile returns a *YAMLError if file is not valid (multi-document) YAML.
func parseYAMLFile(manifests fs.FS, file string) error {
	data, err := fs.ReadFile(manifests, file)
	if err != nil {
		return nil
	}
	dec := kyaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var n kyaml.Node
		err := dec.Decode(&n)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		ye := &YAMLError{File: file, Detail: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			ye.Line, _ = strconv.Atoi(m[1])
			ye.Detail = m[2]
		}
		return ye
	}
}

// splitResID splits kustomize's "Kind.version.group/name.namespace".
func splitResID(id string) (kind, name string) {
	gvk, nn, _ := strings.Cut(id, "/")
	kind, _, _ = strings.Cut(gvk, ".")
	if i := strings.LastIndexByte(nn, '.'); i >= 0 {
		nn = nn[:i]
	}
	return kind, nn
}

// findSMPatch names the patch file in dir whose kind and name are given.
func findSMPatch(manifests fs.FS, dir, kind, name string) string {
	k, err := readKustomization(manifests, dir)
	if err != nil {
		return kind + " " + quote(name)
	}
	for _, p := range k.Patches {
		if p.Path == "" {
			continue
		}
		data, err := fs.ReadFile(manifests, path.Join(dir, p.Path))
		if err != nil {
			continue
		}
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal(data, &obj) == nil && obj.Kind == kind && obj.Metadata.Name == name {
			return path.Join(dir, p.Path)
		}
	}
	return "for " + kind + " " + quote(name) + " in " + kustomizationName(manifests, dir)
}

func kustomizationName(manifests fs.FS, dir string) string {
	if f, err := kustomizationFile(manifests, dir); err == nil {
		return f
	}
	return path.Join(dir, "kustomization.yaml")
}

// readKustomization parses dir's kustomization, with legacy fields folded
// into Patches as kustomize itself does.
func readKustomization(manifests fs.FS, dir string) (*types.Kustomization, error) {
	f, err := kustomizationFile(manifests, dir)
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(manifests, f)
	if err != nil {
		return nil, fmt.Errorf("render: reading %s: %w", f, err)
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("render: parsing %s: %w", f, err)
	}
	k.FixKustomization()
	return &k, nil
}

// checkPatchTargets catches patches with a target selector that matched
// nothing: kustomize silently skips them, leaving an environment unpatched.
func checkPatchTargets(manifests fs.FS, dir, overlay string, m resmap.ResMap) error {
	k, err := readKustomization(manifests, dir)
	if err != nil {
		return err
	}
	for i, p := range k.Patches {
		if p.Target == nil {
			continue
		}
		sel := *p.Target
		if sel.Name != "" {
			sel.Name = k.NamePrefix + "(?:" + sel.Name + ")" + k.NameSuffix
		}
		if k.Namespace != "" {
			sel.Namespace = "" // the overlay moved everything into its namespace
		}
		found, err := m.Select(sel)
		if err != nil {
			return &BuildError{Overlay: overlay, Detail: fmt.Sprintf("patch #%d in %s has a bad target: %v", i+1, kustomizationName(manifests, dir), err)}
		}
		if len(found) == 0 {
			return &PatchTargetError{Overlay: overlay, Patch: patchName(dir, i, p), Target: describeSelector(p.Target)}
		}
	}
	return nil
}

func patchName(dir string, i int, p types.Patch) string {
	if p.Path != "" {
		return path.Join(dir, p.Path)
	}
	return fmt.Sprintf("#%d (inline) in %s", i+1, path.Join(dir, "kustomization.yaml"))
}

func describeSelector(s *types.Selector) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("group", s.Group)
	add("version", s.Version)
	add("kind", s.Kind)
	add("name", s.Name)
	add("namespace", s.Namespace)
	add("labelSelector", s.LabelSelector)
	add("annotationSelector", s.AnnotationSelector)
	return "{" + strings.Join(parts, ", ") + "}"
}

// lastCause keeps the innermost part of kustomize's message, with
// in-memory paths made relative to the manifests root.
func lastCause(msg, dir string) string {
	if all := buildDirRe.FindAllStringIndex(msg, -1); len(all) > 0 {
		msg = strings.TrimPrefix(msg[all[len(all)-1][1]:], ": ")
		if dir != "" {
			msg = "in " + dir + ": " + msg
		}
	}
	msg = strings.ReplaceAll(msg, manifestsRoot+"/", "")
	return strings.ReplaceAll(msg, "../k8s/", "")
}
