// IAM policy documents as the generator writes them. Marshalling is
// deterministic (fixed field order, sorted map keys and values) so golden
// files and bootstrap's "has it changed?" checks never see spurious diffs.
package policy

import (
	"encoding/json"
	"fmt"
)

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one IAM statement. Condition maps operator -> key -> values.
type Statement struct {
	Sid       string                         `json:"Sid,omitempty"`
	Effect    string                         `json:"Effect"`
	Principal map[string]string              `json:"Principal,omitempty"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource,omitempty"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

const policyVersion = "2012-10-17"

// JSON renders the document indented, with a trailing newline.
func (d Document) JSON() []byte {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil { // only plain strings, maps and slices: cannot fail
		panic(fmt.Sprintf("marshal policy document: %v", err))
	}
	return append(b, '\n')
}

// Compact renders the document on one line, as sent to IAM.
func (d Document) Compact() string {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("marshal policy document: %v", err))
	}
	return string(b)
}
