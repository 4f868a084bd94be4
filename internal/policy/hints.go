// Human hints for failed conditions. The point of the evaluator is the
// sentence a developer reads after "Not authorized to perform
// sts:AssumeRoleWithWebIdentity": which value the job presented, which the
// role expects, and the one change that reconciles them.
package policy

import (
	"fmt"
	"strings"
)

func missingHint(c parsedCondition, o operator, pass bool, host string) string {
	prefix, claim := splitConditionKey(c.Key)
	if pass && o.set == "ForAllValues" {
		return fmt.Sprintf("passes only because the token has no %q claim: ForAllValues is true for an empty set; use StringEquals (or ForAnyValue) so a missing claim is refused", claim)
	}
	if pass {
		return ""
	}
	if !strings.EqualFold(prefix, host) {
		return fmt.Sprintf("key %s is not a claim of tokens from %s, so AWS treats it as absent: use %s:%s or remove the condition", c.Key, host, host, claim)
	}
	return fmt.Sprintf("the token has no %q claim, so %s cannot match: remove the condition or issue tokens that carry it", claim, c.Operator)
}

func failureHint(c parsedCondition, negated bool, presented []string) string {
	_, claim := splitConditionKey(c.Key)
	if negated {
		return fmt.Sprintf("%s is %s, which %s excludes: this token is refused on purpose; remove that value from the condition if the job should deploy",
			claim, quoteList(presented), c.Operator)
	}
	for _, p := range presented {
		for _, e := range c.Values {
			if p != e && strings.EqualFold(p, e) {
				return fmt.Sprintf("%s %q differs from the allowed %q only in letter case, and IAM compares values case-sensitively: write %q in the trust policy",
					claim, p, e, p)
			}
		}
	}
	switch strings.ToLower(claim) {
	case "sub":
		return subHint(presented[0], c.Values)
	case "repository_id":
		return repositoryIDHint(presented[0], c.Values)
	case "job_workflow_ref":
		return workflowRefHint(presented[0], c.Values)
	case "aud":
		return fmt.Sprintf("the token's audience is %s but the trust policy requires %s: request the token with audience=%s (the default of aws-actions/configure-aws-credentials) or add that audience to the policy and the provider's client IDs",
			quoteList(presented), quoteList(c.Values), firstOr(c.Values, STSAudience))
	}
	return fmt.Sprintf("%s is %s; the trust policy allows %s: change one to match the other", claim, quoteList(presented), quoteList(c.Values))
}

// subject is a parsed GitHub sub: repo:OWNER/REPO:<kind>:<value>.
type subject struct {
	repo, kind, value string
}

func parseSubject(s string) (subject, bool) {
	rest, ok := strings.CutPrefix(s, "repo:")
	if !ok {
		return subject{}, false
	}
	repo, tail, _ := strings.Cut(rest, ":")
	kind, value, _ := strings.Cut(tail, ":")
	return subject{repo: repo, kind: kind, value: value}, true
}

// nameOnly strips the immutable IDs: "o@1/r@2" -> "o/r".
func nameOnly(repo string) string {
	owner, name, _ := strings.Cut(repo, "/")
	owner, _, _ = strings.Cut(owner, "@")
	name, _, _ = strings.Cut(name, "@")
	return strings.ToLower(owner + "/" + name)
}

func subHint(presented string, expected []string) string {
	ps, ok := parseSubject(presented)
	allowed := quoteList(expected)
	if !ok || len(expected) == 0 {
		return fmt.Sprintf("sub is %q; the trust policy allows %s: add %q or change the job so its sub matches", presented, allowed, presented)
	}
	var same []subject
	for _, e := range expected {
		if es, ok := parseSubject(e); ok && es.repo == ps.repo {
			same = append(same, es)
		}
	}
	if len(same) == 0 {
		return repoHint(ps, presented, expected)
	}
	return kindHint(ps, presented, same, allowed)
}

func repoHint(ps subject, presented string, expected []string) string {
	for _, e := range expected {
		es, _ := parseSubject(e)
		if nameOnly(es.repo) != nameOnly(ps.repo) {
			continue
		}
		if strings.Contains(ps.repo, "@") && !strings.Contains(es.repo, "@") {
			return fmt.Sprintf("the repository emits GitHub's immutable subject format, so sub is %q; the trust policy allows the name-based %q: add %q (regenerate with OwnerID/RepoID)", presented, e, presented)
		}
		if !strings.Contains(ps.repo, "@") && strings.Contains(es.repo, "@") {
			return fmt.Sprintf("the token uses the name-based subject %q; the trust policy allows only the immutable form %q: add %q too (IncludeNameSubjects) until the repository switches", presented, e, presented)
		}
	}
	return fmt.Sprintf("the token comes from repository %q but the trust policy trusts %s: run the workflow in the trusted repository or trust %q", ps.repo, quoteList(expected), presented)
}

func kindHint(ps subject, presented string, same []subject, allowed string) string {
	hasKind := func(k string) bool {
		for _, s := range same {
			if s.kind == k {
				return true
			}
		}
		return false
	}
	switch {
	case ps.kind == "environment" && !hasKind("environment"):
		return fmt.Sprintf("the job runs in environment '%s', so sub is %s; the trust policy allows %s: add the environment subject %q or remove `environment:` from the job",
			ps.value, presented, allowed, presented)
	case ps.kind == "environment":
		return fmt.Sprintf("the job runs in environment '%s', so sub is %s; the trust policy allows %s: run the job in one of those environments, or assume the role of environment '%s' instead (add %q here only if this role should deploy for '%s' too)",
			ps.value, presented, allowed, ps.value, presented, ps.value)
	case ps.kind == "ref" && !hasKind("ref"):
		return fmt.Sprintf("the job has no `environment:` (it runs on %s), so sub is %s; the trust policy allows %s: add the job's `environment:` or trust %q",
			ps.value, presented, allowed, presented)
	case ps.kind == "ref":
		return fmt.Sprintf("the workflow ran on %s, so sub is %s; the trust policy allows %s: deploy from the trusted branch or add %q",
			ps.value, presented, allowed, presented)
	case ps.kind == "pull_request":
		return fmt.Sprintf("the workflow was triggered by a pull request, so sub is %s; the trust policy allows %s: deploy on push to the trusted branch or from an environment (do not trust pull requests to deploy)",
			presented, allowed)
	}
	return fmt.Sprintf("sub is %s; the trust policy allows %s: add %q or change the job so its sub matches", presented, allowed, presented)
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "nothing"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " or ")
}

func firstOr(ss []string, d string) string {
	if len(ss) > 0 {
		return ss[0]
	}
	return d
}

// repositoryIDHint: the name may match while the ID does not, which is the
// point of pinning it (a re-created or transferred repository).
func repositoryIDHint(presented string, expected []string) string {
	return fmt.Sprintf("the token comes from repository_id %q, but the role trusts only repository_id %s: a repository deleted and re-created under the same name, or another repository renamed to it, has another ID, and AWS refuses it on purpose. "+
		"If this token's repository is the one that deploys, run bootstrap again with --github-repo-id %s (check with `gh api repos/OWNER/REPO --jq .id`); otherwise it must not get this role",
		presented, quoteList(expected), presented)
}

// workflowRef is a parsed job_workflow_ref: OWNER/REPO/.github/workflows/FILE@REF.
type workflowRef struct{ repo, file, ref string }

func parseWorkflowRef(s string) (workflowRef, bool) {
	path, ref, ok := strings.Cut(s, "@")
	repo, file, ok2 := strings.Cut(path, "/.github/workflows/")
	if !ok || !ok2 {
		return workflowRef{}, false
	}
	return workflowRef{repo: repo, file: file, ref: ref}, true
}

// workflowRefHint says which part differs: the repository (a reusable
// workflow of another one, or a rename), the workflow file, or the ref.
func workflowRefHint(presented string, expected []string) string {
	p, ok := parseWorkflowRef(presented)
	e, ok2 := parseWorkflowRef(firstOr(expected, ""))
	allowed := quoteList(expected)
	switch {
	case !ok || !ok2:
		return fmt.Sprintf("job_workflow_ref is %q; the role trusts only %s: run the job from that workflow", presented, allowed)
	case !strings.EqualFold(p.repo, e.repo):
		return fmt.Sprintf("job_workflow_ref is %q: the job runs a reusable workflow of %s (or the repository was renamed), but the role trusts only %s: call ship from the repository's own workflow file, or run bootstrap again with the repository's current name",
			presented, p.repo, allowed)
	case p.file != e.file:
		return fmt.Sprintf("the job runs workflow file .github/workflows/%s, but the role trusts only .github/workflows/%s (job_workflow_ref %s): no other workflow file may assume it, even on the trusted branch; run this step in %s, or, if %s is now the deploy workflow, run bootstrap again with --deploy-workflow %s (--pr-workflow for the plan role)",
			p.file, e.file, allowed, e.file, p.file, p.file)
	}
	return fmt.Sprintf("the workflow .github/workflows/%s ran on %s, but the role trusts it only on %s (job_workflow_ref %s): run it from that ref",
		p.file, p.ref, e.ref, allowed)
}
