// deploy.go holds the rules for deploy.yml, the only workflow that may
// change a cluster.
//
// Why: it runs with a token AWS trusts, so it must be triggered only from
// main or by hand, call `deploy` exactly once through the OIDC credential
// chain, queue per environment without cancelling a rollout, sit behind a
// GitHub environment, and surface the deploy report in the job summary.
package workflowcheck

import (
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

var deployOverlays = []string{"dev", "staging", "prod"}

// allowedDeployActions is everything deploy.yml may run: anything else (an
// AWS login action, a kubectl setup) would bypass the tested module.
var allowedDeployActions = []string{"actions/checkout", daggerAction}

func deployRules(wf *workflow, r *report) {
	checkDeployTriggers(wf, r)
	checkExactPermissions(wf, map[string]string{"id-token": "write", "contents": "read"}, r)
	checkJobPermissions(wf, r)
	checkPinned(wf, r)
	checkDeployActions(wf, r)
	checkDaggerVersion(wf, r)
	checkRunSteps(wf, r)
	checkSecrets(wf, r, "AWS access comes from OIDC and account settings from vars.*; deploy.yml reads no secrets",
		func(path string) bool { return strings.HasSuffix(path, ".with.cloud-token") })
	if c, ok := checkOneDeploy(wf, r); ok {
		checkDeployCall(wf, c, r)
		checkConcurrency(wf, c.job, r)
		checkMainOnly(c.job, r)
		checkSummary(c, r)
	}
}

func checkDeployTriggers(wf *workflow, r *report) {
	trig := wf.triggers()
	if len(trig) == 0 {
		r.add("on", "no triggers: deploy on push to main and on workflow_dispatch")
	}
	for _, ev := range sortedNodeKeys(trig) {
		if ev != "push" && ev != "workflow_dispatch" {
			r.add("on."+ev, "%s must not trigger a deploy: only push to main and workflow_dispatch may", ev)
		}
	}
	if push, ok := trig["push"]; ok && !listHas(get(push, "branches"), "main") {
		r.add("on.push", "push deploys from any branch: restrict it with branches: [main]")
	}
	if _, ok := trig["push"]; !ok {
		r.add("on", "no push trigger: merging to main must deploy (on.push.branches: [main])")
	}
	wd, ok := trig["workflow_dispatch"]
	if !ok {
		r.add("on", "no workflow_dispatch trigger: add one with an environment choice input (dev, staging, prod)")
		return
	}
	env := get(get(wd, "inputs"), "environment")
	if scalar(get(env, "type")) != "choice" || !sameSet(get(env, "options"), deployOverlays) {
		r.add("on.workflow_dispatch.inputs.environment", "needs type: choice with options [dev, staging, prod], so a manual run cannot name an environment that does not exist")
	}
}

// checkJobPermissions stops a job from granting itself more than the
// workflow: job-level permissions replace, not narrow, the top-level ones.
func checkJobPermissions(wf *workflow, r *report) {
	base := readPermissions(wf.permissions)
	for _, j := range wf.jobs {
		if w := readPermissions(j.permissions).wider(base); j.permissions != nil && w != "" {
			r.add(j.path+".permissions", "widens the workflow permissions with %s: a job may only narrow them", w)
		}
	}
}

func checkDeployActions(wf *workflow, r *report) {
	for _, j := range wf.jobs {
		for _, s := range j.steps {
			name, _, _ := strings.Cut(scalar(s.uses), "@")
			if s.uses != nil && !contains(allowedDeployActions, name) && !strings.HasPrefix(name, "./") {
				r.add(s.path+".uses", "%s is not allowed in deploy.yml: only actions/checkout and dagger/dagger-for-github run here; do the work in the Dagger module", name)
			}
		}
	}
}

// checkOneDeploy finds the single command that calls deploy.
func checkOneDeploy(wf *workflow, r *report) (daggerCommand, bool) {
	var found []daggerCommand
	for _, c := range wf.daggerCommands() {
		if c.fn("deploy") != nil || c.hasWord("deploy") {
			found = append(found, c)
		}
	}
	if len(found) == 0 {
		r.add("jobs", "no step calls deploy: add one dagger/dagger-for-github step whose call ends in `deploy --overlay ...`")
		return daggerCommand{}, false
	}
	for _, c := range found[1:] {
		r.add(c.path, "a second step calls deploy (the first is %s): exactly one step may deploy, so one run never applies twice", found[0].path)
	}
	if found[0].fn("deploy") == nil {
		r.add(found[0].path, "deploy is not run as a `dagger call` function chain: use verb: call with args: with-github-oidc ... with-aws ... deploy ...")
		return found[0], false
	}
	return found[0], len(found) == 1
}

var (
	revisionExpr = regexp.MustCompile(`^\$\{\{\s*github\.sha\s*\}\}$`)
	envInputExpr = regexp.MustCompile(`inputs\.environment`)
)

func checkDeployCall(wf *workflow, c daggerCommand, r *report) {
	checkCredentialChain(c, "deploy", r)
	d := c.fn("deploy")
	checkVarsFlag(c.path, "deploy", d, "repository", "ECR_REPOSITORY", r)
	checkVarsFlag(c.path, "deploy", d, "cluster", "EKS_CLUSTER", r)
	if !revisionExpr.MatchString(d.flags["revision"]) {
		r.add(c.path, "--revision is %q: pass ${{ github.sha }} so the image and report name the commit that was deployed", d.flags["revision"])
	}
	overlay := d.flags["overlay"]
	if !envInputExpr.MatchString(overlay) && !contains(deployOverlays, overlay) {
		r.add(c.path, "--overlay is %q: pass the chosen environment, ${{ inputs.environment || 'staging' }}", overlay)
	}
	env := get(c.job.node, "environment")
	if name := get(env, "name"); name != nil {
		env = name
	}
	switch {
	case scalar(env) == "":
		r.add(c.job.path, "deploys without environment: set environment: to the target so its protection rules and variables apply")
	case normalizeSpace(scalar(env)) != normalizeSpace(overlay):
		r.add(c.job.path+".environment", "environment %q differs from --overlay %q: one environment's protection rules would guard a deploy to another", scalar(env), overlay)
	}
}

var mainOnly = regexp.MustCompile(`^github\.ref\s*==\s*'refs/heads/main'$`)

// checkMainOnly keeps a manual run from deploying an unreviewed branch: the
// OIDC subject of an environment job does not name the branch, so the AWS
// trust policy cannot refuse it.
func checkMainOnly(j *job, r *report) {
	if cond := normalizeSpace(strings.TrimSpace(scalar(get(j.node, "if")))); !mainOnly.MatchString(strings.TrimSuffix(strings.TrimPrefix(cond, "${{ "), " }}")) {
		r.add(j.path+".if", "job %s deploys whatever branch a manual run picks: add if: github.ref == 'refs/heads/main'", j.id)
	}
}

// checkConcurrency queues deploys per environment and never cancels one:
// a cancelled rollout leaves the cluster half-applied.
func checkConcurrency(wf *workflow, j *job, r *report) {
	n, path := wf.concurrency, "concurrency"
	if jc := get(j.node, "concurrency"); jc != nil {
		n, path = jc, j.path+".concurrency"
	}
	if n == nil {
		r.add("concurrency", "no concurrency: two deploys to one environment could race; set {group: deploy-${{ inputs.environment || 'staging' }}, cancel-in-progress: false}")
		return
	}
	group := scalar(n)
	if n.Kind == yaml.MappingNode {
		group = scalar(get(n, "group"))
	}
	if !strings.HasPrefix(group, "deploy-") || !envInputExpr.MatchString(group) {
		r.add(path+".group", "group %q must be per environment: deploy-${{ inputs.environment || 'staging' }}", group)
	}
	if cancel := get(n, "cancel-in-progress"); cancel != nil && scalar(cancel) != "false" {
		r.add(path+".cancel-in-progress", "cancel-in-progress: %s would cancel a deploy mid-rollout and leave the cluster half-applied; set it to false", scalar(cancel))
	}
}

// checkSummary makes the deploy report reach the job summary. The action's
// enable-github-summary writes only the command, trace link and CLI version;
// the report (the call's stdout) is in its `output` output, so a later step
// must copy steps.<id>.outputs.output into $GITHUB_STEP_SUMMARY.
func checkSummary(c daggerCommand, r *report) {
	s := c.step
	if scalar(get(s.with, "enable-github-summary")) != "true" {
		r.add(s.path+".with", "set enable-github-summary: \"true\" so the job summary links the Dagger trace")
	}
	if s.id == "" {
		r.add(s.path, "the deploy step has no id: give it one so a later step can publish its report")
		return
	}
	ref := "steps." + s.id + ".outputs.output"
	for _, o := range c.job.steps {
		var envText string
		walkScalars(o.env, "", func(_ string, n *yaml.Node) { envText += n.Value + "\n" })
		if strings.Contains(envText, ref) && strings.Contains(scalar(o.run), "GITHUB_STEP_SUMMARY") {
			return
		}
	}
	r.add(c.job.path, "the deploy report never reaches the job summary: add a step with env REPORT: ${{ %s }} that appends \"$REPORT\" to \"$GITHUB_STEP_SUMMARY\"", ref)
}

func listHas(n *yaml.Node, v string) bool {
	if n != nil && n.Kind == yaml.ScalarNode {
		return n.Value == v
	}
	for _, e := range seq(n) {
		if e == v {
			return true
		}
	}
	return false
}

func sameSet(n *yaml.Node, want []string) bool {
	got := seq(n)
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !contains(got, w) {
			return false
		}
	}
	return true
}

func seq(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	var out []string
	for _, e := range n.Content {
		out = append(out, e.Value)
	}
	return out
}

func contains(list []string, v string) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}

func sortedNodeKeys(m map[string]*yaml.Node) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
