// Each check is proven both ways: the good fixture passes, and a fixture
// with one field broken fails naming that object and field. Warnings and
// info are proven to be reported without failing.
package validate

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func readGood(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGoodFixturePasses(t *testing.T) {
	r, err := Manifests([]byte(readGood(t)), Options{RequireDigest: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Err() != nil {
		t.Fatalf("good fixture failed:\n%s", r)
	}
	want := []string{"Deployment team/web", "Service team/web", "CronJob team/report"}
	if strings.Join(r.Objects, ",") != strings.Join(want, ",") {
		t.Errorf("Objects = %q, want %q", r.Objects, want)
	}
}

const (
	dep  = "Deployment team/web"
	app  = "spec.template.spec.containers[app]"
	cron = "CronJob team/report"
	job  = "spec.jobTemplate.spec.template.spec.containers[job]"
)

func TestChecks(t *testing.T) {
	cases := []struct {
		name     string
		old, new string // one edit of the good fixture
		digest   bool   // Options.RequireDigest
		object   string
		field    string
		message  string // substring
	}{
		{"misspelt field", "          livenessProbe:", "          livenesProbe:", false, dep, app[:len(app)-5] + "[0].livenesProbe", "unknown field"},
		{"unknown field in Service", "  selector: {app: web}\n  ports", "  selector: {app: web}\n  portz: []\n  ports", false, "Service team/web", "spec.portz", "unknown field"},
		{"duplicate key", "  name: report\n", "  name: report\n  name: report\n", false, "CronJob team/report", "", "duplicate key"},
		{"unknown kind", "kind: Service\n", "kind: Servise\n", false, "Servise team/web", "kind", "not a known built-in Kubernetes type"},
		{"custom resource", "apiVersion: v1\nkind: Service\n", "apiVersion: example.com/v1\nkind: Widget\n", false, "Widget team/web", "kind", "not a known built-in Kubernetes type"},
		{"missing kind", "kind: Service\n", "", false, "object team/web", "kind", "missing"},
		{"wrong value type", "  schedule: \"0 * * * *\"", "  schedule: [1]", false, cron, "", "does not decode"},
		{"placeholder image", "image: 127.0.0.1:5000/web@sha256:0000000000000000000000000000000000000000000000000000000000000002", "image: fastapi-app", false, dep, app + ".image", `logical placeholder "fastapi-app"`},
		{"placeholder with tag", "image: 127.0.0.1:5000/web@sha256:0000000000000000000000000000000000000000000000000000000000000002", "image: fastapi-app:1.0", false, dep, app + ".image", "logical placeholder"},
		{"latest tag", "image: 127.0.0.1:5000/web@sha256:0000000000000000000000000000000000000000000000000000000000000002", "image: 127.0.0.1:5000/web:latest", false, dep, app + ".image", "uses :latest"},
		{"no tag", "image: 127.0.0.1:5000/web@sha256:0000000000000000000000000000000000000000000000000000000000000002", "image: 127.0.0.1:5000/web", false, dep, app + ".image", "no tag or digest"},
		{"no tag on a logical name", "image: 127.0.0.1:5000/web@sha256:0000000000000000000000000000000000000000000000000000000000000002", "image: shop-api", false, dep, app + ".image", `if "shop-api" is your app's logical image name, pass --image-name shop-api so ship replaces it`},
		{"bad digest", "image: 127.0.0.1:5000/web@sha256:0000000000000000000000000000000000000000000000000000000000000002", "image: 127.0.0.1:5000/web@sha256:xyz", false, dep, app + ".image", "bad digest"},
		{"tag without digest", "image: 127.0.0.1:5000/report@sha256:0000000000000000000000000000000000000000000000000000000000000003", "image: 127.0.0.1:5000/report:1.0", true, cron, job + ".image", "not pinned by digest"},
		{"init container without digest", "image: 127.0.0.1:5000/web:1.0@sha256:0000000000000000000000000000000000000000000000000000000000000001", "image: 127.0.0.1:5000/web:1.0", true, dep, "spec.template.spec.initContainers[migrate].image", "not pinned by digest"},
		{"no liveness probe", "          livenessProbe:\n            httpGet: {path: /healthz, port: 8000}\n", "", false, dep, app + ".livenessProbe", "missing"},
		{"no readiness probe", "          readinessProbe:\n            httpGet: {path: /readyz, port: 8000}\n", "", false, dep, app + ".readinessProbe", "missing"},
		{"no cpu limit", "limits: {cpu: 500m, memory: 256Mi}", "limits: {memory: 256Mi}", false, dep, app + ".resources.limits.cpu", "missing"},
		{"no memory request", "requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: 100m}", false, dep, app + ".resources.requests.memory", "missing"},
		{"no resources on a job", "                requests: {cpu: 10m, memory: 16Mi}\n                limits: {cpu: 100m, memory: 64Mi}\n", "                requests: {cpu: 10m, memory: 16Mi}\n", false, cron, job + ".resources.limits.memory", "missing"},
		{"runs as root", "        runAsNonRoot: true\n        seccompProfile", "        runAsNonRoot: false\n        seccompProfile", false, dep, app + ".securityContext.runAsNonRoot", "must be true"},
		{"container overrides runAsNonRoot", "                runAsNonRoot: true\n", "                runAsNonRoot: false\n", false, cron, job + ".securityContext.runAsNonRoot", "must be true"},
		{"writable root fs", "          securityContext:\n            readOnlyRootFilesystem: true\n            allowPrivilegeEscalation: false\n            capabilities: {drop: [ALL]}\n---", "          securityContext:\n            readOnlyRootFilesystem: false\n            allowPrivilegeEscalation: false\n            capabilities: {drop: [ALL]}\n---", false, dep, app + ".securityContext.readOnlyRootFilesystem", "must be true"},
		{"privilege escalation unset", "                allowPrivilegeEscalation: false\n", "", false, cron, job + ".securityContext.allowPrivilegeEscalation", "must be set to false"},
		{"capabilities kept", "                capabilities: {drop: [ALL]}", "                capabilities: {drop: [NET_RAW]}", false, cron, job + ".securityContext.capabilities.drop", "must contain ALL"},
		{"no seccomp", "        runAsNonRoot: true\n        seccompProfile: {type: RuntimeDefault}\n", "        runAsNonRoot: true\n", false, dep, app + ".securityContext.seccompProfile.type", "must be RuntimeDefault"},
		{"unconfined seccomp", "                seccompProfile: {type: RuntimeDefault}", "                seccompProfile: {type: Unconfined}", false, cron, job + ".securityContext.seccompProfile.type", "must be RuntimeDefault"},
		{"privileged", "                capabilities: {drop: [ALL]}\n", "                capabilities: {drop: [ALL]}\n                privileged: true\n", false, cron, job + ".securityContext.privileged", "must not be true"},
		{"not an object", "---\napiVersion: batch/v1", "---\n- just\n- a list\n---\napiVersion: batch/v1", false, "document 3", "", "not a Kubernetes object"},
	}
	good := readGood(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if n := strings.Count(good, c.old); n != 1 {
				t.Fatalf("edit target occurs %d times in the good fixture, want 1", n)
			}
			bad := strings.Replace(good, c.old, c.new, 1)
			r, err := Manifests([]byte(bad), Options{RequireDigest: c.digest, ImageName: "fastapi-app"})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatalf("bad fixture passed:\n%s", r)
			}
			if !hasFinding(r, c.object, c.field, c.message) {
				t.Fatalf("no finding {%s, %s, ...%s...}; got:\n%s", c.object, c.field, c.message, r)
			}
			var verr *Error
			if !errors.As(r.Err(), &verr) || len(verr.Findings) != len(r.Findings) {
				t.Fatalf("Err() = %v, want *Error with %d findings", r.Err(), len(r.Findings))
			}
			line := c.object + ": "
			if c.field != "" {
				line += c.field + ": "
			}
			if !strings.Contains(r.Err().Error(), line) || !strings.Contains(r.String(), "FAIL "+c.object) {
				t.Errorf("error/report do not name %q:\n%s\n%s", line, r.Err(), r)
			}
		})
	}
}

func hasFinding(r *Report, object, field, msg string) bool {
	for _, f := range r.Findings {
		if f.Object == object && f.Field == field && strings.Contains(f.Message, msg) {
			return true
		}
	}
	return false
}

func TestNotYAML(t *testing.T) {
	for _, in := range []string{"a: [unclosed\n", "kind: Pod\n\tbad: tab\n", "key: \"unterminated\n"} {
		r, err := Manifests([]byte(in), Options{})
		if err == nil {
			t.Errorf("Manifests(%q) = %v, want an error", in, r)
		}
	}
	r, err := Manifests([]byte("---\n# only a comment\n---\n"), Options{})
	if err != nil || !r.OK() || len(r.Objects) != 0 {
		t.Errorf("empty documents: report %v, err %v; want OK with no objects", r, err)
	}
}

func TestReportStringWithSeverities(t *testing.T) {
	r := &Report{
		Objects: []string{"Service a/b", "Deployment a/b", "Deployment a/c", "Deployment a/d"},
		Findings: []Finding{
			{Object: "Deployment a/b", Field: "spec.replicas", Message: "noted", Severity: Info},
			{Object: "Deployment a/c", Field: "spec.x", Message: "risky", Severity: Warning},
			{Object: "Deployment a/d", Field: "spec.y", Message: "risky", Severity: Warning},
			{Object: "Deployment a/d", Field: "spec.z", Message: "bad"},
		},
	}
	want := "ok   Service a/b\nok   Deployment a/b\n     - info: spec.replicas: noted\n" +
		"warn Deployment a/c\n     - warning: spec.x: risky\n" +
		"FAIL Deployment a/d\n     - warning: spec.y: risky\n     - spec.z: bad\n" +
		"4 objects checked, 1 findings, 2 warnings, 1 info\n"
	if r.String() != want {
		t.Errorf("String() =\n%s\nwant\n%s", r, want)
	}
	if r.OK() {
		t.Error("OK() with a failed check")
	}
	if got := r.Err().Error(); got != "validate: manifests failed 1 checks; fix them and render again:\n  Deployment a/d: spec.z: bad" {
		t.Errorf("Err() = %q, want only the failed check", got)
	}
	if got := r.Findings[2].String(); got != "Deployment a/d: warning: spec.y: risky" {
		t.Errorf("Finding.String() = %q", got)
	}
}

func TestReportString(t *testing.T) {
	r := &Report{
		Objects:  []string{"Service a/b", "Deployment a/b"},
		Findings: []Finding{{Object: "Deployment a/b", Field: "spec.x", Message: "bad"}},
	}
	want := "ok   Service a/b\nFAIL Deployment a/b\n     - spec.x: bad\n2 objects checked, 1 findings\n"
	if r.String() != want {
		t.Errorf("String() =\n%s\nwant\n%s", r, want)
	}
	if got := r.Err().Error(); got != "validate: manifests failed 1 checks; fix them and render again:\n  Deployment a/b: spec.x: bad" {
		t.Errorf("Err() = %q", got)
	}
}

const hpaV2 = `---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web-cpu, namespace: %s}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: %s, name: web}
  minReplicas: 2
  maxReplicas: 5
`

const hpaV1 = `---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web-v1, namespace: team}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
`

// migrationJob runs the Deployment's own image, as a migration does; annotations go on the Job.
const migrationJob = `---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: team
  annotations: {%s}
spec:
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: migrate
          image: 127.0.0.1:5000/web@sha256:0000000000000000000000000000000000000000000000000000000000000002
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {cpu: 100m, memory: 64Mi}
          securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`

func TestNonFailingFindings(t *testing.T) {
	const history = "spec:\n  selector:\n    matchLabels: {app: web}"
	withHistory := func(n string) string {
		return strings.Replace(readGood(t), history, "spec:\n  revisionHistoryLimit: "+n+"\n  selector:\n    matchLabels: {app: web}", 1)
	}
	rollback := "rollback impossible: ship rolls back to the previous revision, which Kubernetes keeps only when revisionHistoryLimit >= 2"
	cases := []struct {
		name     string
		in       string
		severity Severity
		object   string
		field    string
		message  string // whole; "" when no finding is expected
		summary  string
	}{
		{"history of one", withHistory("1"), Warning, dep, "spec.revisionHistoryLimit", "is 1; " + rollback, "3 objects checked, 0 findings, 1 warning\n"},
		{"history of none", withHistory("0"), Warning, dep, "spec.revisionHistoryLimit", "is 0; " + rollback, "3 objects checked, 0 findings, 1 warning\n"},
		{"history of two", withHistory("2"), Warning, dep, "spec.revisionHistoryLimit", "", "3 objects checked, 0 findings\n"},
		{"autoscaled (v2)", readGood(t) + fmt.Sprintf(hpaV2, "team", "Deployment"), Info, dep, "spec.replicas",
			"left to HorizontalPodAutoscaler web-cpu: ship does not apply it", "4 objects checked, 0 findings, 1 info\n"},
		{"autoscaled (v1)", readGood(t) + hpaV1, Info, dep, "spec.replicas",
			"left to HorizontalPodAutoscaler web-v1: ship does not apply it", "4 objects checked, 0 findings, 1 info\n"},
		{"autoscaler in another namespace", readGood(t) + fmt.Sprintf(hpaV2, "other", "Deployment"), Info, dep, "spec.replicas", "", "4 objects checked, 0 findings\n"},
		{"autoscaler of another kind", readGood(t) + fmt.Sprintf(hpaV2, "team", "StatefulSet"), Info, dep, "spec.replicas", "", "4 objects checked, 0 findings\n"},
		{"unmarked job with the service image", readGood(t) + fmt.Sprintf(migrationJob, ""), Warning, "Job team/migrate", "metadata.annotations",
			"runs the service image but is not a pre-deploy job: the next revision changes its pod template, which the cluster refuses for an existing Job; if it is a migration, annotate it ship/hook: pre-deploy",
			"4 objects checked, 0 findings, 1 warning\n"},
		{"pre-deploy job with the service image", readGood(t) + fmt.Sprintf(migrationJob, "ship/hook: pre-deploy"), Warning, "Job team/migrate", "metadata.annotations", "", "4 objects checked, 0 findings\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.in == readGood(t) {
				t.Fatal("the edit did not apply to the good fixture")
			}
			r, err := Manifests([]byte(c.in), Options{RequireDigest: true, ImageName: "fastapi-app"})
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || r.Err() != nil {
				t.Fatalf("a non-failing finding failed the report: %v", r.Err())
			}
			var got []Finding
			for _, f := range r.Findings {
				if f.Object == c.object && f.Field == c.field {
					got = append(got, f)
				}
			}
			switch {
			case c.message == "" && len(got) != 0:
				t.Errorf("want no finding on %s %s, got %+v", c.object, c.field, got)
			case c.message != "" && (len(got) != 1 || got[0].Message != c.message || got[0].Severity != c.severity):
				t.Errorf("want one %s %q on %s %s, got %+v", c.severity, c.message, c.object, c.field, got)
			}
			if !strings.HasSuffix(r.String(), c.summary) {
				t.Errorf("report does not end with %q:\n%s", c.summary, r)
			}
		})
	}
}
