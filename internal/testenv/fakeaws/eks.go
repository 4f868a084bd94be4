// EKS operations (restJson1): clusters and access entries with their policy
// associations. Principal ARNs travel escaped in the path, as the SDK sends
// them, so path handling bugs surface here.
package fakeaws

import (
	"encoding/base64"
	"fmt"
	"sort"
)

func init() {
	routesEKS := []struct{ method, pattern, op string }{
		{"GET", "/clusters/{name}", "DescribeCluster"},
		{"POST", "/clusters/{name}/access-entries", "CreateAccessEntry"},
		{"GET", "/clusters/{name}/access-entries", "ListAccessEntries"},
		{"GET", "/clusters/{name}/access-entries/{principalArn}", "DescribeAccessEntry"},
		{"DELETE", "/clusters/{name}/access-entries/{principalArn}", "DeleteAccessEntry"},
		{"POST", "/clusters/{name}/access-entries/{principalArn}/access-policies", "AssociateAccessPolicy"},
		{"GET", "/clusters/{name}/access-entries/{principalArn}/access-policies", "ListAssociatedAccessPolicies"},
		{"DELETE", "/clusters/{name}/access-entries/{principalArn}/access-policies/{policyArn}", "DisassociateAccessPolicy"},
	}
	for _, r := range routesEKS {
		registerRoute("eks", r.method, r.pattern, r.op)
	}
	register("eks", "DescribeCluster", describeCluster)
	register("eks", "CreateAccessEntry", createAccessEntry)
	register("eks", "ListAccessEntries", listAccessEntries)
	register("eks", "DescribeAccessEntry", describeAccessEntry)
	register("eks", "DeleteAccessEntry", deleteAccessEntry)
	register("eks", "AssociateAccessPolicy", associateAccessPolicy)
	register("eks", "ListAssociatedAccessPolicies", listAssociatedAccessPolicies)
	register("eks", "DisassociateAccessPolicy", disassociateAccessPolicy)
}

// Cluster is an EKS cluster.
type Cluster struct {
	Name, ARN, Endpoint, Version, Status string
	CAPEM                                []byte
	CreatedAt                            int64
}

// AccessEntry is an EKS access entry with its associated policies.
type AccessEntry struct {
	PrincipalARN     string
	Type, Username   string
	KubernetesGroups []string
	CreatedAt        int64
	Policies         map[string]map[string]any // policy ARN -> accessScope
}

// AddCluster registers an ACTIVE cluster.
func (s *Server) AddCluster(name, endpoint string, caPEM []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.clusters[name] = &Cluster{Name: name, Endpoint: endpoint, CAPEM: caPEM, Version: "1.34",
		Status: "ACTIVE", CreatedAt: s.now().Unix(),
		ARN: fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", s.Region, s.Account, name)}
	s.state.accessEntries[name] = map[string]*AccessEntry{}
}

// SetClusterStatus changes a cluster's status (CREATING, UPDATING, ...).
func (s *Server) SetClusterStatus(name, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.state.clusters[name]; c != nil {
		c.Status = status
	}
}

// AccessEntries returns a snapshot of a cluster's access entries.
func (s *Server) AccessEntries(cluster string) map[string]AccessEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]AccessEntry{}
	for k, v := range s.state.accessEntries[cluster] {
		out[k] = *v
	}
	return out
}

func clusterParam(s *Server, c *Call) (*Cluster, *APIError) {
	cl, ok := s.state.clusters[c.Path("name")]
	if !ok {
		return nil, apiErr(404, "ResourceNotFoundException", "No cluster found for name: %s.", c.Path("name"))
	}
	return cl, nil
}

func describeCluster(s *Server, c *Call) (any, error) {
	cl, e := clusterParam(s, c)
	if e != nil {
		return nil, e
	}
	return map[string]any{"cluster": map[string]any{
		"name": cl.Name, "arn": cl.ARN, "endpoint": cl.Endpoint, "version": cl.Version,
		"status": cl.Status, "createdAt": cl.CreatedAt, "platformVersion": "eks.1",
		"certificateAuthority": map[string]any{"data": base64.StdEncoding.EncodeToString(cl.CAPEM)},
		"accessConfig":         map[string]any{"authenticationMode": "API_AND_CONFIG_MAP"},
	}}, nil
}

func entryJSON(cluster string, s *Server, e *AccessEntry) map[string]any {
	return map[string]any{"clusterName": cluster, "principalArn": e.PrincipalARN,
		"kubernetesGroups": e.KubernetesGroups, "type": e.Type, "username": e.Username,
		"createdAt": e.CreatedAt, "modifiedAt": e.CreatedAt,
		"accessEntryArn": fmt.Sprintf("arn:aws:eks:%s:%s:access-entry/%s/%s", s.Region, s.Account, cluster, e.PrincipalARN)}
}

func entryParam(s *Server, c *Call) (*AccessEntry, *APIError) {
	if _, e := clusterParam(s, c); e != nil {
		return nil, e
	}
	arn := c.Path("principalArn")
	e, ok := s.state.accessEntries[c.Path("name")][arn]
	if !ok {
		return nil, apiErr(404, "ResourceNotFoundException", "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.")
	}
	return e, nil
}

func createAccessEntry(s *Server, c *Call) (any, error) {
	if _, e := clusterParam(s, c); e != nil {
		return nil, e
	}
	var in struct {
		PrincipalArn     string   `json:"principalArn"`
		Type             string   `json:"type"`
		Username         string   `json:"username"`
		KubernetesGroups []string `json:"kubernetesGroups"`
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if in.PrincipalArn == "" {
		return nil, apiErr(400, "InvalidParameterException", "principalArn is required")
	}
	entries := s.state.accessEntries[c.Path("name")]
	if _, ok := entries[in.PrincipalArn]; ok {
		return nil, apiErr(409, "ResourceInUseException", "The specified access entry resource is already in use on this cluster.")
	}
	if in.Type == "" {
		in.Type = "STANDARD"
	}
	if in.Username == "" {
		in.Username = in.PrincipalArn
	}
	e := &AccessEntry{PrincipalARN: in.PrincipalArn, Type: in.Type, Username: in.Username,
		KubernetesGroups: in.KubernetesGroups, CreatedAt: s.now().Unix(), Policies: map[string]map[string]any{}}
	entries[in.PrincipalArn] = e
	return map[string]any{"accessEntry": entryJSON(c.Path("name"), s, e)}, nil
}

func listAccessEntries(s *Server, c *Call) (any, error) {
	if _, e := clusterParam(s, c); e != nil {
		return nil, e
	}
	out := []string{}
	for arn := range s.state.accessEntries[c.Path("name")] {
		out = append(out, arn)
	}
	sort.Strings(out)
	return map[string]any{"accessEntries": out}, nil
}

func describeAccessEntry(s *Server, c *Call) (any, error) {
	e, ae := entryParam(s, c)
	if ae != nil {
		return nil, ae
	}
	return map[string]any{"accessEntry": entryJSON(c.Path("name"), s, e)}, nil
}

func deleteAccessEntry(s *Server, c *Call) (any, error) {
	if _, ae := entryParam(s, c); ae != nil {
		return nil, ae
	}
	delete(s.state.accessEntries[c.Path("name")], c.Path("principalArn"))
	return map[string]any{}, nil
}

func associateAccessPolicy(s *Server, c *Call) (any, error) {
	e, ae := entryParam(s, c)
	if ae != nil {
		return nil, ae
	}
	policy := c.Str("policyArn")
	scope, _ := c.Body["accessScope"].(map[string]any)
	if policy == "" || scope == nil {
		return nil, apiErr(400, "InvalidParameterException", "policyArn and accessScope are required")
	}
	e.Policies[policy] = scope
	return map[string]any{"clusterName": c.Path("name"), "principalArn": e.PrincipalARN,
		"associatedAccessPolicy": policyJSON(policy, scope, s)}, nil
}

func policyJSON(arn string, scope map[string]any, s *Server) map[string]any {
	t := s.now().Unix()
	return map[string]any{"policyArn": arn, "accessScope": scope, "associatedAt": t, "modifiedAt": t}
}

func listAssociatedAccessPolicies(s *Server, c *Call) (any, error) {
	e, ae := entryParam(s, c)
	if ae != nil {
		return nil, ae
	}
	arns := make([]string, 0, len(e.Policies))
	for arn := range e.Policies {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	out := []map[string]any{}
	for _, arn := range arns {
		out = append(out, policyJSON(arn, e.Policies[arn], s))
	}
	return map[string]any{"clusterName": c.Path("name"), "principalArn": e.PrincipalARN,
		"associatedAccessPolicies": out}, nil
}

func disassociateAccessPolicy(s *Server, c *Call) (any, error) {
	e, ae := entryParam(s, c)
	if ae != nil {
		return nil, ae
	}
	delete(e.Policies, c.Path("policyArn"))
	return map[string]any{}, nil
}
