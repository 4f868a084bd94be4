// Package publish builds and pushes a revision at most once. The revision tag is the release's name: when
// it already exists in the repository, its image is the release, and it is reused, never rebuilt. It guards
// against three failures of "always build": a second environment running an untested rebuild (Dockerfile
// builds are not reproducible, so the digest would differ from what staging tested), a re-run job failing
// because immutable tags refuse the second push (ImageTagAlreadyExists), and minutes spent rebuilding.
package publish

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"dagger/ship/internal/ecr"
)

// Registry is where a repository's tags are looked up.
type Registry interface {
	// Digest returns the digest a tag points at, or "" when the repository has no such tag.
	Digest(ctx context.Context, tag string) (string, error)
}

// Push builds the image and pushes it under each tag, returning its digest.
type Push func(ctx context.Context, tags []string) (digest string, err error)

// Result is the published revision.
type Result struct {
	Ref    string // repository:revision@digest
	Reused bool   // the revision was already published: nothing was built or pushed
}

// Ensure returns the revision's published image, building and pushing it only when the revision tag does
// not exist yet.
func Ensure(ctx context.Context, repository string, reg Registry, revision string, extraTags []string, push Push) (Result, error) {
	if strings.TrimSpace(revision) == "" {
		return Result{}, errors.New("publish: the revision is empty: it is the image's tag (e.g. --revision $(git rev-parse HEAD))")
	}
	digest, err := reg.Digest(ctx, revision)
	if err != nil {
		return Result{}, fmt.Errorf("publish: looking up %s:%s: %w", repository, revision, err)
	}
	if digest != "" {
		return Result{Ref: Ref(repository, revision, digest), Reused: true}, nil
	}
	digest, err = push(ctx, append([]string{revision}, extraTags...))
	if err != nil {
		return Result{}, err
	}
	if !strings.HasPrefix(digest, "sha256:") {
		return Result{}, fmt.Errorf("publish: the push of %s:%s returned %q, not a sha256 digest", repository, revision, digest)
	}
	return Result{Ref: Ref(repository, revision, digest), Reused: false}, nil
}

// Ref is repository:tag@digest.
func Ref(repository, tag, digest string) string { return repository + ":" + tag + "@" + digest }

// DigestOf takes the digest out of a reference printed by a push (repository:tag@sha256:...).
func DigestOf(ref string) (string, error) {
	_, d, ok := strings.Cut(ref, "@")
	if !ok || !strings.HasPrefix(d, "sha256:") {
		return "", fmt.Errorf("publish: %q is not a digest reference", ref)
	}
	return d, nil
}

// NotPublishedError is a revision whose tag does not exist in the repository.
type NotPublishedError struct{ Repository, Revision string }

func (e *NotPublishedError) Error() string {
	return fmt.Sprintf("revision %s was never published to %s: build and publish it first (promote never builds)", e.Revision, e.Repository)
}

// Find returns the published image of a revision, or a *NotPublishedError.
func Find(ctx context.Context, repository string, reg Registry, revision string) (string, error) {
	digest, err := reg.Digest(ctx, revision)
	if err != nil {
		return "", fmt.Errorf("publish: looking up %s:%s: %w", repository, revision, err)
	}
	if digest == "" {
		return "", &NotPublishedError{Repository: repository, Revision: revision}
	}
	return Ref(repository, revision, digest), nil
}

// ECR looks tags up with ecr:DescribeImages, which the build role and every environment role may call.
type ECR struct {
	Config     aws.Config
	Repository string // the repository's name, not its URI
}

// Digest implements Registry.
func (e ECR) Digest(ctx context.Context, tag string) (string, error) {
	return ecr.ImageDigest(ctx, e.Config, e.Repository, tag)
}

// notFound are the words a registry (through the engine) uses for a tag that does not exist.
var notFound = []string{"not found", "manifest unknown", "MANIFEST_UNKNOWN", "NAME_UNKNOWN"}

// refused are the words of a registry refusing the lookup: the tag may well exist.
var refused = []string{"unauthorized", "UNAUTHORIZED", "denied", "DENIED"}

// statusCode finds an HTTP status code as a token of its own: not a digit run inside a port or a digest
// ("127.0.0.1:37401", "sha256:...4041...").
var statusCode = regexp.MustCompile(`(?:^|[^\w:.])(401|403|404)(?:$|[^\w.])`)

// IsNotFound reports whether a failed image lookup says the tag (or repository) does not exist, as opposed
// to the registry refusing or failing.
func IsNotFound(msg string) bool {
	codes := map[string]bool{}
	for _, m := range statusCode.FindAllStringSubmatch(msg, -1) {
		codes[m[1]] = true
	}
	if codes["401"] || codes["403"] || containsAny(msg, refused) {
		return false
	}
	return codes["404"] || containsAny(msg, notFound)
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
