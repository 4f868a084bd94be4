// Reference parsing for Tag. It guards against names that local clusters
// would store under a different name than the Deployment asks for: a
// missing tag (defaulting to :latest makes Kubernetes pull instead of using
// the loaded image), a digest (not a name), or an invalid reference.
package imagearchive

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// hubRegistry is the registry containerd writes into normalized names of
// Docker Hub images ("docker.io/library/app:dev"); it is only a naming
// convention here, never contacted.
const hubRegistry = "docker.io"

// imageName is one reference in the three spellings the formats need.
type imageName struct {
	full     string // containerd's normalized name: docker.io/library/app:dev
	familiar string // docker save's RepoTags spelling: app:dev
	tag      string // OCI ref.name: dev
}

func parseRef(ref string) (imageName, error) {
	hint := "give a tagged name such as fastapi-app:dev or 127.0.0.1:5000/fastapi-app:dev"
	if ref == "" || strings.TrimSpace(ref) != ref {
		return imageName{}, fmt.Errorf("%w: %q is empty or has surrounding spaces; %s", ErrBadRef, ref, hint)
	}
	if strings.Contains(ref, "@") {
		return imageName{}, fmt.Errorf("%w: %q names a digest, but an archive is loaded by tag; %s", ErrBadRef, ref, hint)
	}
	t, err := name.NewTag(ref, name.WithDefaultTag(""))
	if err != nil {
		return imageName{}, fmt.Errorf("%w: %q: %v (names are lowercase; tags are letters, digits, '.', '_', '-'); %s", ErrBadRef, ref, err, hint)
	}
	if t.TagStr() == "" {
		return imageName{}, fmt.Errorf("%w: %q has no tag, and a :latest image is pulled again by Kubernetes instead of using the loaded one; %s",
			ErrBadRef, ref, hint)
	}
	registry, repo := t.RegistryStr(), t.RepositoryStr()
	if registry == name.DefaultRegistry {
		registry = hubRegistry
	}
	n := imageName{full: registry + "/" + repo + ":" + t.TagStr(), tag: t.TagStr()}
	n.familiar = n.full
	if registry == hubRegistry {
		short := strings.TrimPrefix(repo, "library/")
		if strings.Contains(short, "/") {
			short = repo
		}
		n.familiar = short + ":" + t.TagStr()
	}
	return n, nil
}
