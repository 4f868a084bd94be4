// The environment check and AWS's own answer. With one role per environment,
// the usual mistakes are a job that assumes another environment's role (the
// repository-wide AWS_ROLE_ARN instead of the environment's) and a job whose
// token names another environment, or none; both are plain from the token and
// the names, before AWS says a bare "Not authorized". STS's refusal is shown
// after the offline checks, next to the reason they found.
package doctor

import (
	"fmt"
	"strings"

	"dagger/ship/internal/oidc"
	"dagger/ship/internal/policy"
)

func checkEnvironment(in Inputs, tok *oidc.Token) Check {
	c := Check{Name: CheckEnvironment}
	env, want := in.Environment, in.Policy.EnvironmentRoleName(in.Environment)
	var problems, fixes []string
	if names := environmentNames(in.Policy); len(names) > 0 && !containsFold(names, env) {
		problems = append(problems, fmt.Sprintf("environment %q is not one of %s", env, strings.Join(names, ", ")))
		fixes = append(fixes, "use one of those environments, or add it to the mapping and run bootstrap again")
	}
	if in.RoleName != want {
		problems = append(problems, fmt.Sprintf("the job assumes role %s, but environment %s's role is %s", in.RoleName, env, want))
		fixes = append(fixes, fmt.Sprintf("set the variable AWS_ROLE_ARN of the GitHub environment %s to %s (an environment variable, not a repository one)", env, in.Policy.RoleARN(want)))
	}
	if tok != nil {
		if p, f := subjectProblem(tok.Claims.Subject, env); p != "" {
			problems, fixes = append(problems, p), append(fixes, f)
		}
	}
	if len(problems) > 0 {
		c.Status, c.Detail, c.Fix = Fail, strings.Join(problems, "; "), strings.Join(fixes, "\n")
		return c
	}
	c.Status = Pass
	c.Detail = fmt.Sprintf("role %s is environment %s's", want, env)
	if tok != nil {
		c.Detail += fmt.Sprintf(", and the token's subject %s names it", tok.Claims.Subject)
	}
	return c
}

// subjectProblem says why sub is not environment env's, with the fix.
func subjectProblem(sub, env string) (string, string) {
	tail := ":environment:" + env
	if strings.HasSuffix(sub, tail) {
		return "", ""
	}
	_, rest, _ := strings.Cut(strings.TrimPrefix(sub, "repo:"), ":")
	problem := fmt.Sprintf("the token's subject is %s, not environment %s's (…%s): AWS refuses it for %s's role", sub, env, tail, env)
	switch kind, value, _ := strings.Cut(rest, ":"); kind {
	case "environment":
		return problem, fmt.Sprintf("this job runs in environment %s: deploy it to %s with %s's role, or set environment: %s on the job that deploys to %s", value, value, value, env, env)
	case "ref":
		return problem, fmt.Sprintf("the job has no environment (it runs on %s): set environment: %s on it, so its token says environment:%s and the environment's rules apply", value, env, env)
	case "pull_request":
		return problem, "pull requests never deploy: deploy from main through the environment's job"
	}
	return problem, fmt.Sprintf("run the deploy in a job with environment: %s", env)
}

// checkSTS shows AWS's refusal after the checks that explain it.
func checkSTS(in Inputs, trust Check) Check {
	c := Check{Name: CheckSTS, Status: Fail, Detail: "AWS refused role " + in.roleARN() + ": " + in.STSError.Error()}
	switch trust.Status {
	case Fail:
		c.Fix = "the trust policy check above names the condition that failed: apply its fix"
	case Pass:
		c.Fix = "the claims satisfy the trust policy, so look at the rest: the IAM OIDC provider must exist in the role's account with client ID " +
			policy.STSAudience + " (ship bootstrap creates it), the role ARN must be right, and the token must still be valid when used"
	default:
		c.Fix = "pass the role's trust policy (--trust-policy, from aws iam get-role --query Role.AssumeRolePolicyDocument) so doctor can name the failing condition"
	}
	return c
}

func environmentNames(p policy.Inputs) []string {
	var out []string
	for _, e := range p.Environments {
		out = append(out, e.Name)
	}
	return out
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}
