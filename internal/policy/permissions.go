// The permission policies of the three kinds of role, each action with the
// reason it is there. Keeping the reasons next to the actions is what stops a
// grant from creeping in unexplained: the comparison prints them, and a test
// fails on an action without one.
package policy

// Grant is one IAM action and why a role needs it.
type Grant struct{ Action, Why string }

// PushActions are the ECR actions a push needs on the one repository.
// Pulling layers (GetDownloadUrlForLayer), listing, tagging, deleting and
// policy/lifecycle actions are deliberately absent.
var PushActions = []Grant{
	{"ecr:BatchCheckLayerAvailability", "HEAD on a blob: the push skips layers the repository already has"},
	{"ecr:InitiateLayerUpload", "POST /blobs/uploads/: starts each layer upload"},
	{"ecr:UploadLayerPart", "PATCH on the upload: sends the layer bytes"},
	{"ecr:CompleteLayerUpload", "PUT on the upload with ?digest=: commits the layer"},
	{"ecr:PutImage", "PUT of the manifest under the tag: the push itself"},
	{"ecr:BatchGetImage", "HEAD/GET of a manifest: the existence check before a push and the tag->digest lookup that pins the deployed image"},
	{"ecr:DescribeRepositories", "read-only, this repository only: lets the pipeline and doctor say \"repository missing\" instead of a bare 403"},
}

// BuildActions are what the build role may do on the one repository.
var BuildActions = append(append([]Grant(nil), PushActions...),
	Grant{"ecr:DescribeImages", "looks up the revision tag first, so publishing a revision twice returns the existing digest instead of pushing again"},
	Grant{"ecr:DescribeImageScanFindings", "reads the pushed image's scan findings, so publish reports the vulnerability verdict"})

// ReadActions are what an environment role may do on the one repository:
// resolve a revision tag to its digest and check the image exists, through
// the ECR API, and read the signed provenance the gate checks, through the
// registry API (referrers and their blobs).
var ReadActions = []Grant{
	{"ecr:DescribeImages", "tag -> digest and existence of the revision being deployed or promoted (ECR API, no registry login)"},
	{"ecr:BatchGetImage", "reads the manifest by tag or digest to confirm the digest (ECR API, no registry login)"},
	{"ecr:DescribeRepositories", "read-only, this repository only: \"repository missing\" instead of a bare 403"},
	{"ecr:DescribeImageScanFindings", "reads the image's scan findings: the vulnerability gate of a promote to a protected environment"},
	{"ecr:GetDownloadUrlForLayer", "reads the signed provenance bundle (a blob) the provenance gate verifies before a deploy or promote; the nodes pull the image itself with their own role"},
}

// LoginGrant is the registry login: the build role pushes with it, the
// environment roles read the image's referrers (the provenance gate) with it.
// It takes no resource in IAM; what a login may read or write is decided by
// the repository actions of each role.
var LoginGrant = Grant{"ecr:GetAuthorizationToken", "registry login: the build role's push, the environment roles' read of the image's signed provenance (the provenance gate); IAM offers no resource to scope it to, and it grants nothing on a repository by itself"}

// DescribeClusterGrant gives kubectl the endpoint and CA of the one cluster.
var DescribeClusterGrant = Grant{"eks:DescribeCluster", "the cluster endpoint and CA for kubectl, on this one cluster"}

func actions(gs []Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Action
	}
	return sortedCopy(out)
}

// buildPermissions: push to one repository and log in. No cluster at all.
func buildPermissions(in Inputs) Document {
	return Document{Version: policyVersion, Statement: []Statement{
		{Sid: "PushToOneRepository", Effect: "Allow", Action: actions(BuildActions), Resource: []string{in.RepositoryARN()}},
		// GetAuthorizationToken is account-wide in IAM: it takes no resource.
		{Sid: "ECRLogin", Effect: "Allow", Action: []string{LoginGrant.Action}, Resource: []string{"*"}},
	}}
}

// deployPermissions: read the one repository, describe the one cluster.
func deployPermissions(in Inputs) Document {
	return Document{Version: policyVersion, Statement: []Statement{
		{Sid: "ReadOneRepository", Effect: "Allow", Action: actions(ReadActions), Resource: []string{in.RepositoryARN()}},
		{Sid: "ECRLogin", Effect: "Allow", Action: []string{LoginGrant.Action}, Resource: []string{"*"}},
		describeCluster(in),
	}}
}

// planPermissions: describe the one cluster; Kubernetes access is read-only.
func planPermissions(in Inputs) Document {
	return Document{Version: policyVersion, Statement: []Statement{describeCluster(in)}}
}

func describeCluster(in Inputs) Statement {
	return Statement{Sid: "DescribeOneCluster", Effect: "Allow", Action: []string{DescribeClusterGrant.Action}, Resource: []string{in.ClusterARN()}}
}
