package provenance

import (
	"testing"

	"dagger/ship/internal/oidc"
)

func TestRunnerFromToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		claims *oidc.Claims
		want   Runner
	}{
		{"local", nil, Runner{}},
		{"github", &oidc.Claims{Issuer: githubIssuer, Subject: "repo:acme/shop:ref:refs/heads/main", Repository: "acme/shop",
			JobWorkflowRef: "acme/shop/.github/workflows/deploy.yml@refs/heads/main", All: map[string]any{"run_id": "42", "run_attempt": "2"}},
			Runner{BuilderID: "acme/shop/.github/workflows/deploy.yml@refs/heads/main", SourceURI: "git+https://github.com/acme/shop",
				InvocationID: "https://github.com/acme/shop/actions/runs/42/attempts/2"}},
		{"another CI", &oidc.Claims{Issuer: "https://gitlab.example", Subject: "project_path:g/p:ref_type:branch:ref:main"},
			Runner{BuilderID: "https://gitlab.example#project_path:g/p:ref_type:branch:ref:main"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RunnerFromToken(tc.claims); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
