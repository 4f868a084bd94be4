// ECR operations (awsJson1.1): authorization tokens and repositories. The token
// password is the one a test configures on its real registry, so a push proves
// the whole login path rather than a stubbed one.
package fakeaws

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

func init() {
	register("ecr", "GetAuthorizationToken", getAuthorizationToken)
	register("ecr", "DescribeRepositories", describeRepositories)
	register("ecr", "CreateRepository", createRepository)
}

// Repository is an ECR repository with the settings it was created with.
type Repository struct {
	Name                       string         `json:"repositoryName"`
	ARN                        string         `json:"repositoryArn"`
	URI                        string         `json:"repositoryUri"`
	RegistryID                 string         `json:"registryId"`
	CreatedAt                  float64        `json:"createdAt"`
	ImageTagMutability         string         `json:"imageTagMutability"`
	ImageScanningConfiguration map[string]any `json:"imageScanningConfiguration,omitempty"`
	EncryptionConfiguration    map[string]any `json:"encryptionConfiguration,omitempty"`
}

// AddRepository creates a repository with default settings.
func (s *Server) AddRepository(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newRepository(name)
}

func (s *Server) newRepository(name string) *Repository {
	host := fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", s.Account, s.Region)
	if u, err := url.Parse(s.ECRProxyEndpoint); s.ECRRegistry != nil && err == nil {
		host = u.Host // the registry the test really pushes to
	}
	r := &Repository{Name: name, RegistryID: s.Account, ImageTagMutability: "MUTABLE",
		ARN:                        fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", s.Region, s.Account, name),
		URI:                        host + "/" + name,
		CreatedAt:                  float64(s.now().Unix()),
		ImageScanningConfiguration: map[string]any{"scanOnPush": false},
		EncryptionConfiguration:    map[string]any{"encryptionType": "AES256"}}
	s.state.repositories[name] = r
	return r
}

func (s *Server) ecrPassword() string {
	if s.ECRPassword == "" {
		s.ECRPassword = randomToken(64)
	}
	return s.ECRPassword
}

func getAuthorizationToken(s *Server, c *Call) (any, error) {
	tok := base64.StdEncoding.EncodeToString([]byte("AWS:" + s.ecrPassword()))
	exp := s.now().Add(12 * 3600e9).Unix()
	return map[string]any{"authorizationData": []map[string]any{
		{"authorizationToken": tok, "expiresAt": exp, "proxyEndpoint": s.ECRProxyEndpoint}}}, nil
}

func describeRepositories(s *Server, c *Call) (any, error) {
	var in struct {
		RepositoryNames []string `json:"repositoryNames"`
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	out := []*Repository{}
	for _, n := range in.RepositoryNames {
		r, ok := s.state.repositories[n]
		if !ok {
			return nil, apiErr(400, "RepositoryNotFoundException",
				"The repository with name '%s' does not exist in the registry with id '%s'", n, s.Account)
		}
		out = append(out, r)
	}
	if len(in.RepositoryNames) == 0 {
		for _, r := range s.state.repositories {
			out = append(out, r)
		}
	}
	return map[string]any{"repositories": out}, nil
}

func createRepository(s *Server, c *Call) (any, error) {
	name := c.Str("repositoryName")
	if name == "" || strings.ToLower(name) != name {
		return nil, apiErr(400, "InvalidParameterException", "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''")
	}
	if _, ok := s.state.repositories[name]; ok {
		return nil, apiErr(400, "RepositoryAlreadyExistsException",
			"The repository with name '%s' already exists in the registry with id '%s'", name, s.Account)
	}
	r := s.newRepository(name)
	if v := c.Str("imageTagMutability"); v != "" {
		r.ImageTagMutability = v
	}
	if v, ok := c.Body["imageScanningConfiguration"].(map[string]any); ok {
		r.ImageScanningConfiguration = v
	}
	if v, ok := c.Body["encryptionConfiguration"].(map[string]any); ok {
		r.EncryptionConfiguration = v
	}
	return map[string]any{"repository": r}, nil
}

// Repository returns a copy of a repository's state (nil if absent).
func (s *Server) Repository(name string) *Repository {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.state.repositories[name]
	if !ok {
		return nil
	}
	cp := *r
	return &cp
}
