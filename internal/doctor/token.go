// Token checks: time window, then the claims against the role's trust
// policy. The trust policy comes from bytes/a file (offline), iam:GetRole, or
// else what bootstrap generates for the role; the CI role itself normally may
// not call GetRole, and the report says which document it checked rather than
// pretending the trust policy is wrong.
package doctor

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"dagger/ship/internal/bootstrap"
	"dagger/ship/internal/oidc"
	"dagger/ship/internal/policy"
)

func loadToken(in Inputs) (*oidc.Token, error) {
	if in.Token != nil || in.TokenFile == "" {
		return in.Token, nil
	}
	raw, err := os.ReadFile(in.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("read token file %s: %w", in.TokenFile, err)
	}
	tok, err := oidc.Parse(string(raw))
	if err != nil {
		// oidc's errors never include the token text.
		return nil, fmt.Errorf("token file %s: %w", in.TokenFile, err)
	}
	return tok, nil
}

func checkToken(in Inputs) (*oidc.Token, Check) {
	c := Check{Name: CheckToken}
	tok, err := loadToken(in)
	switch {
	case err != nil:
		c.Status, c.Detail, c.Fix = Fail, err.Error(), "write the raw JWT (and nothing else) to the file"
		return nil, c
	case tok == nil:
		c.Status, c.Detail = Skip, "no OIDC token given (pass one from the job to check it against the trust policy)"
		return nil, c
	}
	cl := tok.Claims
	if err := tok.Validate(in.Now(), 0); err != nil {
		c.Status, c.Detail = Fail, err.Error()
		c.Fix = "fetch the token in the step that uses it; GitHub tokens live about 5 minutes"
		return tok, c
	}
	if !strings.HasPrefix(cl.Issuer, "https://") {
		c.Status, c.Detail = Fail, fmt.Sprintf("issuer %q is not an https URL", cl.Issuer)
		c.Fix = "use the token GitHub Actions issues (iss " + policy.GitHubIssuerURL + ")"
		return tok, c
	}
	c.Status = Pass
	c.Detail = fmt.Sprintf("valid until %s (%s left); iss %s, sub %s, aud %s", cl.Expiry.Format(time.RFC3339),
		cl.Expiry.Sub(in.Now()).Truncate(time.Second), cl.Issuer, cl.Subject, strings.Join(cl.Audience, ","))
	// What bootstrap pins: a job's token is where the repository ID is at hand.
	if cl.RepositoryID != "" {
		c.Detail += fmt.Sprintf("; repository_id %s (bootstrap --github-repo-id %s)", cl.RepositoryID, cl.RepositoryID)
	}
	if cl.JobWorkflowRef != "" {
		c.Detail += "; job_workflow_ref " + cl.JobWorkflowRef
	}
	if !contains(cl.Audience, policy.STSAudience) {
		c.Detail += fmt.Sprintf("; note: aud is not %s, so the IAM OIDC provider must list it as a client ID", policy.STSAudience)
	}
	return tok, c
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// claimsMap keys the claims as IAM condition keys name them; the evaluator
// itself drops those AWS does not evaluate.
func claimsMap(cl oidc.Claims) map[string]any {
	if cl.All != nil {
		return cl.All
	}
	return map[string]any{"sub": cl.Subject, "aud": cl.Audience}
}

// providerARN is the IAM OIDC provider for host in the role's account, or ""
// when the account is unknown.
func providerARN(in Inputs, host string) string {
	if in.Policy.Account == "" {
		return ""
	}
	return fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", in.Policy.Partition, in.Policy.Account, host)
}

func checkTrust(ctx context.Context, in Inputs, tok *oidc.Token) Check {
	c := Check{Name: CheckTrust}
	if tok == nil {
		c.Status, c.Detail = Skip, "needs a valid-format OIDC token"
		return c
	}
	assumedID := in.Policy.RepoID == "" && tok.Claims.RepositoryID != ""
	if assumedID {
		// Only the generated fallback uses it: without the flag, check the rest.
		in.Policy.RepoID = tok.Claims.RepositoryID
	}
	doc, source, skip := trustPolicy(ctx, in)
	if skip != nil {
		return *skip
	}
	if assumedID && strings.HasPrefix(source, "bootstrap's generated") {
		source += fmt.Sprintf("; with the token's own repository_id %s, since no --github-repo-id was given: pass it to check the ID too", tok.Claims.RepositoryID)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(tok.Claims.Issuer, "https://"), "/")
	res := policy.EvaluateFor(doc, claimsMap(tok.Claims), host, providerARN(in, host))
	if res.Err != nil {
		c.Status, c.Detail, c.Fix = Fail, fmt.Sprintf("trust policy from %s: %v", source, res.Err), "pass the document exactly as IAM stores it"
		return c
	}
	if !res.Allowed {
		c.Status = Fail
		c.Detail = fmt.Sprintf("AWS would refuse this token (\"Not authorized to perform sts:AssumeRoleWithWebIdentity\"); sub %s, aud %s, trust policy from %s",
			tok.Claims.Subject, strings.Join(tok.Claims.Audience, ","), source)
		c.Fix = strings.Join(res.Problems(), "\n")
		return c
	}
	c.Status = Pass
	c.Detail = fmt.Sprintf("sub %s is allowed by the trust policy (from %s)", tok.Claims.Subject, source)
	if w := res.Warnings(); len(w) > 0 {
		c.Detail += "; but: " + strings.Join(w, "; ")
	}
	return c
}

// trustPolicy returns the document and where it came from, or a Check to
// report when it cannot be had.
func trustPolicy(ctx context.Context, in Inputs) ([]byte, string, *Check) {
	switch {
	case len(in.TrustPolicy) > 0:
		return in.TrustPolicy, "the given document", nil
	case in.TrustPolicyFile != "":
		b, err := os.ReadFile(in.TrustPolicyFile)
		if err != nil {
			return nil, "", &Check{Name: CheckTrust, Status: Fail, Detail: fmt.Sprintf("read trust policy file: %v", err),
				Fix: "save it with: aws iam get-role --role-name " + in.RoleName + " --query Role.AssumeRolePolicyDocument"}
		}
		return b, in.TrustPolicyFile, nil
	case in.RoleName == "":
		return nil, "", &Check{Name: CheckTrust, Status: Skip, Detail: "no role named",
			Fix: "pass --environment (its role is ship-<repo>-<environment>) or --role-arn"}
	case in.AWS == nil:
		return generatedTrust(in, &Check{Name: CheckTrust, Status: Skip, Detail: "offline and no trust policy given",
			Fix: "pass the trust policy file, or run with AWS credentials that may call iam:GetRole"})
	}
	out, err := bootstrap.NewClients(*in.AWS).IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &in.RoleName})
	doc, source, skip := getRoleResult(in, out, err)
	if skip != nil && skip.Status == Skip {
		return generatedTrust(in, skip)
	}
	return doc, source, skip
}

// generatedTrust falls back to the trust policy bootstrap generates for the
// role, so the claims are still checked when the deployed one cannot be
// read (STS refused, or the CI role may not call iam:GetRole).
func generatedTrust(in Inputs, otherwise *Check) ([]byte, string, *Check) {
	b, err := policy.Generate(in.Policy)
	if err != nil {
		return nil, "", otherwise
	}
	r, ok := b.Role(in.RoleName)
	if !ok {
		return nil, "", otherwise
	}
	return r.TrustPolicy.JSON(), "bootstrap's generated policy for " + r.Name +
		" (the deployed one may differ: pass --trust-policy to check it)", nil
}

func getRoleResult(in Inputs, out *iam.GetRoleOutput, err error) ([]byte, string, *Check) {
	name := in.RoleName
	switch code := bootstrap.ErrorCode(err); {
	case err == nil:
		return []byte(aws.ToString(out.Role.AssumeRolePolicyDocument)), "iam:GetRole " + name, nil
	case code == "AccessDenied" || code == "AccessDeniedException":
		return nil, "", &Check{Name: CheckTrust, Status: Skip,
			Detail: "iam:GetRole was denied: expected when running as the CI role, which (by design) cannot read IAM",
			Fix:    "run doctor with administrator credentials, or pass the trust policy as a file (aws iam get-role --role-name " + name + " --query Role.AssumeRolePolicyDocument)"}
	case code == "NoSuchEntity":
		return nil, "", &Check{Name: CheckTrust, Status: Fail, Detail: fmt.Sprintf("role %s does not exist", name),
			Fix: "run ship bootstrap, or pass the role the workflow assumes (--role-arn, or --environment for ship-<repo>-<environment>)"}
	default:
		return nil, "", &Check{Name: CheckTrust, Status: Fail, Detail: fmt.Sprintf("iam:GetRole %s: %v", name, err),
			Fix: "check the AWS credentials and region"}
	}
}
