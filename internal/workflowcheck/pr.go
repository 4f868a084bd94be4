// pr.go holds the rules for pr.yml, which runs code from pull requests.
//
// Why: a pull request's code (a fork's included) runs here, so the workflow
// must never deploy, never read secrets, keep a read-only token, and reach
// AWS only in the opt-in `plan` job, and only for branches of this
// repository. A fork's code also stays off the team's runners and shared
// Dagger engine: that engine is privileged and runs the deploys.
package workflowcheck

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	planOptIn = regexp.MustCompile(`vars\.SHIP_PLAN_ON_PR\s*==\s*'true'`)
	sameRepo  = regexp.MustCompile(`github\.event\.pull_request\.head\.repo\.full_name\s*==\s*github\.repository|github\.repository\s*==\s*github\.event\.pull_request\.head\.repo\.full_name|github\.event\.pull_request\.head\.repo\.fork\s*==\s*false|!\s*github\.event\.pull_request\.head\.repo\.fork\b`)
)

func prRules(wf *workflow, r *report) {
	checkPRTriggers(wf, r)
	checkExactPermissions(wf, map[string]string{"contents": "read"}, r)
	checkPinned(wf, r)
	checkDaggerVersion(wf, r)
	checkRunSteps(wf, r)
	checkSecrets(wf, r, "pull-request workflows run code from the PR (forks included) and must not read secrets",
		func(string) bool { return false })
	checkNoDeploy(wf, r)
	checkPlanJobs(wf, r)
	checkForksOffSharedEngine(wf, r)
}

// runnerHostEnv is the dagger CLI's setting for which engine to use.
const runnerHostEnv = "_EXPERIMENTAL_DAGGER_RUNNER_HOST"

// checkForksOffSharedEngine requires the same-repository condition wherever a
// PR job could be sent to the shared engine (the runner host setting, at any
// env level) or to the team's runners (a runs-on taken from a variable).
func checkForksOffSharedEngine(wf *workflow, r *report) {
	type env struct {
		path string
		node *yaml.Node
	}
	envs := []env{{"env", get(wf.root, "env")}}
	for _, j := range wf.jobs {
		envs = append(envs, env{j.path + ".env", get(j.node, "env")})
		for _, s := range j.steps {
			envs = append(envs, env{s.path + ".env", s.env})
		}
		if on := normalizeSpace(scalar(get(j.node, "runs-on"))); strings.Contains(on, "vars.") && !sameRepo.MatchString(on) {
			r.add(j.path+".runs-on", "job %s runs fork PRs on the runners a variable names: fork code must stay on GitHub-hosted runners; write runs-on: ${{ github.event.pull_request.head.repo.full_name == github.repository && vars.SHIP_RUNNER || 'ubuntu-24.04' }}", j.id)
		}
	}
	for _, e := range envs {
		v := normalizeSpace(scalar(get(e.node, runnerHostEnv)))
		if v != "" && !sameRepo.MatchString(v) {
			r.add(e.path+"."+runnerHostEnv, "sends fork PRs to the shared Dagger engine, which is privileged and runs the deploys: write ${{ github.event.pull_request.head.repo.full_name == github.repository && vars.DAGGER_RUNNER_HOST || '' }}")
		}
	}
}

func checkPRTriggers(wf *workflow, r *report) {
	trig := wf.triggers()
	if _, ok := trig["pull_request"]; !ok {
		r.add("on", "no pull_request trigger: this workflow checks pull requests")
	}
	if _, ok := trig["pull_request_target"]; ok {
		r.add("on.pull_request_target", "pull_request_target runs PR code with a write token and secrets: use pull_request")
	}
}

// checkNoDeploy rejects any Dagger command that mentions deploy, even as a
// bare word, so an unusual flag cannot hide it from the chain parser.
func checkNoDeploy(wf *workflow, r *report) {
	for _, c := range wf.daggerCommands() {
		if c.fn("deploy") != nil || c.hasWord("deploy") {
			r.add(c.path, "the PR workflow calls deploy: pull requests must never deploy; deploy.yml does, from main")
		}
	}
}

// checkPlanJobs confines AWS access to opted-in, same-repository plan jobs.
func checkPlanJobs(wf *workflow, r *report) {
	base := readPermissions(wf.permissions)
	for _, j := range wf.jobs {
		plan := jobCallsPlan(wf, j.id)
		perms := readPermissions(j.permissions)
		wantsToken := perms.all == "write-all" || perms.scopes["id-token"] == "write"
		if wantsToken && !plan {
			r.add(j.path+".permissions", "only the plan job may ask for id-token: write; job %s does not call plan", j.id)
		}
		if j.permissions != nil {
			extra := perms
			delete(extra.scopes, "id-token")
			if w := extra.wider(base); w != "" && (plan || !wantsToken) {
				r.add(j.path+".permissions", "widens the workflow permissions with %s: PR jobs keep contents: read", w)
			}
		}
		if plan {
			checkPlanGate(wf, j, r)
		}
	}
}

func checkPlanGate(wf *workflow, j job, r *report) {
	cond := normalizeSpace(scalar(get(j.node, "if")))
	if !planOptIn.MatchString(cond) || strings.Contains(cond, "||") {
		r.add(j.path+".if", "job %s reaches AWS without the opt-in: add if: vars.SHIP_PLAN_ON_PR == 'true' && ... (and no ||)", j.id)
	}
	if !sameRepo.MatchString(cond) {
		r.add(j.path+".if", "job %s would give fork PRs an AWS token: add && github.event.pull_request.head.repo.full_name == github.repository", j.id)
	}
	if get(j.node, "environment") != nil {
		r.add(j.path+".environment", "job %s sets an environment: its token's subject becomes environment:<env>, which the plan role (trusting pull_request) refuses, and the environment's deploy role must never be reachable from a pull request; remove it", j.id)
	}
	if readPermissions(j.permissions).scopes["id-token"] != "write" {
		r.add(j.path+".permissions", "job %s calls plan without permissions: {contents: read, id-token: write}: it gets no OIDC token", j.id)
	}
	for _, c := range wf.daggerCommands() {
		if c.job.id == j.id && c.fn("plan") != nil {
			checkCredentialChain(c, "plan", "AWS_PLAN_ROLE_ARN", r)
		}
	}
}

func jobCallsPlan(wf *workflow, id string) bool {
	for _, c := range wf.daggerCommands() {
		if c.job.id == id && (c.fn("plan") != nil || c.hasWord("plan")) {
			return true
		}
	}
	return false
}
