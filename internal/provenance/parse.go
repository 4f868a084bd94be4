// This file reads a provenance statement back from a registry, where anyone with push rights could have
// put any bytes: it refuses anything that is not an in-toto v1 statement with a SLSA v1 predicate, with a
// message naming what is wrong, and never returns a statement without a subject digest.
package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// maxStatement bounds what is decoded: a provenance statement is a few kilobytes.
const maxStatement = 4 << 20

// Parse decodes and checks a statement.
func Parse(data []byte) (*Statement, error) {
	if len(data) > maxStatement {
		return nil, fmt.Errorf("provenance: the statement is %d bytes, more than the %d a statement can be", len(data), maxStatement)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var st Statement
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("provenance: not a statement ship reads: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("provenance: data follows the statement")
	}
	if st.Type != StatementType {
		return nil, fmt.Errorf("provenance: _type is %q, want %q", st.Type, StatementType)
	}
	if st.PredicateType != PredicateType {
		return nil, fmt.Errorf("provenance: predicateType is %q, want %q", st.PredicateType, PredicateType)
	}
	if len(st.Subject) == 0 {
		return nil, fmt.Errorf("provenance: the statement has no subject")
	}
	for i, s := range st.Subject {
		if _, err := sha256Hex("sha256:" + s.Digest["sha256"]); err != nil {
			return nil, fmt.Errorf("provenance: subject %d (%s): %w", i, s.Name, err)
		}
	}
	if st.Predicate.RunDetails.Builder.ID == "" {
		return nil, fmt.Errorf("provenance: the statement names no builder")
	}
	return &st, nil
}

// HasSubject tells whether the statement is about the digest (sha256:...).
func (s *Statement) HasSubject(digest string) bool {
	for _, r := range s.Subject {
		if "sha256:"+r.Digest["sha256"] == digest {
			return true
		}
	}
	return false
}
