// IAM-created OIDC providers and roles must drive STS decisions, so code that
// bootstraps federation through the real IAM API is tested by whether STS
// then lets the right subject in (and keeps the wrong one out).
package fakeaws

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// mintJWT signs claims with key; a local helper so this package's tests do
// not depend on fakeoidc.
func mintJWT(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	body, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// registerIssuer makes a signing key (kid "k1") whose JWKS STS knows for issuer.
func registerIssuer(t *testing.T, s *Server, issuer string) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	if err := s.RegisterIssuer(issuer, jwks); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestIAMBootstrappedFederation(t *testing.T) {
	s := New(t, Options{})
	s.AddUser(CanaryAccessKeyID, CanarySecretKey)
	cfg := cfgFor(s, CanaryAccessKeyID, CanarySecretKey)
	ctx := context.Background()
	const issuer = "https://token.actions.githubusercontent.com"
	key := registerIssuer(t, s, issuer)
	ic := iam.NewFromConfig(cfg)
	prov, err := ic.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuer),
		ClientIDList: []string{"sts.amazonaws.com"}, ThumbprintList: []string{strings.Repeat("a", 40)}})
	if err != nil {
		t.Fatalf("CreateOpenIDConnectProvider: %v", err)
	}
	got, err := ic.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: prov.OpenIDConnectProviderArn})
	if err != nil || aws.ToString(got.Url) != "token.actions.githubusercontent.com" || len(got.ClientIDList) != 1 {
		t.Fatalf("GetOpenIDConnectProvider = %+v, %v", got, err)
	}
	list, err := ic.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil || len(list.OpenIDConnectProviderList) != 1 {
		t.Fatalf("ListOpenIDConnectProviders = %+v, %v", list, err)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + aws.ToString(prov.OpenIDConnectProviderArn) +
		`"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com",` +
		`"token.actions.githubusercontent.com:sub":"repo:acme/shop:environment:prod"}}}]}`
	role, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deploy"), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}]}`
	if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("deploy"), PolicyName: aws.String("ecr"), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	rp, err := ic.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("deploy"), PolicyName: aws.String("ecr")})
	if dec, _ := url.QueryUnescape(aws.ToString(rp.PolicyDocument)); err != nil || dec != policy {
		t.Errorf("GetRolePolicy = %q, %v", aws.ToString(rp.PolicyDocument), err)
	}

	anon := sts.NewFromConfig(aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1})
	assume := func(sub string) error {
		now := time.Now()
		tok := mintJWT(t, key, "k1", map[string]any{"iss": issuer, "aud": "sts.amazonaws.com", "sub": sub,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
		_, err := anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: role.Role.Arn,
			RoleSessionName: aws.String("test"), WebIdentityToken: aws.String(tok)})
		return err
	}
	if err := assume("repo:acme/shop:environment:prod"); err != nil {
		t.Fatalf("trusted subject refused: %v", err)
	}
	if err := assume("repo:acme/shop:ref:refs/heads/main"); errCode(err) != "AccessDenied" {
		t.Errorf("untrusted subject: %v", err)
	}
	// Tightening the trust policy through IAM takes effect in STS.
	if _, err := ic.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deploy"),
		PolicyDocument: aws.String(strings.Replace(trust, "environment:prod", "environment:none", 1))}); err != nil {
		t.Fatal(err)
	}
	if err := assume("repo:acme/shop:environment:prod"); errCode(err) != "AccessDenied" {
		t.Errorf("after UpdateAssumeRolePolicy the old subject is still trusted: %v", err)
	}
	if _, err := ic.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{
		OpenIDConnectProviderArn: prov.OpenIDConnectProviderArn, ClientID: aws.String("sigstore")}); err != nil {
		t.Fatal(err)
	}
	if p := s.Role("deploy"); p == nil || p.InlinePolicies["ecr"] != policy {
		t.Errorf("Role snapshot = %+v", p)
	}
}

func TestUnsignedCallsRefused(t *testing.T) {
	s := New(t, Options{})
	anon := sts.NewFromConfig(aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1})
	_, err := anon.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if errCode(err) != "MissingAuthenticationToken" {
		t.Errorf("unsigned GetCallerIdentity: %v", err)
	}
}
