// Rendering of the generated roles for people (text) and for tools (JSON, for
// Terraform/CDK users and tests). Both come from one Bundle, so what a
// reviewer reads is exactly what bootstrap creates.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

type jsonRoles struct {
	Roles      []jsonRole     `json:"roles"`
	SigningKey jsonSigningKey `json:"signingKey"`
}

type jsonSigningKey struct {
	Alias     string      `json:"alias"`
	AliasARN  string      `json:"aliasArn"`
	KeySpec   string      `json:"keySpec"`
	KeyUsage  string      `json:"keyUsage"`
	Access    []KeyAccess `json:"access"`
	KeyPolicy KeyPolicy   `json:"keyPolicy"`
}

type jsonRole struct {
	Name                   string           `json:"name"`
	Kind                   string           `json:"kind"`
	Environment            string           `json:"environment"`
	TrustPolicy            Document         `json:"trustPolicy"`
	PermissionPolicy       json.RawMessage  `json:"permissionPolicy"`
	AccessEntry            *jsonAccess      `json:"accessEntry"`
	PodIdentityAssociation *jsonPodIdentity `json:"podIdentityAssociation"`
}

type jsonAccess struct {
	Namespaces []string `json:"namespaces"`
}

type jsonPodIdentity struct {
	Cluster        string `json:"cluster"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	RoleARN        string `json:"roleArn"`
}

// RenderJSON prints every role as {"roles":[{"name","kind","environment","trustPolicy","permissionPolicy",
// "accessEntry":{"namespaces":[...]},"podIdentityAssociation":{"cluster","namespace","serviceAccount","roleArn"}}],
// "signingKey":{"alias","aliasArn","keySpec","keyUsage","access":[{"principal","actions"}],"keyPolicy"}};
// kind is build, deploy, plan or runtime, and the two last role keys are null where they do not apply.
func RenderJSON(in Inputs) ([]byte, error) {
	b, err := Generate(in)
	if err != nil {
		return nil, err
	}
	k := b.SigningKey
	out := jsonRoles{Roles: []jsonRole{}, SigningKey: jsonSigningKey{Alias: k.Alias, AliasARN: k.AliasARN,
		KeySpec: k.KeySpec, KeyUsage: k.KeyUsage, Access: k.Access(), KeyPolicy: k.Policy}}
	for _, r := range b.Roles {
		jr := jsonRole{Name: r.Name, Kind: r.Kind, Environment: r.Environment, TrustPolicy: r.TrustPolicy,
			PermissionPolicy: json.RawMessage(r.PermissionDocument())}
		if r.AccessEntry != nil {
			jr.AccessEntry = &jsonAccess{Namespaces: r.AccessEntry.Scope.Namespaces}
		}
		if p := r.PodIdentity; p != nil {
			jr.PodIdentityAssociation = &jsonPodIdentity{Cluster: p.Cluster, Namespace: p.Namespace, ServiceAccount: p.ServiceAccount, RoleARN: p.RoleARN}
		}
		out.Roles = append(out.Roles, jr)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render policies as JSON: %w", err)
	}
	return append(data, '\n'), nil
}

// RenderText prints the warnings, the provider, every role's documents and
// access entry, the namespaces to create, and the comparison.
func RenderText(in Inputs) (string, error) {
	b, err := Generate(in)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, w := range b.Warnings {
		fmt.Fprintf(&sb, "WARNING: %s\n", w)
	}
	fmt.Fprintf(&sb, "# OIDC provider\nurl: %s\nclient id: %s\n\n", b.Provider.URL, strings.Join(b.Provider.ClientIDs, ", "))
	for _, r := range b.Roles {
		writeRole(&sb, r)
	}
	writeSigningKey(&sb, b.SigningKey)
	fmt.Fprintf(&sb, "# Namespaces to create (the roles cannot)\n%s\n\n", strings.Join(b.Namespaces, "\n"))
	sb.WriteString(comparison(in.WithDefaults(), b))
	return sb.String(), nil
}

func writeRole(sb *strings.Builder, r Role) {
	fmt.Fprintf(sb, "# Role %s: %s\narn: %s\n\n", r.Name, Purpose(r), r.ARN)
	fmt.Fprintf(sb, "## trust policy\n%s\n", r.TrustPolicy.JSON())
	fmt.Fprintf(sb, "## inline permission policy %q\n%s\n", r.PermissionPolicyName, indentJSON(r.PermissionDocument()))
	if p := r.PodIdentity; p != nil {
		fmt.Fprintf(sb, "## EKS Pod Identity association on cluster %s\nservice account: %s/%s\nrole: %s\n", p.Cluster, p.Namespace, p.ServiceAccount, p.RoleARN)
		sb.WriteString("needs the EKS Pod Identity Agent add-on (eks-pod-identity-agent) on the cluster; no access entry: the pods' Kubernetes rights are their service account's RBAC\n\n")
	} else if e := r.AccessEntry; e != nil {
		fmt.Fprintf(sb, "## EKS access entry on cluster %s\nprincipal: %s (%s)\npolicy: %s\nscope: %s %s\n\n",
			e.Cluster, e.PrincipalARN, e.Type, e.PolicyARN, e.Scope.Type, strings.Join(e.Scope.Namespaces, ", "))
	} else {
		sb.WriteString("## EKS access entry\nnone: this role cannot reach the cluster\n\n")
	}
}

func writeSigningKey(sb *strings.Builder, k SigningKey) {
	fmt.Fprintf(sb, "# KMS key %s: signs attestations (%s, %s)\narn: %s\n\n## who may do what\n", k.Alias, k.KeySpec, k.KeyUsage, k.AliasARN)
	for _, a := range k.Access() {
		fmt.Fprintf(sb, "%s: %s\n", a.Principal, strings.Join(a.Actions, ", "))
	}
	fmt.Fprintf(sb, "\n## key policy\n%s\n", indentJSON(k.Policy.Compact()))
}

// Purpose says in a few words what a role is for.
func Purpose(r Role) string {
	switch r.Kind {
	case KindBuild:
		return "build and push images (no cluster access)"
	case KindDeploy:
		return "deploy to environment " + r.Environment
	case KindPlan:
		return "read-only plan for pull requests (opt-in)"
	case KindRuntime:
		return "the service's own AWS access in environment " + r.Environment + " (EKS Pod Identity)"
	}
	return r.Kind
}

// indentJSON indents a compact document for people; unchanged if not JSON.
func indentJSON(doc string) []byte {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(doc), "", "  "); err != nil {
		return []byte(doc + "\n")
	}
	return append(b.Bytes(), '\n')
}
