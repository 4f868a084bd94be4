// workflow.go turns workflow YAML into the few shapes the rules look at.
//
// Why a yaml.Node walk and not a struct decode: the version comment after a
// pinned SHA only survives in the node tree, paths for messages need the
// node positions, and the `on:` key must not be misread as boolean true (as a
// YAML 1.1 decoder such as sigs.k8s.io/yaml would).
package workflowcheck

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

type workflow struct {
	root        *yaml.Node // the top-level mapping
	on          *yaml.Node
	permissions *yaml.Node
	concurrency *yaml.Node
	jobs        []job
}

type job struct {
	id          string
	path        string // "jobs.<id>"
	node        *yaml.Node
	permissions *yaml.Node
	steps       []step
}

type step struct {
	path string // "jobs.<id>.steps[i]"
	node *yaml.Node
	id   string
	uses *yaml.Node
	run  *yaml.Node
	with *yaml.Node
	env  *yaml.Node
}

func parseWorkflow(data []byte) (*workflow, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the document is not a YAML mapping")
	}
	root := doc.Content[0]
	wf := &workflow{
		root:        root,
		on:          onKey(root),
		permissions: get(root, "permissions"),
		concurrency: get(root, "concurrency"),
	}
	jobs := get(root, "jobs")
	if jobs == nil || jobs.Kind != yaml.MappingNode || len(jobs.Content) == 0 {
		return nil, errors.New("the workflow has no jobs mapping")
	}
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		wf.jobs = append(wf.jobs, parseJob(jobs.Content[i].Value, jobs.Content[i+1]))
	}
	return wf, nil
}

// onKey finds the triggers whether the key was written on, "on" or true.
func onKey(root *yaml.Node) *yaml.Node {
	for _, k := range []string{"on", "true", "On", "ON"} {
		if n := get(root, k); n != nil {
			return n
		}
	}
	return nil
}

func parseJob(id string, n *yaml.Node) job {
	j := job{id: id, path: "jobs." + id, node: n, permissions: get(n, "permissions")}
	steps := get(n, "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		return j
	}
	for i, s := range steps.Content {
		j.steps = append(j.steps, step{
			path: fmt.Sprintf("%s.steps[%d]", j.path, i),
			node: s,
			id:   scalar(get(s, "id")),
			uses: get(s, "uses"),
			run:  get(s, "run"),
			with: get(s, "with"),
			env:  get(s, "env"),
		})
	}
	return j
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalar is the text of a scalar node, "" for anything else.
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// keys lists the keys of a mapping node in order.
func keys(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

// triggers maps each event name to its configuration node (nil when the
// event is listed without configuration), for all three forms of `on:`.
func (wf *workflow) triggers() map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	switch n := wf.on; {
	case n == nil:
	case n.Kind == yaml.ScalarNode:
		out[n.Value] = nil
	case n.Kind == yaml.SequenceNode:
		for _, e := range n.Content {
			out[e.Value] = nil
		}
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = n.Content[i+1]
		}
	}
	return out
}

// walkScalars calls fn for every scalar under n with its dotted path.
func walkScalars(n *yaml.Node, path string, fn func(path string, n *yaml.Node)) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		fn(path, n)
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkScalars(c, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkScalars(n.Content[i+1], joinPath(path, n.Content[i].Value), fn)
		}
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkScalars(c, path, fn)
		}
	case yaml.AliasNode:
		walkScalars(n.Alias, path, fn)
	}
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// normalizeSpace collapses the folded/multi-line text of an input into one line.
func normalizeSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
