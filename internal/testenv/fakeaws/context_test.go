// The request context of AssumeRoleWithWebIdentity holds only the claims STS
// exposes: a GitHub key AWS documents (job_workflow_ref) is matched, a claim
// it does not (workflow_ref) is absent however the token sets it, and
// condition keys match regardless of letter case.
package fakeaws

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestWebIdentityContextHoldsOnlyExposedClaims(t *testing.T) {
	s := New(t, Options{})
	const issuer = "https://token.actions.githubusercontent.com"
	key := registerIssuer(t, s, issuer)
	provARN := s.AddOIDCProvider(issuer, "sts.amazonaws.com")
	roleWith := func(name, condition string) string {
		arn := "arn:aws:iam::" + s.Account + ":role/" + name
		s.mu.Lock()
		s.putRole(arn, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"`+provARN+
			`"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com",`+condition+`}}}]}`)
		s.mu.Unlock()
		return arn
	}
	const wf = "acme/shop/.github/workflows/deploy.yml@refs/heads/main"
	jobRef := roleWith("job-ref", `"token.actions.githubusercontent.com:job_workflow_ref":"`+wf+`"`)
	wfRef := roleWith("wf-ref", `"token.actions.githubusercontent.com:workflow_ref":"`+wf+`"`)
	upper := roleWith("upper", `"TOKEN.actions.githubusercontent.com:SUB":"repo:acme/shop:ref:refs/heads/main"`)

	anon := sts.NewFromConfig(aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1})
	assume := func(role string, extra map[string]any) error {
		now := time.Now()
		claims := map[string]any{"iss": issuer, "aud": "sts.amazonaws.com", "sub": "repo:acme/shop:ref:refs/heads/main",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		for k, v := range extra {
			claims[k] = v
		}
		_, err := anon.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(role),
			RoleSessionName: aws.String("test"), WebIdentityToken: aws.String(mintJWT(t, key, "k1", claims))})
		return err
	}
	both := map[string]any{"job_workflow_ref": wf, "workflow_ref": wf}
	if err := assume(jobRef, both); err != nil {
		t.Errorf("job_workflow_ref is in the context, yet refused: %v", err)
	}
	if err := assume(jobRef, map[string]any{"job_workflow_ref": "acme/shop/.github/workflows/x.yml@refs/heads/main"}); errCode(err) != "AccessDenied" {
		t.Errorf("other job_workflow_ref: %v", err)
	}
	if err := assume(wfRef, both); errCode(err) != "AccessDenied" {
		t.Errorf("workflow_ref is not in the request context, yet matched: %v", err)
	}
	if err := assume(upper, nil); err != nil {
		t.Errorf("condition keys are case-insensitive: %v", err)
	}
}
