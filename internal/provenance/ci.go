// This file turns the CI's OIDC token into the provenance's builder: the token is the only statement about
// the run that the CI itself signed, so the builder id comes from it (GitHub's job_workflow_ref, the
// workflow file and ref that ran), never from an environment variable anyone can set.
package provenance

import (
	"fmt"

	"dagger/ship/internal/oidc"
)

// githubIssuer is the issuer of GitHub Actions tokens.
const githubIssuer = "https://token.actions.githubusercontent.com"

// Runner is what the token says about the run.
type Runner struct {
	BuilderID    string // job_workflow_ref, or issuer#subject for another CI; "" outside CI
	InvocationID string // the run's URL on GitHub
	SourceURI    string // git+https://github.com/OWNER/REPO on GitHub
}

// RunnerFromToken reads the run's identity from its claims; nil claims (no token) is a local run.
func RunnerFromToken(c *oidc.Claims) Runner {
	if c == nil {
		return Runner{}
	}
	r := Runner{BuilderID: c.JobWorkflowRef}
	if r.BuilderID == "" && c.Subject != "" {
		r.BuilderID = c.Issuer + "#" + c.Subject
	}
	if c.Issuer == githubIssuer && c.Repository != "" {
		r.SourceURI = "git+https://github.com/" + c.Repository
		if run, ok := c.All["run_id"].(string); ok && run != "" {
			r.InvocationID = fmt.Sprintf("https://github.com/%s/actions/runs/%s", c.Repository, run)
			if attempt, ok := c.All["run_attempt"].(string); ok && attempt != "" {
				r.InvocationID += "/attempts/" + attempt
			}
		}
	}
	return r
}
