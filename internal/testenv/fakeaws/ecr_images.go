// ECR image lookups (DescribeImages by tag), answered from the real registry the test pushes to: the fake
// keeps no image list of its own, so what it reports is exactly what crossed the wire.
package fakeaws

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

func init() {
	register("ecr", "DescribeImages", describeImages)
}

func describeImages(s *Server, c *Call) (any, error) {
	var in struct {
		RepositoryName string `json:"repositoryName"`
		ImageIDs       []struct {
			ImageTag string `json:"imageTag"`
		} `json:"imageIds"`
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if _, ok := s.state.repositories[in.RepositoryName]; !ok {
		return nil, apiErr(400, "RepositoryNotFoundException",
			"The repository with name '%s' does not exist in the registry with id '%s'", in.RepositoryName, s.Account)
	}
	if s.ECRRegistry == nil || len(in.ImageIDs) != 1 || in.ImageIDs[0].ImageTag == "" {
		return nil, ValidationError("this fake answers DescribeImages for one imageTag, with ECRRegistry set")
	}
	tag := in.ImageIDs[0].ImageTag
	digest, err := s.registryDigest(in.RepositoryName, tag)
	if err != nil {
		return nil, apiErr(500, "ServerException", "%v", err)
	}
	if digest == "" {
		return nil, apiErr(400, "ImageNotFoundException",
			"The image with imageId {imageDigest:'null', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
			tag, in.RepositoryName, s.Account)
	}
	return map[string]any{"imageDetails": []map[string]any{{"registryId": s.Account, "repositoryName": in.RepositoryName,
		"imageDigest": digest, "imageTags": []string{tag}}}}, nil
}

// registryDigest HEADs the manifest in the registry: "" when the tag does not exist.
func (s *Server) registryDigest(repo, tag string) (string, error) {
	u, err := url.Parse(s.ECRProxyEndpoint)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodHead, fmt.Sprintf("%s://%s/v2/%s/manifests/%s", u.Scheme, u.Host, repo, tag), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("AWS", s.ecrPassword())
	req.Header.Set("Accept", strings.Join([]string{"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"}, ","))
	resp, err := s.ECRRegistry.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Header.Get("Docker-Content-Digest"), nil
	case http.StatusNotFound:
		return "", nil
	default:
		return "", fmt.Errorf("registry answered HEAD %s:%s with %s", repo, tag, resp.Status)
	}
}
