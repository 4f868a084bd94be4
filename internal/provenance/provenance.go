// Package provenance writes and reads SLSA v1 build provenance as an in-toto v1 statement: which workflow
// built which image digests, from which revision, on which base image, with which version of ship.
//
// The statement is plain Go structs marshalled with encoding/json rather than in-toto's generated protobuf
// types: protojson deliberately varies its whitespace from run to run, which rules out a golden file and
// byte-stable attestations, and the structs keep the in-toto library out of the module's compile. A test
// checks that the JSON parses strictly into in-toto's own types and passes their validation.
package provenance

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

const (
	// StatementType is the in-toto statement version written.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType is SLSA build provenance v1.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names the build ship runs: its external parameters are those of `publish`.
	BuildType = "urn:ship:publish:v1"
	// MediaType is the artifact type of an in-toto statement (no parameters: ECR refuses ';').
	MediaType = "application/vnd.in-toto+json"
	// LocalBuilder is the builder id of a build with no CI identity.
	LocalBuilder = "local"
)

// Statement is an in-toto v1 statement with a SLSA v1 provenance predicate.
type Statement struct {
	Type          string     `json:"_type"`
	Subject       []Resource `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     Predicate  `json:"predicate"`
}

// Resource is an in-toto ResourceDescriptor.
type Resource struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Predicate is SLSA v1 provenance.
type Predicate struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is what was built, from what.
type BuildDefinition struct {
	BuildType            string             `json:"buildType"`
	ExternalParameters   ExternalParameters `json:"externalParameters"`
	ResolvedDependencies []Resource         `json:"resolvedDependencies"`
}

// ExternalParameters are the inputs the caller chose: publish's own flags.
type ExternalParameters struct {
	Repository string   `json:"repository"`
	Revision   string   `json:"revision"`
	Platforms  []string `json:"platforms"`
}

// RunDetails is who built it, and when.
type RunDetails struct {
	Builder  Builder   `json:"builder"`
	Metadata *Metadata `json:"metadata,omitempty"`
}

// Builder identifies the build platform: the CI workflow (job_workflow_ref), or "local".
type Builder struct {
	ID string `json:"id"`
}

// Metadata is the run's identity and times.
type Metadata struct {
	InvocationID string `json:"invocationId,omitempty"`
	StartedOn    string `json:"startedOn,omitempty"`
	FinishedOn   string `json:"finishedOn,omitempty"`
}

// Build is what the glue knows about one publish.
type Build struct {
	Subjects     map[string]string // subject name (the repository, or the repository and a platform) -> sha256:...
	BuilderID    string            // job_workflow_ref, or "" outside CI
	InvocationID string            // e.g. the CI run's URL or id
	Repository   string            // image repository
	Revision     string
	Platforms    []string
	Source       Resource // the source revision (see SourceResource)
	BaseImage    string   // the base image reference resolved by digest: name@sha256:...
	Module       Resource // ship itself
	StartedOn    time.Time
	FinishedOn   time.Time
}

// New assembles the statement, refusing a build that lacks what a verifier needs.
func New(b Build) (*Statement, error) {
	if len(b.Subjects) == 0 {
		return nil, fmt.Errorf("provenance: no subject: a statement must name the image digests it is about")
	}
	if strings.TrimSpace(b.Revision) == "" || strings.TrimSpace(b.Repository) == "" || len(b.Platforms) == 0 {
		return nil, fmt.Errorf("provenance: the revision, repository and platforms are all required (got %q, %q, %v)", b.Revision, b.Repository, b.Platforms)
	}
	subjects, err := subjectList(b.Subjects)
	if err != nil {
		return nil, err
	}
	if b.Module.Name == "" || len(b.Module.Digest) == 0 {
		return nil, fmt.Errorf("provenance: the module's own version (name and digest) is required")
	}
	base, err := imageResource("base image", b.BaseImage)
	if err != nil {
		return nil, err
	}
	builder := b.BuilderID
	if builder == "" {
		builder = LocalBuilder
	}
	st := &Statement{
		Type: StatementType, Subject: subjects, PredicateType: PredicateType,
		Predicate: Predicate{
			BuildDefinition: BuildDefinition{
				BuildType:            BuildType,
				ExternalParameters:   ExternalParameters{Repository: b.Repository, Revision: b.Revision, Platforms: b.Platforms},
				ResolvedDependencies: []Resource{b.Source, base, b.Module},
			},
			RunDetails: RunDetails{Builder: Builder{ID: builder}},
		},
	}
	if md := metadata(b); md != (Metadata{}) {
		st.Predicate.RunDetails.Metadata = &md
	}
	return st, nil
}

// Marshal is the statement's JSON, indented, the same bytes for the same statement.
func (s *Statement) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("provenance: encode the statement: %w", err)
	}
	return append(data, '\n'), nil
}

func subjectList(m map[string]string) ([]Resource, error) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Resource, 0, len(names))
	for _, n := range names {
		hex, err := sha256Hex(m[n])
		if err != nil {
			return nil, fmt.Errorf("provenance: subject %s: %w", n, err)
		}
		out = append(out, Resource{Name: n, Digest: map[string]string{"sha256": hex}})
	}
	return out, nil
}

// imageResource describes an image reference of the form name@sha256:hex.
func imageResource(name, ref string) (Resource, error) {
	repo, digest, ok := strings.Cut(ref, "@")
	if !ok {
		return Resource{}, fmt.Errorf("provenance: the %s %q is not resolved by digest (name@sha256:...)", name, ref)
	}
	hex, err := sha256Hex(digest)
	if err != nil {
		return Resource{}, fmt.Errorf("provenance: the %s %q: %w", name, ref, err)
	}
	return Resource{Name: name, URI: repo, Digest: map[string]string{"sha256": hex}}, nil
}

// SourceResource describes the source revision: a full commit id becomes a gitCommit digest; any other
// revision (a tag, a short id) is kept in the URI, where it cannot be mistaken for a verified commit.
func SourceResource(repositoryURI, revision string) Resource {
	r := Resource{Name: "source"}
	if isHex(revision) && (len(revision) == 40 || len(revision) == 64) {
		r.URI = repositoryURI
		r.Digest = map[string]string{"gitCommit": strings.ToLower(revision)}
		return r
	}
	r.URI = repositoryURI + "@" + revision
	if repositoryURI == "" {
		r.URI = "urn:ship:revision:" + revision
	}
	return r
}

func metadata(b Build) Metadata {
	md := Metadata{InvocationID: b.InvocationID}
	if !b.StartedOn.IsZero() {
		md.StartedOn = b.StartedOn.UTC().Format(time.RFC3339)
	}
	if !b.FinishedOn.IsZero() {
		md.FinishedOn = b.FinishedOn.UTC().Format(time.RFC3339)
	}
	return md
}

func sha256Hex(digest string) (string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) != 64 || !isHex(hex) {
		return "", fmt.Errorf("%q is not a sha256 digest (sha256: and 64 hex digits)", digest)
	}
	return hex, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
