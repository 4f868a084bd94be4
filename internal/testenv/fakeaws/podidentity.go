// EKS Pod Identity associations and add-ons (restJson1), as bootstrap and
// doctor use them for the service's runtime role. Like EKS, the fake allows
// one association per namespace and service account, refuses a role that
// does not exist, and answers an absent add-on with ResourceNotFoundException,
// so "create it" versus "fix it" decisions meet the real answers.
package fakeaws

import (
	"fmt"
	"sort"
	"strconv"
)

func init() {
	for _, r := range []struct{ method, pattern, op string }{
		{"POST", "/clusters/{name}/pod-identity-associations", "CreatePodIdentityAssociation"},
		{"GET", "/clusters/{name}/pod-identity-associations", "ListPodIdentityAssociations"},
		{"GET", "/clusters/{name}/pod-identity-associations/{associationId}", "DescribePodIdentityAssociation"},
		{"POST", "/clusters/{name}/pod-identity-associations/{associationId}", "UpdatePodIdentityAssociation"},
		{"DELETE", "/clusters/{name}/pod-identity-associations/{associationId}", "DeletePodIdentityAssociation"},
		{"GET", "/clusters/{name}/addons/{addonName}", "DescribeAddon"},
	} {
		registerRoute("eks", r.method, r.pattern, r.op)
	}
	register("eks", "CreatePodIdentityAssociation", createPodIdentityAssociation)
	register("eks", "ListPodIdentityAssociations", listPodIdentityAssociations)
	register("eks", "DescribePodIdentityAssociation", describePodIdentityAssociation)
	register("eks", "UpdatePodIdentityAssociation", updatePodIdentityAssociation)
	register("eks", "DeletePodIdentityAssociation", deletePodIdentityAssociation)
	register("eks", "DescribeAddon", describeAddon)
}

// PodIdentityAssociation is an EKS Pod Identity association.
type PodIdentityAssociation struct {
	ID, ARN, Cluster, Namespace, ServiceAccount, RoleARN string
	DisableSessionTags                                   bool
	CreatedAt, ModifiedAt                                int64
}

// Addon is an installed EKS add-on.
type Addon struct {
	Name, Version, Status string
}

const (
	associationsBucket = "eks-pod-identity-associations" // ID -> *PodIdentityAssociation
	addonsBucket       = "eks-addons"                    // cluster/name -> *Addon
)

// AddAddon installs an add-on on a cluster with the given status (ACTIVE,
// DEGRADED, CREATING...).
func (s *Server) AddAddon(cluster, name, version, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Bucket(addonsBucket)[cluster+"/"+name] = &Addon{Name: name, Version: version, Status: status}
}

// PodIdentityAssociations returns a snapshot of a cluster's associations.
func (s *Server) PodIdentityAssociations(cluster string) []PodIdentityAssociation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PodIdentityAssociation
	for _, a := range s.associations(cluster) {
		out = append(out, *a)
	}
	return out
}

// associations lists a cluster's associations by ID, with the lock held.
func (s *Server) associations(cluster string) []*PodIdentityAssociation {
	var out []*PodIdentityAssociation
	for _, v := range s.Bucket(associationsBucket) {
		if a := v.(*PodIdentityAssociation); a.Cluster == cluster {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func associationJSON(a *PodIdentityAssociation) map[string]any {
	return map[string]any{"association": map[string]any{
		"associationArn": a.ARN, "associationId": a.ID, "clusterName": a.Cluster, "namespace": a.Namespace,
		"serviceAccount": a.ServiceAccount, "roleArn": a.RoleARN, "disableSessionTags": a.DisableSessionTags,
		"createdAt": a.CreatedAt, "modifiedAt": a.ModifiedAt, "tags": map[string]string{},
	}}
}

// roleExists checks a role ARN of this account against IAM's state, as EKS
// does before associating it.
func (s *Server) roleExists(arn string) bool {
	for _, r := range s.state.roles {
		if r.ARN == arn {
			return true
		}
	}
	return false
}

func createPodIdentityAssociation(s *Server, c *Call) (any, error) {
	cl, e := clusterParam(s, c)
	if e != nil {
		return nil, e
	}
	var in struct {
		Namespace          string `json:"namespace"`
		ServiceAccount     string `json:"serviceAccount"`
		RoleArn            string `json:"roleArn"`
		DisableSessionTags bool   `json:"disableSessionTags"`
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if in.Namespace == "" || in.ServiceAccount == "" || in.RoleArn == "" {
		return nil, apiErr(400, "InvalidParameterException", "namespace, serviceAccount and roleArn are required")
	}
	if !s.roleExists(in.RoleArn) {
		return nil, apiErr(400, "InvalidParameterException", "Role %s does not exist", in.RoleArn)
	}
	for _, a := range s.associations(cl.Name) {
		if a.Namespace == in.Namespace && a.ServiceAccount == in.ServiceAccount {
			return nil, apiErr(409, "ResourceInUseException", "Association already exists: %s", a.ID)
		}
	}
	id := "a-" + randomFrom("abcdefghijklmnopqrstuvwxyz0123456789", 17)
	now := s.now().Unix()
	a := &PodIdentityAssociation{ID: id, Cluster: cl.Name, Namespace: in.Namespace, ServiceAccount: in.ServiceAccount,
		RoleARN: in.RoleArn, DisableSessionTags: in.DisableSessionTags, CreatedAt: now, ModifiedAt: now,
		ARN: fmt.Sprintf("arn:aws:eks:%s:%s:podidentityassociation/%s/%s", s.Region, s.Account, cl.Name, id)}
	s.Bucket(associationsBucket)[id] = a
	return associationJSON(a), nil
}

// listPodIdentityAssociations filters by namespace and service account and
// pages with maxResults/nextToken (an offset here; opaque to the SDK).
func listPodIdentityAssociations(s *Server, c *Call) (any, error) {
	cl, e := clusterParam(s, c)
	if e != nil {
		return nil, e
	}
	ns, sa := c.Query.Get("namespace"), c.Query.Get("serviceAccount")
	var match []*PodIdentityAssociation
	for _, a := range s.associations(cl.Name) {
		if (ns == "" || a.Namespace == ns) && (sa == "" || a.ServiceAccount == sa) {
			match = append(match, a)
		}
	}
	start, _ := strconv.Atoi(c.Query.Get("nextToken"))
	limit, err := strconv.Atoi(c.Query.Get("maxResults"))
	if err != nil || limit <= 0 {
		limit = 100
	}
	out := map[string]any{}
	summaries := []map[string]any{}
	for i := start; i < len(match) && i < start+limit; i++ {
		a := match[i]
		summaries = append(summaries, map[string]any{"associationArn": a.ARN, "associationId": a.ID,
			"clusterName": a.Cluster, "namespace": a.Namespace, "serviceAccount": a.ServiceAccount})
	}
	out["associations"] = summaries
	if start+limit < len(match) {
		out["nextToken"] = strconv.Itoa(start + limit)
	}
	return out, nil
}

func associationParam(s *Server, c *Call) (*PodIdentityAssociation, *APIError) {
	if _, e := clusterParam(s, c); e != nil {
		return nil, e
	}
	v, ok := s.Bucket(associationsBucket)[c.Path("associationId")]
	if !ok || v.(*PodIdentityAssociation).Cluster != c.Path("name") {
		return nil, apiErr(404, "ResourceNotFoundException", "No Pod Identity Association found with id: %s", c.Path("associationId"))
	}
	return v.(*PodIdentityAssociation), nil
}

func describePodIdentityAssociation(s *Server, c *Call) (any, error) {
	a, e := associationParam(s, c)
	if e != nil {
		return nil, e
	}
	return associationJSON(a), nil
}

func updatePodIdentityAssociation(s *Server, c *Call) (any, error) {
	a, e := associationParam(s, c)
	if e != nil {
		return nil, e
	}
	var in struct {
		RoleArn            string `json:"roleArn"`
		DisableSessionTags *bool  `json:"disableSessionTags"`
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if in.RoleArn != "" {
		if !s.roleExists(in.RoleArn) {
			return nil, apiErr(400, "InvalidParameterException", "Role %s does not exist", in.RoleArn)
		}
		a.RoleARN = in.RoleArn
	}
	if in.DisableSessionTags != nil {
		a.DisableSessionTags = *in.DisableSessionTags
	}
	a.ModifiedAt = s.now().Unix()
	return associationJSON(a), nil
}

func deletePodIdentityAssociation(s *Server, c *Call) (any, error) {
	a, e := associationParam(s, c)
	if e != nil {
		return nil, e
	}
	delete(s.Bucket(associationsBucket), a.ID)
	return associationJSON(a), nil
}

func describeAddon(s *Server, c *Call) (any, error) {
	cl, e := clusterParam(s, c)
	if e != nil {
		return nil, e
	}
	name := c.Path("addonName")
	v, ok := s.Bucket(addonsBucket)[cl.Name+"/"+name]
	if !ok {
		return nil, apiErr(404, "ResourceNotFoundException", "No addon: %s found in cluster: %s", name, cl.Name)
	}
	a := v.(*Addon)
	t := s.now().Unix()
	return map[string]any{"addon": map[string]any{
		"addonName": a.Name, "addonVersion": a.Version, "clusterName": cl.Name, "status": a.Status,
		"addonArn":  fmt.Sprintf("arn:aws:eks:%s:%s:addon/%s/%s/fake", s.Region, s.Account, cl.Name, a.Name),
		"createdAt": t, "modifiedAt": t, "health": map[string]any{"issues": []any{}},
	}}, nil
}
