// Tests the fake against the REAL SDK clients: wire shapes parse, signatures
// are enforced (a wrong secret is refused), and state round-trips.
package fakeaws

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func cfgFor(s *Server, akid, secret string) aws.Config {
	return aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, ""),
		RetryMaxAttempts: 1}
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSignatureIsEnforced(t *testing.T) {
	s := New(t, Options{})
	arn := s.AddUser(CanaryAccessKeyID, CanarySecretKey)
	ctx := context.Background()
	out, err := sts.NewFromConfig(cfgFor(s, CanaryAccessKeyID, CanarySecretKey)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the right key: %v", err)
	}
	if aws.ToString(out.Arn) != arn || aws.ToString(out.Account) != s.Account {
		t.Fatalf("identity = %s/%s, want %s", aws.ToString(out.Account), aws.ToString(out.Arn), arn)
	}
	cases := map[string]struct{ akid, secret, code string }{
		"wrong secret": {CanaryAccessKeyID, "wrong" + CanarySecretKey[5:], "SignatureDoesNotMatch"},
		"unknown key":  {"AKIAUNKNOWN000000000", CanarySecretKey, "InvalidClientTokenId"},
	}
	for name, tc := range cases {
		_, err := sts.NewFromConfig(cfgFor(s, tc.akid, tc.secret)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if errCode(err) != tc.code {
			t.Errorf("%s: error %v, want code %s", name, err, tc.code)
		}
	}
	_, err = eks.NewFromConfig(cfgFor(s, CanaryAccessKeyID, "x"+CanarySecretKey[1:])).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("c")})
	if errCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("restJson1 wrong secret: %v", err)
	}
}

func TestIAMRolesAndEKSAccessEntries(t *testing.T) {
	s := New(t, Options{})
	s.AddUser(CanaryAccessKeyID, CanarySecretKey)
	s.AddCluster("prod", "https://127.0.0.1:6443", []byte("ca"))
	cfg := cfgFor(s, CanaryAccessKeyID, CanarySecretKey)
	ctx := context.Background()
	ic := iam.NewFromConfig(cfg)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`
	created, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deploy"), Path: aws.String("/ci/"), AssumeRolePolicyDocument: aws.String(doc)})
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	got, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("deploy")})
	if err != nil {
		t.Fatalf("GetRole: %v", err)
	}
	decoded, _ := url.QueryUnescape(aws.ToString(got.Role.AssumeRolePolicyDocument))
	if decoded != doc || strings.Contains(aws.ToString(got.Role.AssumeRolePolicyDocument), "{") {
		t.Errorf("trust policy not returned URL-encoded: %q", aws.ToString(got.Role.AssumeRolePolicyDocument))
	}
	_, err = ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("missing")})
	if errCode(err) != "NoSuchEntity" || !strings.Contains(err.Error(), "cannot be found") {
		t.Errorf("missing role: %v", err)
	}

	ec := eks.NewFromConfig(cfg)
	roleARN := aws.ToString(created.Role.Arn)
	if _, err := ec.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("prod"), PrincipalArn: aws.String(roleARN)}); err != nil {
		t.Fatalf("CreateAccessEntry: %v", err)
	}
	_, err = ec.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String("prod"), PrincipalArn: aws.String(roleARN),
		PolicyArn:   aws.String("arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"),
		AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeNamespace, Namespaces: []string{"app"}}})
	if err != nil {
		t.Fatalf("AssociateAccessPolicy: %v", err)
	}
	pols, err := ec.ListAssociatedAccessPolicies(ctx, &eks.ListAssociatedAccessPoliciesInput{ClusterName: aws.String("prod"), PrincipalArn: aws.String(roleARN)})
	if err != nil || len(pols.AssociatedAccessPolicies) != 1 || pols.AssociatedAccessPolicies[0].AccessScope.Namespaces[0] != "app" {
		t.Fatalf("ListAssociatedAccessPolicies = %+v, %v", pols, err)
	}
	entry, err := ec.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("prod"), PrincipalArn: aws.String(roleARN)})
	if err != nil || aws.ToString(entry.AccessEntry.PrincipalArn) != roleARN {
		t.Fatalf("DescribeAccessEntry = %+v, %v", entry, err)
	}
	_, err = ec.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("prod"), PrincipalArn: aws.String(roleARN + "x")})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("missing access entry: %v", err)
	}
	if n := len(s.RequestsFor("AssociateAccessPolicy")); n != 1 {
		t.Errorf("recorded %d AssociateAccessPolicy calls, want 1", n)
	}
}
