// common.go holds the rules both workflows share: actions pinned by commit
// SHA, a pinned Dagger CLI, no cloud tools or ${{ }} interpolation in run
// scripts, and credentials that come only from OIDC and repository variables.
//
// Why: these are the supply-chain and credential-leak holes that a workflow
// review misses most often; each message says what to write instead.
package workflowcheck

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	pinnedRef      = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@\s]+)?@[0-9a-f]{40}$`)
	versionComment = regexp.MustCompile(`^#\s*v?\d+(\.\d+)*\S*`)
	exactVersion   = regexp.MustCompile(`^v?\d+\.\d+\.\d+$`)
	// A tool name at a command position: line start, after a separator,
	// `sudo `, a path or a subshell.
	forbiddenTool = regexp.MustCompile(`(?m)(?:^|[\s;&|(\x60/])(docker|aws|kubectl|sed|helm|eksctl)(?:\s|$|;|\))`)
	varsExpr      = regexp.MustCompile(`^\$\{\{\s*vars\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}$`)
	secretsRef    = regexp.MustCompile(`\bsecrets\s*(\.|\[)`)
	secretsName   = regexp.MustCompile(`\bsecrets\s*(\.[A-Za-z0-9_-]+|\[[^\]]*\])`)
)

// checkPinned requires every action (and reusable workflow) to be pinned by
// full commit SHA with a version comment: tags and branches can be moved to
// other code after review.
func checkPinned(wf *workflow, r *report) {
	for _, j := range wf.jobs {
		if u := get(j.node, "uses"); u != nil {
			checkRef(j.path+".uses", u, r)
		}
		for _, s := range j.steps {
			if s.uses != nil {
				checkRef(s.path+".uses", s.uses, r)
			}
		}
	}
}

func checkRef(path string, n *yaml.Node, r *report) {
	ref := scalar(n)
	switch {
	case strings.HasPrefix(ref, "./"):
		return // code from this repository, reviewed with it
	case strings.HasPrefix(ref, "docker://"):
		r.add(path, "%s runs a container image outside the pipeline: use the Dagger module instead", ref)
		return
	case !pinnedRef.MatchString(ref):
		name, at, _ := strings.Cut(ref, "@")
		r.add(path, "%s is pinned to %q, a movable ref: pin the full 40-hex commit SHA with the version in a comment (uses: %s@<sha> # vX.Y.Z)", name, at, name)
		return
	}
	if !versionComment.MatchString(strings.TrimSpace(n.LineComment)) {
		r.add(path, "%s is pinned by SHA without a version comment: append `# vX.Y.Z` so reviewers and update bots can tell which release it is", ref)
	}
}

// checkDaggerVersion requires an exact CLI version on every dagger step:
// "latest" changes under the module and is rate-limited by the installer.
func checkDaggerVersion(wf *workflow, r *report) {
	for _, j := range wf.jobs {
		for _, s := range j.steps {
			if !isDaggerAction(s) {
				continue
			}
			v := scalar(get(s.with, "version"))
			if !exactVersion.MatchString(v) {
				r.add(s.path+".with.version", "dagger-for-github version %q is not pinned: set version: \"0.21.8\" (the engine version in dagger.json)", v)
			}
		}
	}
}

// checkRunSteps rejects cloud CLIs (that work belongs inside the Dagger
// module, where it is tested) and ${{ }} pasted into scripts (an attacker-
// controlled value would become shell code).
func checkRunSteps(wf *workflow, r *report) {
	for _, j := range wf.jobs {
		for _, s := range j.steps {
			script := scalar(s.run)
			if script == "" {
				continue
			}
			for _, m := range forbiddenTool.FindAllStringSubmatch(script, -1) {
				r.add(s.path+".run", "run step calls %s: registry, cluster and AWS work belongs inside the Dagger module (dagger call deploy); remove the step", m[1])
			}
			if strings.Contains(script, "${{") {
				r.add(s.path+".run", "run script interpolates ${{ ... }} directly: pass the value through env: and use \"$NAME\" in the script")
			}
		}
	}
}

// checkSecrets reports every secrets.* reference except at allowed paths.
func checkSecrets(wf *workflow, r *report, why string, allowed func(path string) bool) {
	walkScalars(wf.root, "", func(path string, n *yaml.Node) {
		if allowed(path) {
			return
		}
		for _, ref := range secretsName.FindAllString(n.Value, -1) {
			r.add(path, "reads %s: %s", ref, why)
		}
		if strings.HasSuffix(path, ".secrets") && n.Value == "inherit" {
			r.add(path, "secrets: inherit hands every secret to the called workflow: %s", why)
		}
	})
}

// checkCredentialChain checks a call that reaches AWS: the OIDC request
// token must be a Dagger secret reference (env:), never a value pasted into
// the command line, and account settings must come from repository
// variables, never from secrets (they are not secret, and masking them hides
// which account a run used) nor from literals (they differ per environment).
func checkCredentialChain(c daggerCommand, fn, roleVar string, r *report) {
	oidc, aws, target := c.index("with-github-oidc"), c.index("with-aws"), c.index(fn)
	if oidc < 0 || aws < 0 || !(oidc < aws && aws < target) {
		r.add(c.path, "%s is not called through the credential chain: write `with-github-oidc --request-url env:ACTIONS_ID_TOKEN_REQUEST_URL --request-token env:ACTIONS_ID_TOKEN_REQUEST_TOKEN with-aws --region ... --role-arn ... %s ...`", fn, fn)
	}
	if f := c.fn("with-github-oidc"); f != nil {
		for _, fe := range [][2]string{{"request-url", "ACTIONS_ID_TOKEN_REQUEST_URL"}, {"request-token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}} {
			flag, env := fe[0], fe[1]
			if v := f.flags[flag]; v != "env:"+env {
				r.add(c.path, "--%s is %q: pass it as the Dagger secret env:%s so the token never appears in the command line or logs", flag, v, env)
			}
		}
	}
	if f := c.fn("with-aws"); f != nil {
		checkVarsFlag(c.path, "with-aws", f, "region", "AWS_REGION", r)
		checkRoleVar(c.path, f, fn, roleVar, r)
	}
}

// checkRoleVar requires --role-arn to be exactly ${{ vars.<roleVar> }}: each
// kind of job has its own role, and another job's role either fails or, worse,
// grants what this job must not have.
func checkRoleVar(path string, f *fnCall, fn, roleVar string, r *report) {
	v := f.flags["role-arn"]
	want := "${{ vars." + roleVar + " }}"
	if !varsExpr.MatchString(v) || secretsRef.MatchString(v) {
		checkVarsFlag(path, "with-aws", f, "role-arn", roleVar, r)
		return
	}
	if normalizeSpace(v) != want {
		r.add(path, "%s runs with --role-arn %s: its role is %s (%s)", fn, v, want, roleVarWhy[roleVar])
	}
}

var roleVarWhy = map[string]string{
	"AWS_BUILD_ROLE_ARN": "the build role, the only one that may push and the only one a main-branch job without environment can assume",
	"AWS_ROLE_ARN":       "the environment's own variable, so each environment's job gets that environment's role",
	"AWS_PLAN_ROLE_ARN":  "the read-only plan role bootstrap --plan-role creates for pull requests",
}

// checkVarsFlag requires flag of f to be exactly ${{ vars.NAME }}.
func checkVarsFlag(path, fn string, f *fnCall, flag, conventional string, r *report) {
	v, ok := f.flags[flag]
	switch {
	case !ok:
		r.add(path, "%s has no --%s: pass --%s ${{ vars.%s }}", fn, flag, flag, conventional)
	case secretsRef.MatchString(v):
		r.add(path, "--%s comes from secrets.*: account settings are not secret (masking hides which account a run used); use ${{ vars.%s }}", flag, conventional)
	case !varsExpr.MatchString(v):
		r.add(path, "--%s is %q: take it from a repository or environment variable, ${{ vars.%s }}", flag, v, conventional)
	}
}

// permissions reads a permissions node: all is "write-all"/"read-all" for
// the scalar forms, scopes the mapping form.
type permissions struct {
	set    bool
	all    string
	scopes map[string]string
}

func readPermissions(n *yaml.Node) permissions {
	p := permissions{set: n != nil, scopes: map[string]string{}}
	switch {
	case n == nil:
	case n.Kind == yaml.ScalarNode:
		p.all = n.Value
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.scopes[n.Content[i].Value] = n.Content[i+1].Value
		}
	}
	return p
}

var levels = map[string]int{"none": 0, "read": 1, "write": 2}

// wider names the first scope in job that exceeds base, or "".
func (job permissions) wider(base permissions) string {
	if job.all != "" {
		return "permissions: " + job.all
	}
	for _, scope := range sortedKeys(job.scopes) {
		lvl := job.scopes[scope]
		if levels[lvl] > levels[base.scopes[scope]] {
			return fmt.Sprintf("%s: %s", scope, lvl)
		}
	}
	return ""
}

// checkExactPermissions requires the top-level block to be exactly want.
func checkExactPermissions(wf *workflow, want map[string]string, r *report) {
	p := readPermissions(wf.permissions)
	wantText := formatScopes(want)
	switch {
	case !p.set:
		r.add("permissions", "no top-level permissions: the default token may write to the repository; set %s", wantText)
		return
	case p.all != "":
		r.add("permissions", "permissions: %s grants every scope to every job; set %s", p.all, wantText)
		return
	}
	for _, scope := range sortedKeys(want) {
		lvl := want[scope]
		if got := p.scopes[scope]; got != lvl {
			r.add("permissions", "%s", missingScopeMessage(scope, lvl, got))
		}
	}
	for _, scope := range sortedKeys(p.scopes) {
		lvl := p.scopes[scope]
		if _, ok := want[scope]; ok {
			continue
		}
		if scope == "id-token" {
			r.add("permissions.id-token", "id-token: %s at the top reaches every job: grant it only in the job that needs AWS", lvl)
			continue
		}
		r.add("permissions."+scope, "grants %s: %s, which this workflow does not need; remove it", scope, lvl)
	}
}

func missingScopeMessage(scope, want, got string) string {
	if scope == "id-token" && want == "write" {
		return "id-token: write is missing: without it the runner sets no ACTIONS_ID_TOKEN_REQUEST_URL and the deploy cannot get AWS credentials"
	}
	if got == "" {
		return fmt.Sprintf("%s is not granted: set %s: %s", scope, scope, want)
	}
	return fmt.Sprintf("%s is %s: set %s: %s", scope, got, scope, want)
}

func formatScopes(m map[string]string) string {
	var parts []string
	for _, k := range []string{"id-token", "contents"} {
		if v, ok := m[k]; ok {
			parts = append(parts, k+": "+v)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
