// This file wraps an SBOM in an in-toto statement, the form a Sigstore bundle signs: a CycloneDX document
// alone names no subject, so a signature over it would not say which image it describes. The statement's
// subject is the platform image's digest, its predicate the document as it was attached, byte for byte.
// It also counts an SBOM's components for verify, refusing a document that is not CycloneDX JSON.
package sbom

import (
	"encoding/json"
	"fmt"
	"strings"
)

// PredicateType is CycloneDX's in-toto predicate type (what cosign attest --type cyclonedx writes).
const PredicateType = "https://cyclonedx.org/bom"

// Statement is the in-toto v1 statement about the image digest (sha256:...) whose predicate is doc.
func Statement(doc []byte, name, digest string) ([]byte, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) != 64 {
		return nil, fmt.Errorf("sbom statement: %q is not a sha256 digest", digest)
	}
	if !json.Valid(doc) {
		return nil, fmt.Errorf("sbom statement: the SBOM is not JSON")
	}
	st := struct {
		Type          string            `json:"_type"`
		Subject       []json.RawMessage `json:"subject"`
		PredicateType string            `json:"predicateType"`
		Predicate     json.RawMessage   `json:"predicate"`
	}{Type: "https://in-toto.io/Statement/v1", PredicateType: PredicateType, Predicate: doc}
	subject, err := json.Marshal(map[string]any{"name": name, "digest": map[string]string{"sha256": hex}})
	if err != nil {
		return nil, fmt.Errorf("sbom statement: %w", err)
	}
	st.Subject = []json.RawMessage{subject}
	out, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("sbom statement: %w", err)
	}
	return out, nil
}

// Components counts the components of a CycloneDX JSON document, or of the statement that carries one.
func Components(doc []byte) (int, error) {
	var d struct {
		BOMFormat  string            `json:"bomFormat"`
		Components []json.RawMessage `json:"components"`
		Predicate  json.RawMessage   `json:"predicate"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return 0, fmt.Errorf("the SBOM is not JSON: %w", err)
	}
	if len(d.Predicate) > 0 {
		return Components(d.Predicate)
	}
	if d.BOMFormat != "CycloneDX" {
		return 0, fmt.Errorf("the SBOM is not a CycloneDX document (bomFormat %q)", d.BOMFormat)
	}
	return len(d.Components), nil
}
