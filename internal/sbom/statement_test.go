package sbom

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestStatementCarriesTheDocumentAndCounts(t *testing.T) {
	doc, err := Encode(Input{Image: Image{Repository: "reg.example/shop", Digest: "sha256:" + strings.Repeat("a", 64), Platform: "linux/amd64"},
		Created: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
		Debs:    []DebPackage{{Name: "bash", Version: "5.2", Architecture: "amd64"}, {Name: "libc6", Version: "2.36", Architecture: "amd64"}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Statement(doc, "reg.example/shop", "sha256:"+strings.Repeat("b", 64))
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(st, &parsed); err != nil || parsed.PredicateType != PredicateType || parsed.Subject[0].Digest["sha256"] != strings.Repeat("b", 64) {
		t.Fatalf("statement %s: %v", st, err)
	}
	for _, d := range [][]byte{doc, st} {
		if n, err := Components(d); err != nil || n != 2 {
			t.Fatalf("Components = %d, %v; want 2", n, err)
		}
	}
	if _, err := Statement(doc, "x", "sha256:short"); err == nil {
		t.Fatal("a statement about a malformed digest was made")
	}
	if _, err := Components([]byte(`{"bomFormat":"SPDX"}`)); err == nil {
		t.Fatal("a non-CycloneDX document was counted")
	}
}
