// Tests run the checker on the repository's real workflows (which must pass)
// and on fixtures that each break one rule (which must be caught, at the
// right path, with the message that says what to fix, and nothing else).
// A golden file keeps the full text of every message under review; refresh
// it with `go test ./internal/workflowcheck -update`.
package workflowcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dagger/ship/internal/testenv/golden"
)

const workflowsDir = "../../.github/workflows"

func TestRepositoryWorkflowsPass(t *testing.T) {
	for _, name := range []string{"deploy.yml", "pr.yml"} {
		t.Run(name, func(t *testing.T) {
			problems, err := CheckFile(filepath.Join(workflowsDir, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("%s", p)
			}
		})
	}
}

// want is one expected problem: its path and a distinctive part of its message.
type want struct{ path, message string }

var fixtureCases = []struct {
	file  string
	wants []want
}{
	{"deploy_tag_pinned.yml", []want{{"jobs.build.steps[0].uses", `actions/checkout is pinned to "v4", a movable ref`}}},
	{"deploy_sha_without_comment.yml", []want{{"jobs.build.steps[0].uses", "without a version comment"}}},
	{"deploy_write_all.yml", []want{{"permissions", "permissions: write-all grants every scope"}}},
	{"deploy_id_token_top.yml", []want{{"permissions.id-token", "id-token: write at the top reaches every job"}}},
	{"deploy_missing_id_token.yml", []want{{"jobs.staging.permissions", "job staging assumes an AWS role without id-token: write"}}},
	{"deploy_job_widens.yml", []want{{"jobs.staging.permissions", "widens the workflow permissions with contents: write"}}},
	{"deploy_aws_cli.yml", []want{
		{"jobs.build.steps[1].run", "run step calls aws:"},
		{"jobs.build.steps[1].run", "run step calls kubectl:"},
	}},
	{"deploy_cancel_in_progress.yml", []want{{"jobs.staging.concurrency.cancel-in-progress", "cancel-in-progress must be false"}}},
	{"deploy_shared_concurrency.yml", []want{{"jobs.staging.concurrency.group", `group "deploy" must name the environment and the ref`}}},
	{"deploy_concurrency_without_ref.yml", []want{{"jobs.prod.concurrency.group", `group "ship-deploy-prod" must name the environment and the ref`}}},
	{"deploy_role_from_secrets.yml", []want{
		{"jobs.staging.steps[1].with.args", "--role-arn comes from secrets.*"},
		{"jobs.staging.steps[1].with.args", "reads secrets.AWS_ROLE_ARN"},
	}},
	{"deploy_build_role_deploys.yml", []want{{"jobs.staging.steps[1].with.args", "deploy runs with --role-arn ${{ vars.AWS_BUILD_ROLE_ARN }}: its role is ${{ vars.AWS_ROLE_ARN }}"}}},
	{"deploy_build_with_env_role.yml", []want{{"jobs.build.steps[1].with.args", "publish runs with --role-arn ${{ vars.AWS_ROLE_ARN }}: its role is ${{ vars.AWS_BUILD_ROLE_ARN }}"}}},
	{"deploy_literal_token.yml", []want{{"jobs.staging.steps[1].with.args", "--request-token is \"${{ env.ACTIONS_ID_TOKEN_REQUEST_TOKEN }}\": pass it as the Dagger secret env:ACTIONS_ID_TOKEN_REQUEST_TOKEN"}}},
	{"deploy_two_deploys.yml", []want{{"jobs.staging.steps[2].with.args", "a second step deploys in job staging (the first is jobs.staging.steps[1].with.args)"}}},
	{"deploy_no_environment.yml", []want{{"jobs.staging", "deploy without environment"}}},
	{"deploy_environment_mismatch.yml", []want{{"jobs.staging.environment", `environment "prod" differs from --overlay "staging"`}}},
	{"deploy_environment_expression.yml", []want{{"jobs.staging.environment", "is an expression: name one environment per job"}}},
	{"deploy_pull_request_trigger.yml", []want{
		{"on.pull_request", "pull_request must not trigger a deploy"},
		{"on.push", "push deploys from other branches"},
	}},
	{"deploy_dagger_latest.yml", []want{{"jobs.build.steps[1].with.version", `version "latest" is not pinned`}}},
	{"deploy_aws_action.yml", []want{{"jobs.build.steps[1].uses", "aws-actions/configure-aws-credentials is not allowed in deploy.yml"}}},
	{"deploy_no_summary.yml", []want{{"jobs.staging", "the deploy report never reaches the job summary"}}},
	{"deploy_run_injection.yml", []want{{"jobs.staging.steps[2].run", "run script interpolates ${{ ... }} directly"}}},
	{"deploy_any_branch.yml", []want{{"jobs.prod.if", "job prod would run for any ref"}}},
	{"deploy_true_key.yml", []want{{"on.pull_request_target", "pull_request_target must not trigger a deploy"}}},
	{"deploy_rebuilds.yml", []want{{"jobs.staging.steps[1].with.args", "deploy does not use the build job's digest"}}},
	{"deploy_build_has_environment.yml", []want{{"jobs.build.environment", `build job "build" runs in an environment`}}},
	{"deploy_build_deploys.yml", []want{{"jobs.build.steps[2].with.args", `build job "build" deploys: it only publishes`}}},
	{"deploy_no_build_output.yml", []want{{"jobs.build.outputs", "the build job does not hand on its digest"}}},
	{"deploy_no_build.yml", []want{{"jobs", "no job publishes"}}},
	{"deploy_no_deploy.yml", []want{{"jobs", "no job deploys"}}},
	{"deploy_promote_unchecked.yml", []want{{"jobs.prod.steps[1].with.args", "promote does not check the digest it promotes"}}},
	{"deploy_prod_before_staging.yml", []want{{"jobs.prod.needs", "job prod promotes without waiting for a deploy job"}}},
	{"deploy_no_cleanup.yml", []want{{"jobs.prod", "a cancelled prod job leaves its new revision in place unverified"}}},
	{"deploy_cleanup_always.yml", []want{{"jobs.staging.steps[3].if", `the rollback step runs if "always()": make it if: cancelled()`}}},
	{"deploy_cleanup_fixed_revision.yml", []want{{"jobs.staging.steps[3].with.args", `rollback --if-interrupted is "main": pass ${{ github.sha }}`}}},

	{"pr_deploys.yml", []want{{"jobs.render.steps[3].with.args", "the PR workflow calls deploy"}}},
	{"pr_secrets.yml", []want{{"jobs.test.steps[1].with.cloud-token", "reads secrets.DAGGER_CLOUD_TOKEN: pull-request workflows"}}},
	{"pr_tag_pinned.yml", []want{{"jobs.test.steps[1].uses", `dagger/dagger-for-github is pinned to "main", a movable ref`}}},
	{"pr_plan_not_opt_in.yml", []want{{"jobs.plan.if", "reaches AWS without the opt-in"}}},
	{"pr_plan_forks.yml", []want{{"jobs.plan.if", "would give fork PRs an AWS token"}}},
	{"pr_id_token_top.yml", []want{{"permissions.id-token", "id-token: write at the top reaches every job"}}},
	{"pr_test_job_token.yml", []want{{"jobs.test.permissions", "only the plan job may ask for id-token: write; job test does not call plan"}}},
	{"pr_target.yml", []want{
		{"on", "no pull_request trigger"},
		{"on.pull_request_target", "pull_request_target runs PR code with a write token and secrets"},
	}},
	{"pr_docker_run.yml", []want{{"jobs.build.steps[0].run", "run step calls docker:"}}},
	{"pr_plan_environment.yml", []want{{"jobs.plan.environment", "job plan sets an environment"}}},
	{"pr_plan_deploy_role.yml", []want{{"jobs.plan.steps[1].with.args", "plan runs with --role-arn ${{ vars.AWS_ROLE_ARN }}: its role is ${{ vars.AWS_PLAN_ROLE_ARN }}"}}},
	{"pr_forks_shared_engine.yml", []want{
		{"env._EXPERIMENTAL_DAGGER_RUNNER_HOST", "sends fork PRs to the shared Dagger engine"},
		{"jobs.build.runs-on", "job build runs fork PRs on the runners a variable names"},
	}},
}

func TestFixturesBreakExactlyTheirRule(t *testing.T) {
	for _, tc := range fixtureCases {
		t.Run(tc.file, func(t *testing.T) {
			got := checkFixture(t, tc.file)
			for _, w := range tc.wants {
				if !hasProblem(got, w) {
					t.Errorf("missing problem at %s containing %q", w.path, w.message)
				}
			}
			if len(got) != len(tc.wants) {
				t.Errorf("got %d problems, want %d:\n%s", len(got), len(tc.wants), join(got))
			}
		})
	}
}

// TestProblemsGolden pins the full wording of every message.
func TestProblemsGolden(t *testing.T) {
	var b strings.Builder
	for _, tc := range fixtureCases {
		for _, p := range checkFixture(t, tc.file) {
			b.WriteString(tc.file + ": " + p.Path + ": " + p.Message + "\n")
		}
	}
	golden.Check(t, "testdata/problems.golden", []byte(b.String()))
}

// TestEveryFixtureIsCovered keeps a new fixture from sitting unchecked.
func TestEveryFixtureIsCovered(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tc := range fixtureCases {
		covered[tc.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no case in fixtureCases", f)
		}
	}
	if len(files) != len(fixtureCases) {
		t.Errorf("%d fixtures on disk, %d cases", len(files), len(fixtureCases))
	}
}

func TestOnKeyForms(t *testing.T) {
	// Each form names pull_request_target, which deploy.yml must reject, so
	// the problem proves the triggers were read.
	for _, on := range []string{
		"on: pull_request_target",
		"on: [push, pull_request_target]",
		"\"on\": {pull_request_target: {}}",
		"true: {pull_request_target: {}}",
	} {
		t.Run(on, func(t *testing.T) {
			got := CheckDeploy([]byte(on + "\njobs: {x: {runs-on: ubuntu-24.04}}\n"))
			if !hasProblem(got, want{"on.pull_request_target", "must not trigger a deploy"}) {
				t.Errorf("pull_request_target not found:\n%s", join(got))
			}
		})
	}
}

func TestUnparsableInput(t *testing.T) {
	for name, in := range map[string]string{
		"bad yaml": "on: [push\n",
		"a list":   "- on\n",
		"no jobs":  "on: push\n",
	} {
		t.Run(name, func(t *testing.T) {
			for _, check := range []func([]byte) []Problem{CheckDeploy, CheckPR} {
				got := check([]byte(in))
				if len(got) != 1 || !strings.HasPrefix(got[0].Message, "not a valid workflow:") {
					t.Errorf("want one parse problem, got:\n%s", join(got))
				}
			}
		})
	}
}

func TestCheckFileNamesTheFile(t *testing.T) {
	data, err := os.ReadFile("testdata/deploy_write_all.yml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "deploy.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := CheckFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].File != path || got[0].Path != "permissions" {
		t.Fatalf("got %v", got)
	}
	if _, err := CheckFile("testdata/deploy_write_all.yml"); err == nil || !strings.Contains(err.Error(), "name the file deploy.yml or pr.yml") {
		t.Errorf("unknown workflow name: err = %v", err)
	}
}

func TestTokenizeKeepsExpressionsWhole(t *testing.T) {
	got := tokenize("deploy --overlay ${{ inputs.environment || 'staging' }} --x 'a b' \\\n  --y=\"c d\"")
	wantToks := []string{"deploy", "--overlay", "${{ inputs.environment || 'staging' }}", "--x", "'a b'", "--y=\"c d\""}
	if strings.Join(got, "|") != strings.Join(wantToks, "|") {
		t.Errorf("tokenize = %q, want %q", got, wantToks)
	}
}

func checkFixture(t *testing.T, name string) []Problem {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(name, "pr_") {
		return CheckPR(data)
	}
	return CheckDeploy(data)
}

func hasProblem(ps []Problem, w want) bool {
	for _, p := range ps {
		if p.Path == w.path && strings.Contains(p.Message, w.message) {
			return true
		}
	}
	return false
}

func join(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}
