// The pod identity and add-on calls through the real EKS client: the SDK's
// own serializers and deserializers meet the fake's routes and shapes, the
// signature is enforced, and EKS's rules (one association per service
// account, an existing role) hold.
package fakeaws

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

func TestPodIdentityAssociations(t *testing.T) {
	s := New(t, Options{Region: "eu-west-1"})
	s.AddUser(CanaryAccessKeyID, CanarySecretKey)
	s.AddCluster("c1", "https://127.0.0.1:6443", []byte("ca"))
	ctx := context.Background()
	cfg := cfgFor(s, CanaryAccessKeyID, CanarySecretKey)
	client := eks.NewFromConfig(cfg)
	create := func(role string) (*eks.CreatePodIdentityAssociationOutput, error) {
		return client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("c1"),
			Namespace: aws.String("shop"), ServiceAccount: aws.String("api"), RoleArn: aws.String(role)})
	}
	roleARN := "arn:aws:iam::123456789012:role/app-runtime"
	if _, err := create(roleARN); errCode(err) != "InvalidParameterException" {
		t.Fatalf("create with a missing role: %v, want InvalidParameterException", err)
	}
	for _, name := range []string{"app-runtime", "other"} {
		if _, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(`{"Statement":[]}`)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := create(roleARN)
	if err != nil {
		t.Fatal(err)
	}
	a := out.Association
	if aws.ToString(a.RoleArn) != roleARN || aws.ToString(a.Namespace) != "shop" || aws.ToString(a.ServiceAccount) != "api" ||
		aws.ToBool(a.DisableSessionTags) || a.CreatedAt == nil {
		t.Fatalf("created = %+v", a)
	}
	if _, err := create(roleARN); errCode(err) != "ResourceInUseException" {
		t.Errorf("second association for one service account: %v", err)
	}
	list, err := client.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("c1"),
		Namespace: aws.String("shop"), ServiceAccount: aws.String("api")})
	if err != nil || len(list.Associations) != 1 || aws.ToString(list.Associations[0].AssociationId) != aws.ToString(a.AssociationId) {
		t.Fatalf("list = %+v, %v", list, err)
	}
	other, _ := client.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("c1"), Namespace: aws.String("other")})
	if len(other.Associations) != 0 {
		t.Errorf("namespace filter ignored: %+v", other.Associations)
	}
	up, err := client.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("c1"),
		AssociationId: a.AssociationId, RoleArn: aws.String("arn:aws:iam::123456789012:role/other"), DisableSessionTags: aws.Bool(true)})
	if err != nil || aws.ToString(up.Association.RoleArn) != "arn:aws:iam::123456789012:role/other" || !aws.ToBool(up.Association.DisableSessionTags) {
		t.Fatalf("update = %+v, %v", up, err)
	}
	desc, err := client.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: a.AssociationId})
	if err != nil || aws.ToString(desc.Association.RoleArn) != "arn:aws:iam::123456789012:role/other" {
		t.Fatalf("describe = %+v, %v", desc, err)
	}
	if _, err := client.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: a.AssociationId}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("c1"), AssociationId: a.AssociationId}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("describe after delete: %v", err)
	}
	_, err = eks.NewFromConfig(cfgFor(s, CanaryAccessKeyID, "x"+CanarySecretKey[1:])).ListPodIdentityAssociations(ctx,
		&eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("c1")})
	if errCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestListPodIdentityAssociationsPages(t *testing.T) {
	s := New(t, Options{})
	s.AddUser(CanaryAccessKeyID, CanarySecretKey)
	s.AddCluster("c1", "https://127.0.0.1:6443", []byte("ca"))
	ctx := context.Background()
	cfg := cfgFor(s, CanaryAccessKeyID, CanarySecretKey)
	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	client := eks.NewFromConfig(cfg)
	for _, sa := range []string{"a", "b", "c"} {
		if _, err := client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("c1"),
			Namespace: aws.String("ns"), ServiceAccount: aws.String(sa), RoleArn: role.Role.Arn}); err != nil {
			t.Fatal(err)
		}
	}
	p := eks.NewListPodIdentityAssociationsPaginator(client, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("c1"), MaxResults: aws.Int32(2)})
	var seen, pages int
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen, pages = seen+len(page.Associations), pages+1
	}
	if seen != 3 || pages != 2 {
		t.Errorf("paged %d associations in %d pages, want 3 in 2", seen, pages)
	}
}

func TestDescribeAddon(t *testing.T) {
	s := New(t, Options{})
	s.AddUser(CanaryAccessKeyID, CanarySecretKey)
	s.AddCluster("c1", "https://127.0.0.1:6443", []byte("ca"))
	client := eks.NewFromConfig(cfgFor(s, CanaryAccessKeyID, CanarySecretKey))
	ctx := context.Background()
	in := &eks.DescribeAddonInput{ClusterName: aws.String("c1"), AddonName: aws.String("eks-pod-identity-agent")}
	if _, err := client.DescribeAddon(ctx, in); errCode(err) != "ResourceNotFoundException" {
		t.Fatalf("absent add-on: %v", err)
	}
	s.AddAddon("c1", "eks-pod-identity-agent", "v1.3.4-eksbuild.1", "DEGRADED")
	out, err := client.DescribeAddon(ctx, in)
	if err != nil || out.Addon.Status != ekstypes.AddonStatusDegraded || aws.ToString(out.Addon.AddonVersion) != "v1.3.4-eksbuild.1" {
		t.Fatalf("describe = %+v, %v", out, err)
	}
}
