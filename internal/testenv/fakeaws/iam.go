// IAM operations for OIDC providers, roles and inline role policies. Policy
// documents come back URL-encoded, as real IAM returns them, so callers that
// forget to decode fail here too.
package fakeaws

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func init() {
	register("iam", "CreateOpenIDConnectProvider", createOIDCProvider)
	register("iam", "GetOpenIDConnectProvider", getOIDCProvider)
	register("iam", "ListOpenIDConnectProviders", listOIDCProviders)
	register("iam", "AddClientIDToOpenIDConnectProvider", addClientID)
	register("iam", "CreateRole", createRole)
	register("iam", "GetRole", getRole)
	register("iam", "UpdateAssumeRolePolicy", updateAssumeRolePolicy)
	register("iam", "PutRolePolicy", putRolePolicy)
	register("iam", "GetRolePolicy", getRolePolicy)
}

// IAMEncode URL-encodes a policy document the way IAM returns it.
func IAMEncode(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

func checkPolicy(doc string) *APIError {
	var v map[string]any
	if doc == "" || json.Unmarshal([]byte(doc), &v) != nil {
		return apiErr(400, "MalformedPolicyDocument", "Syntax errors in policy.")
	}
	return nil
}

type memberList struct {
	Member []string `xml:"member"`
}

func createOIDCProvider(s *Server, c *Call) (any, error) {
	u := c.Param("Url")
	if !strings.HasPrefix(u, "https://") {
		return nil, apiErr(400, "InvalidInput", "Url must use https")
	}
	arn := fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", s.Account, strings.TrimPrefix(u, "https://"))
	if _, ok := s.state.providers[arn]; ok {
		return nil, EntityAlreadyExists("Provider with url %s already exists.", u)
	}
	p := s.ensureProvider(u, c.Members("ClientIDList")...)
	p.Thumbprints = c.Members("ThumbprintList")
	return struct{ OpenIDConnectProviderArn string }{p.ARN}, nil
}

func providerParam(s *Server, c *Call) (*OIDCProvider, *APIError) {
	arn := c.Param("OpenIDConnectProviderArn")
	p, ok := s.state.providers[arn]
	if !ok {
		return nil, NoSuchEntity("OpenIDConnect Provider not found for arn %s", arn)
	}
	return p, nil
}

func getOIDCProvider(s *Server, c *Call) (any, error) {
	p, e := providerParam(s, c)
	if e != nil {
		return nil, e
	}
	return struct {
		Url            string
		ClientIDList   memberList
		ThumbprintList memberList
		CreateDate     string
	}{p.URL, memberList{p.ClientIDs}, memberList{p.Thumbprints}, p.Created.UTC().Format(time.RFC3339)}, nil
}

func listOIDCProviders(s *Server, c *Call) (any, error) {
	type entry struct{ Arn string }
	var out struct {
		List []entry `xml:"OpenIDConnectProviderList>member"`
	}
	for arn := range s.state.providers {
		out.List = append(out.List, entry{arn})
	}
	return out, nil
}

func addClientID(s *Server, c *Call) (any, error) {
	p, e := providerParam(s, c)
	if e != nil {
		return nil, e
	}
	if id := c.Param("ClientID"); !contains(p.ClientIDs, id) {
		p.ClientIDs = append(p.ClientIDs, id)
	}
	return struct{}{}, nil
}

type roleXML struct {
	Path                     string
	RoleName                 string
	RoleId                   string
	Arn                      string
	CreateDate               string
	AssumeRolePolicyDocument string
	Description              string `xml:",omitempty"`
	MaxSessionDuration       int
}

func toRoleXML(r *Role) roleXML {
	return roleXML{r.Path, r.Name, r.RoleID, r.ARN, r.Created.UTC().Format(time.RFC3339),
		IAMEncode(r.TrustPolicy), r.Description, r.MaxSessionDuration}
}

func createRole(s *Server, c *Call) (any, error) {
	name, path := c.Param("RoleName"), c.Param("Path")
	if path == "" {
		path = "/"
	}
	if _, ok := s.state.roles[name]; ok {
		return nil, EntityAlreadyExists("Role with name %s already exists.", name)
	}
	doc := c.Param("AssumeRolePolicyDocument")
	if e := checkPolicy(doc); e != nil {
		return nil, e
	}
	r := s.putRole(fmt.Sprintf("arn:aws:iam::%s:role%s%s", s.Account, path, name), doc)
	r.Description = c.Param("Description")
	if v := c.Param("MaxSessionDuration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3600 || n > 43200 {
			delete(s.state.roles, name)
			return nil, ValidationError("MaxSessionDuration must be between 3600 and 43200 seconds")
		}
		r.MaxSessionDuration = n
	}
	return struct{ Role roleXML }{toRoleXML(r)}, nil
}

func roleParam(s *Server, c *Call) (*Role, *APIError) {
	name := c.Param("RoleName")
	r, ok := s.state.roles[name]
	if !ok {
		return nil, NoSuchEntity("The role with name %s cannot be found.", name)
	}
	return r, nil
}

func getRole(s *Server, c *Call) (any, error) {
	r, e := roleParam(s, c)
	if e != nil {
		return nil, e
	}
	return struct{ Role roleXML }{toRoleXML(r)}, nil
}

func updateAssumeRolePolicy(s *Server, c *Call) (any, error) {
	r, e := roleParam(s, c)
	if e != nil {
		return nil, e
	}
	doc := c.Param("PolicyDocument")
	if e := checkPolicy(doc); e != nil {
		return nil, e
	}
	r.TrustPolicy = doc
	return struct{}{}, nil
}

func putRolePolicy(s *Server, c *Call) (any, error) {
	r, e := roleParam(s, c)
	if e != nil {
		return nil, e
	}
	doc := c.Param("PolicyDocument")
	if e := checkPolicy(doc); e != nil {
		return nil, e
	}
	r.InlinePolicies[c.Param("PolicyName")] = doc
	return struct{}{}, nil
}

func getRolePolicy(s *Server, c *Call) (any, error) {
	r, e := roleParam(s, c)
	if e != nil {
		return nil, e
	}
	name := c.Param("PolicyName")
	doc, ok := r.InlinePolicies[name]
	if !ok {
		return nil, NoSuchEntity("The role policy with name %s cannot be found.", name)
	}
	return struct{ RoleName, PolicyName, PolicyDocument string }{r.Name, name, IAMEncode(doc)}, nil
}

// Role returns a copy of a role's state (nil if absent), for assertions.
func (s *Server) Role(name string) *Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.state.roles[name]
	if !ok {
		return nil
	}
	cp := *r
	cp.InlinePolicies = map[string]string{}
	for k, v := range r.InlinePolicies {
		cp.InlinePolicies[k] = v
	}
	return &cp
}
