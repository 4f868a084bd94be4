// deploy.go holds the rules for deploy.yml, the only workflow that may
// change a cluster.
//
// Why: it runs with tokens AWS trusts, one role per job kind. So it must be
// triggered only by a push to main; one build job with no environment only
// publishes, with the build role, and hands its digest on; every deploy or
// promote job sits behind its GitHub environment, uses that environment's own
// role variable, deploys the build job's digest (never rebuilds), queues per
// environment and ref without cancelling a rollout, runs only for main,
// surfaces its report in the job summary, and, cancelled, rolls back what its
// interrupted deploy left.
package workflowcheck

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// allowedDeployActions is everything deploy.yml may run: anything else (an
// AWS login action, a kubectl setup) would bypass the tested module.
var allowedDeployActions = []string{"actions/checkout", daggerAction}

// deployFns are the module functions that change a cluster.
var deployFns = []string{"deploy", "promote"}

func deployRules(wf *workflow, r *report) {
	checkDeployTriggers(wf, r)
	checkExactPermissions(wf, map[string]string{"contents": "read"}, r)
	checkPinned(wf, r)
	checkDeployActions(wf, r)
	checkDaggerVersion(wf, r)
	checkRunSteps(wf, r)
	checkSecrets(wf, r, "AWS access comes from OIDC and account settings from vars.*; deploy.yml reads no secrets",
		func(path string) bool { return strings.HasSuffix(path, ".with.cloud-token") })
	checkTokenJobs(wf, r)
	build, ok := checkBuildJob(wf, r)
	if !ok {
		return
	}
	deploys := deployCommands(wf)
	if len(deploys) == 0 {
		r.add("jobs", "no job deploys: add a job with environment: staging whose dagger call ends in `deploy --overlay staging --image ${{ needs.%s.outputs.image }} ...`", build.id)
		return
	}
	for _, c := range deploys {
		checkDeployJob(wf, build, c, r)
	}
}

func checkDeployTriggers(wf *workflow, r *report) {
	trig := wf.triggers()
	for _, ev := range sortedNodeKeys(trig) {
		if ev != "push" {
			r.add("on."+ev, "%s must not trigger a deploy: only a push to main may (the build, staging and prod jobs follow from it)", ev)
		}
	}
	push, ok := trig["push"]
	switch {
	case !ok:
		r.add("on", "no push trigger: merging to main must build and deploy (on.push.branches: [main])")
	case !listHas(get(push, "branches"), "main") || len(seq(get(push, "branches"))) > 1:
		r.add("on.push", "push deploys from other branches: restrict it with branches: [main]")
	}
}

// checkTokenJobs: job permissions replace the workflow's, so each job may
// hold at most {contents: read, id-token: write}, and only a job that assumes
// a role through the credential chain may hold id-token: write.
func checkTokenJobs(wf *workflow, r *report) {
	base := readPermissions(wf.permissions)
	for _, j := range wf.jobs {
		if base.all != "" {
			break // reported by checkExactPermissions
		}
		perms := readPermissions(j.permissions)
		wantsToken := perms.all == "write-all" || perms.scopes["id-token"] == "write"
		usesAWS := jobUsesAWS(wf, j.id)
		extra := perms
		delete(extra.scopes, "id-token")
		switch {
		case j.permissions != nil && extra.wider(base) != "":
			r.add(j.path+".permissions", "widens the workflow permissions with %s: a job may only add id-token: write", extra.wider(base))
		case wantsToken && !usesAWS:
			r.add(j.path+".permissions", "job %s asks for id-token: write but assumes no AWS role: remove it", j.id)
		case usesAWS && !wantsToken:
			r.add(j.path+".permissions", "job %s assumes an AWS role without id-token: write: the runner sets no ACTIONS_ID_TOKEN_REQUEST_URL, so it gets no credentials; set permissions: {id-token: write, contents: read}", j.id)
		}
	}
}

func jobUsesAWS(wf *workflow, id string) bool {
	for _, c := range wf.daggerCommands() {
		if c.job.id == id && (c.fn("with-aws") != nil || c.fn("with-github-oidc") != nil) {
			return true
		}
	}
	return false
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

var (
	revisionExpr = regexp.MustCompile(`^\$\{\{\s*github\.sha\s*\}\}$`)
	mainOnly     = regexp.MustCompile(`(^|&&\s*)github\.ref\s*==\s*'refs/heads/main'(\s*&&|$)`)
)

// checkBuildJob finds the one job that publishes and holds it to its rules.
func checkBuildJob(wf *workflow, r *report) (*job, bool) {
	var found []daggerCommand
	for _, c := range wf.daggerCommands() {
		if c.fn("publish") != nil || c.hasWord("publish") {
			found = append(found, c)
		}
	}
	if len(found) == 0 {
		r.add("jobs", "no job publishes: add a build job (no environment) whose dagger call ends in `publish --repository ${{ vars.ECR_REPOSITORY }} --revision ${{ github.sha }}`, so the image is built once")
		return nil, false
	}
	for _, c := range found[1:] {
		r.add(c.path, "a second step publishes (the first is %s): build once, in one job, and deploy its digest", found[0].path)
	}
	c := found[0]
	j := c.job
	if get(j.node, "environment") != nil {
		r.add(j.path+".environment", "build job %q runs in an environment: its token's subject becomes environment:<env>, which the build role refuses, and a job that can push must not hold an environment's deploy role; remove it", j.id)
	}
	for _, other := range wf.daggerCommands() {
		if other.job.id == j.id && isDeployCommand(other) {
			r.add(other.path, "build job %q deploys: it only publishes; deploy its digest from a job with an environment", j.id)
		}
	}
	if c.fn("publish") == nil {
		r.add(c.path, "publish is not run as a `dagger call` function chain: use verb: call with args: with-github-oidc ... with-aws ... publish ...")
		return j, true
	}
	checkCredentialChain(c, "publish", "AWS_BUILD_ROLE_ARN", r)
	p := c.fn("publish")
	checkVarsFlag(c.path, "publish", p, "repository", "ECR_REPOSITORY", r)
	checkRevision(c.path, "publish", p, r)
	checkMainOnly(j, r)
	if ref := "steps." + c.step.id + ".outputs.output"; c.step.id == "" || !strings.Contains(normalizeSpace(scalar(get(get(j.node, "outputs"), "image"))), ref) {
		r.add(j.path+".outputs", "the build job does not hand on its digest: give the publish step an id and set outputs: {image: ${{ steps.<id>.outputs.output }}}")
	}
	return j, true
}

func isDeployCommand(c daggerCommand) bool {
	for _, fn := range deployFns {
		if c.fn(fn) != nil || c.hasWord(fn) {
			return true
		}
	}
	return false
}

// deployCommands lists every command that deploys or promotes.
func deployCommands(wf *workflow) []daggerCommand {
	var out []daggerCommand
	for _, c := range wf.daggerCommands() {
		if isDeployCommand(c) {
			out = append(out, c)
		}
	}
	return out
}

// checkDeployJob holds one deploy/promote command and its job to the rules.
func checkDeployJob(wf *workflow, build *job, c daggerCommand, r *report) {
	j := c.job
	if j.id == build.id {
		return // reported by checkBuildJob
	}
	for _, other := range deployCommands(wf) {
		if other.job.id == j.id && other.path < c.path {
			r.add(c.path, "a second step deploys in job %s (the first is %s): one deploy per job, so one run never applies twice", j.id, other.path)
			return
		}
	}
	fn, target := deployTarget(c)
	if fn == "" {
		r.add(c.path, "deploy is not run as a `dagger call` function chain: use verb: call with args: with-github-oidc ... with-aws ... deploy ...")
		return
	}
	checkCredentialChain(c, fn, "AWS_ROLE_ARN", r)
	checkTarget(j, fn, target, r)
	checkConsumesBuild(wf, build, c, fn, r)
	checkConcurrency(j, target, r)
	checkMainOnly(j, r)
	checkSummary(c, r)
	checkCleanup(wf, c, target, r)
}

// checkCleanup: cancelled, a deploy job leaves its new revision in place unverified (on Dagger the deploy's
// own cleanup cannot reach the cluster), so the job must end with a step that runs only then and undoes
// exactly that, with the job's own role.
func checkCleanup(wf *workflow, c daggerCommand, target string, r *report) {
	for _, o := range wf.daggerCommands() {
		rb := o.fn("rollback")
		if o.job.id != c.job.id || rb == nil {
			continue
		}
		cond := normalizeSpace(strings.TrimSpace(scalar(get(o.step.node, "if"))))
		if strings.TrimSuffix(strings.TrimPrefix(cond, "${{ "), " }}") != "cancelled()" {
			r.add(o.step.path+".if", "the rollback step runs if %q: make it if: cancelled(), so it runs only when the job is cancelled", cond)
		}
		if !revisionExpr.MatchString(rb.flags["if-interrupted"]) {
			r.add(o.path, "rollback --if-interrupted is %q: pass ${{ github.sha }}, so it undoes only what this run's deploy left, and nothing if it finished", rb.flags["if-interrupted"])
		}
		if rb.flags["overlay"] != target {
			r.add(o.path, "rollback --overlay %q differs from the job's target %q", rb.flags["overlay"], target)
		}
		checkCredentialChain(o, "rollback", "AWS_ROLE_ARN", r)
		checkVarsFlag(o.path, "rollback", rb, "cluster", "EKS_CLUSTER", r)
		return
	}
	r.add(c.job.path, "a cancelled %s job leaves its new revision in place unverified: end it with a step with if: cancelled() whose dagger call ends in `rollback --overlay %s --if-interrupted ${{ github.sha }} --cluster ${{ vars.EKS_CLUSTER }}`", c.job.id, target)
}

// deployTarget returns the function and the environment it deploys to.
func deployTarget(c daggerCommand) (fn, target string) {
	if d := c.fn("deploy"); d != nil {
		return "deploy", d.flags["overlay"]
	}
	if p := c.fn("promote"); p != nil {
		return "promote", p.flags["to"]
	}
	return "", ""
}

func environmentNode(j *job) *yaml.Node {
	env := get(j.node, "environment")
	if name := get(env, "name"); name != nil {
		return name
	}
	return env
}

func checkTarget(j *job, fn, target string, r *report) {
	env := scalar(environmentNode(j))
	flag := map[string]string{"deploy": "--overlay", "promote": "--to"}[fn]
	switch {
	case env == "":
		r.add(j.path, "%s without environment: set environment: to the target so its reviewers, branch policy and AWS_ROLE_ARN apply", fn)
	case strings.Contains(env, "${{"):
		r.add(j.path+".environment", "environment %q is an expression: name one environment per job, so each job has exactly one role and one set of protection rules", env)
	case env != target:
		r.add(j.path+".environment", "environment %q differs from %s %q: one environment's role and reviewers would guard a deploy to another", env, flag, target)
	}
}

// checkConsumesBuild: deploy the build job's digest, never build again.
func checkConsumesBuild(wf *workflow, build *job, c daggerCommand, fn string, r *report) {
	j, f := c.job, c.fn(fn)
	digest := regexp.MustCompile(`^\$\{\{\s*needs\.` + regexp.QuoteMeta(build.id) + `\.outputs\.image\s*\}\}$`)
	want := fmt.Sprintf("${{ needs.%s.outputs.image }}", build.id)
	if !listHas(get(j.node, "needs"), build.id) {
		r.add(j.path+".needs", "job %s does not need %s: it must run after the build and deploy its digest", j.id, build.id)
	}
	checkRevision(c.path, fn, f, r)
	checkVarsFlag(c.path, fn, f, "cluster", "EKS_CLUSTER", r)
	switch fn {
	case "deploy":
		if _, rebuilds := f.flags["repository"]; rebuilds || !digest.MatchString(f.flags["image"]) {
			r.add(c.path, "deploy does not use the build job's digest: pass --image %s and no --repository (deploy --repository tests, builds and pushes again)", want)
		}
	case "promote":
		if !digest.MatchString(f.flags["expect-image"]) {
			r.add(c.path, "promote does not check the digest it promotes: pass --expect-image %s, so prod gets exactly what the build job published", want)
		}
		if !needsDeployJob(wf, j) {
			r.add(j.path+".needs", "job %s promotes without waiting for a deploy job: add the staging job to needs, so prod only gets what staging ran", j.id)
		}
	}
}

func needsDeployJob(wf *workflow, j *job) bool {
	for _, c := range deployCommands(wf) {
		if c.job.id != j.id && c.fn("deploy") != nil && listHas(get(j.node, "needs"), c.job.id) {
			return true
		}
	}
	return false
}

func checkRevision(path, fn string, f *fnCall, r *report) {
	if !revisionExpr.MatchString(f.flags["revision"]) {
		r.add(path, "%s --revision is %q: pass ${{ github.sha }} so the image and report name the commit", fn, f.flags["revision"])
	}
}

// checkMainOnly: the environment:<env> subject does not name the branch, so
// the AWS trust policy cannot refuse another ref; the job condition does.
func checkMainOnly(j *job, r *report) {
	cond := normalizeSpace(strings.TrimSpace(scalar(get(j.node, "if"))))
	cond = strings.TrimSuffix(strings.TrimPrefix(cond, "${{ "), " }}")
	if !mainOnly.MatchString(cond) || strings.Contains(cond, "||") {
		r.add(j.path+".if", "job %s would run for any ref that triggers it: add if: github.ref == 'refs/heads/main' (and no ||)", j.id)
	}
}

// checkConcurrency queues a job's runs per target environment and ref and never
// cancels one: a cancelled rollout leaves the cluster half-applied, and a
// group without the ref could be joined by runs from other refs.
func checkConcurrency(j *job, env string, r *report) {
	n, path := get(j.node, "concurrency"), j.path+".concurrency"
	want := fmt.Sprintf("{group: ship-deploy-%s-${{ github.ref }}, cancel-in-progress: false}", env)
	if n == nil {
		r.add(path, "job %s has no concurrency: two deploys of %s could race; set %s", j.id, env, want)
		return
	}
	group := scalar(n)
	if n.Kind == yaml.MappingNode {
		group = scalar(get(n, "group"))
	}
	if env == "" || !strings.Contains(group, env) || !regexp.MustCompile(`\$\{\{\s*github\.ref\s*\}\}`).MatchString(group) {
		r.add(path+".group", "group %q must name the environment and the ref: %s", group, want)
	}
	if cancel := get(n, "cancel-in-progress"); cancel == nil || scalar(cancel) != "false" {
		r.add(path+".cancel-in-progress", "cancel-in-progress must be false: a cancelled deploy leaves the cluster half-applied")
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
