// Tests that the statement is exactly in-toto v1 with a SLSA v1 predicate: a golden file pins the bytes, and
// in-toto's own Go types (github.com/in-toto/attestation, used only here) must parse it strictly and
// validate it, so a field renamed or misplaced fails here rather than in a verifier.
package provenance

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"dagger/ship/internal/testenv/golden"
)

var (
	rootDigest   = "sha256:" + strings.Repeat("a1", 32)
	amd64Digest  = "sha256:" + strings.Repeat("b2", 32)
	arm64Digest  = "sha256:" + strings.Repeat("c3", 32)
	baseDigest   = "sha256:" + strings.Repeat("d4", 32)
	moduleDigest = "sha256:" + strings.Repeat("e5", 32)
	commit       = "4f2c8a1e9b7d6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
)

func fixtureBuild() Build {
	return Build{
		Subjects: map[string]string{
			"localhost:5000/fastapi-app":               rootDigest,
			"localhost:5000/fastapi-app (linux/amd64)": amd64Digest,
			"localhost:5000/fastapi-app (linux/arm64)": arm64Digest,
		},
		BuilderID:    "acme/shop/.github/workflows/deploy.yml@refs/heads/main",
		InvocationID: "https://github.com/acme/shop/actions/runs/42/attempts/1",
		Repository:   "localhost:5000/fastapi-app", Revision: commit, Platforms: []string{"linux/amd64", "linux/arm64"},
		Source:     SourceResource("git+https://github.com/acme/shop", commit),
		BaseImage:  "docker.io/library/python:3.12.8-slim-bookworm@" + baseDigest,
		Module:     Resource{Name: "ship", Digest: map[string]string{"sha256": strings.TrimPrefix(moduleDigest, "sha256:")}},
		StartedOn:  time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC),
		FinishedOn: time.Date(2026, 12, 4, 8, 1, 30, 0, time.UTC),
	}
}

func TestGolden(t *testing.T) {
	st, err := New(fixtureBuild())
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "provenance.golden.json"), got)
}

// TestInTotoParsesIt decodes the JSON with in-toto's protobuf types, refusing unknown fields, and runs
// their validation of the statement and of the SLSA predicate.
func TestInTotoParsesIt(t *testing.T) {
	for name, b := range map[string]Build{"ci": fixtureBuild(), "local, tag revision": func() Build {
		b := fixtureBuild()
		b.BuilderID, b.InvocationID, b.StartedOn, b.FinishedOn = "", "", time.Time{}, time.Time{}
		b.Source = SourceResource("", "v1.2.3")
		return b
	}()} {
		t.Run(name, func(t *testing.T) {
			st, err := New(b)
			if err != nil {
				t.Fatal(err)
			}
			data, err := st.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var pb intoto.Statement
			if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(data, &pb); err != nil {
				t.Fatalf("in-toto cannot parse the statement: %v\n%s", err, data)
			}
			if err := pb.Validate(); err != nil {
				t.Fatalf("in-toto refuses the statement: %v", err)
			}
			if pb.GetType() != intoto.StatementTypeUri || pb.GetPredicateType() != PredicateType {
				t.Fatalf("type %q predicate type %q", pb.GetType(), pb.GetPredicateType())
			}
			pred, err := protojson.Marshal(pb.GetPredicate())
			if err != nil {
				t.Fatal(err)
			}
			var prov slsa.Provenance
			if err := protojson.Unmarshal(pred, &prov); err != nil {
				t.Fatalf("the predicate is not SLSA v1 provenance: %v", err)
			}
			if err := prov.Validate(); err != nil {
				t.Fatalf("SLSA validation: %v", err)
			}
			wantBuilder := b.BuilderID
			if wantBuilder == "" {
				wantBuilder = LocalBuilder
			}
			if got := prov.GetRunDetails().GetBuilder().GetId(); got != wantBuilder {
				t.Errorf("builder id %q, want %q", got, wantBuilder)
			}
			deps := prov.GetBuildDefinition().GetResolvedDependencies()
			if len(deps) != 3 || deps[1].GetDigest()["sha256"] != strings.TrimPrefix(baseDigest, "sha256:") {
				t.Errorf("resolved dependencies: %v", deps)
			}
			ext := prov.GetBuildDefinition().GetExternalParameters().AsMap()
			if ext["revision"] != b.Revision || ext["repository"] != b.Repository || len(ext["platforms"].([]any)) != len(b.Platforms) {
				t.Errorf("external parameters: %v", ext)
			}
			if len(pb.GetSubject()) != len(b.Subjects) {
				t.Errorf("%d subjects, want %d", len(pb.GetSubject()), len(b.Subjects))
			}
		})
	}
}

func TestNewRefusesIncompleteBuilds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Build)
		want   string
	}{
		{"no subject", func(b *Build) { b.Subjects = nil }, "no subject"},
		{"subject not sha256", func(b *Build) { b.Subjects = map[string]string{"x": "sha512:ab"} }, `subject x: "sha512:ab" is not a sha256 digest`},
		{"base by tag", func(b *Build) { b.BaseImage = "python:3.12" }, "not resolved by digest"},
		{"no revision", func(b *Build) { b.Revision = " " }, "revision, repository and platforms are all required"},
		{"no platforms", func(b *Build) { b.Platforms = nil }, "revision, repository and platforms are all required"},
		{"no module", func(b *Build) { b.Module = Resource{} }, "module's own version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fixtureBuild()
			tc.change(&b)
			_, err := New(b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSourceResource(t *testing.T) {
	for _, tc := range []struct {
		repo, rev string
		want      Resource
	}{
		{"git+https://github.com/acme/shop", commit, Resource{Name: "source", URI: "git+https://github.com/acme/shop", Digest: map[string]string{"gitCommit": commit}}},
		{"git+https://github.com/acme/shop", "v1.2.3", Resource{Name: "source", URI: "git+https://github.com/acme/shop@v1.2.3"}},
		{"", "4f2c8a1", Resource{Name: "source", URI: "urn:ship:revision:4f2c8a1"}},
	} {
		got := SourceResource(tc.repo, tc.rev)
		if got.Name != tc.want.Name || got.URI != tc.want.URI || got.Digest["gitCommit"] != tc.want.Digest["gitCommit"] || len(got.Digest) != len(tc.want.Digest) {
			t.Errorf("SourceResource(%q, %q) = %+v, want %+v", tc.repo, tc.rev, got, tc.want)
		}
	}
}

func TestParseRoundTripAndRefusals(t *testing.T) {
	st, err := New(fixtureBuild())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := st.Marshal()
	back, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !back.HasSubject(rootDigest) || !back.HasSubject(arm64Digest) || back.HasSubject(baseDigest) {
		t.Errorf("subjects read back: %+v", back.Subject)
	}
	good := string(data)
	for _, tc := range []struct{ name, in, want string }{
		{"not json", "{", "not a statement"},
		{"unknown field", strings.Replace(good, `"predicateType"`, `"extra": 1, "predicateType"`, 1), `unknown field "extra"`},
		{"v0.1 statement", strings.Replace(good, StatementType, "https://in-toto.io/Statement/v0.1", 1), "_type is"},
		{"other predicate", strings.Replace(good, PredicateType, "https://spdx.dev/Document", 1), "predicateType is"},
		{"short subject digest", strings.Replace(good, `"sha256": "`+strings.Repeat("a1", 32), `"sha256": "a1`, 1), "subject 0 (localhost:5000/fastapi-app)"},
		{"no builder", strings.Replace(good, fixtureBuild().BuilderID, "", 1), "names no builder"},
		{"trailing data", good + "{}", "data follows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
