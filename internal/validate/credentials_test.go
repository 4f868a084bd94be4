// Static AWS keys in manifests: a literal key in a container's env or a
// ConfigMap fails with the field and the way out (the runtime role); keys
// taken from a Secret only warn; ordinary env passes.
package validate

import (
	"strings"
	"testing"
)

func TestStaticAWSKeys(t *testing.T) {
	const anchor = "          livenessProbe:"
	withEnv := func(env string) string {
		return strings.Replace(readGood(t), anchor, "          env:\n"+env+anchor, 1)
	}
	cm := "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: team}\ndata:\n"
	cases := []struct {
		name, manifests string
		field, object   string // "" field: no finding expected
		severity        Severity
	}{
		{"literal access key id", withEnv("            - {name: AWS_ACCESS_KEY_ID, value: AKIAIOSFODNN7EXAMPLE}\n"),
			app + ".env[AWS_ACCESS_KEY_ID].value", dep, Failure},
		{"literal secret key", withEnv("            - {name: AWS_SECRET_ACCESS_KEY, value: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY}\n"),
			app + ".env[AWS_SECRET_ACCESS_KEY].value", dep, Failure},
		{"literal session token", withEnv("            - {name: AWS_SESSION_TOKEN, value: FQoGZXIvYXdzEXAMPLE}\n"),
			app + ".env[AWS_SESSION_TOKEN].value", dep, Failure},
		{"key id under another name", withEnv("            - {name: S3_KEY, value: ASIAIOSFODNN7EXAMPLE}\n"),
			app + ".env[S3_KEY].value", dep, Failure},
		{"keys from a Secret", withEnv("            - name: AWS_SECRET_ACCESS_KEY\n              valueFrom: {secretKeyRef: {name: aws, key: secret}}\n"),
			app + ".env[AWS_SECRET_ACCESS_KEY].valueFrom", dep, Warning},
		{"literal key in a ConfigMap", readGood(t) + cm + "  AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE\n",
			"data.AWS_ACCESS_KEY_ID", "ConfigMap team/settings", Failure},
		{"ordinary env", withEnv("            - {name: AWS_REGION, value: eu-west-1}\n            - {name: AWS_ACCESS_KEY_ID, value: \"\"}\n"), "", "", 0},
		{"ordinary ConfigMap", readGood(t) + cm + "  AWS_REGION: eu-west-1\n", "", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Manifests([]byte(tc.manifests), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var found []Finding
			for _, f := range r.Findings {
				if strings.Contains(f.Message, "runtime role") {
					found = append(found, f)
				}
			}
			if tc.field == "" {
				if len(found) != 0 || !r.OK() {
					t.Fatalf("unexpected findings:\n%s", r)
				}
				return
			}
			if len(found) != 1 || found[0].Field != tc.field || found[0].Object != tc.object || found[0].Severity != tc.severity {
				t.Fatalf("findings = %+v\nwant %s %s (%s)\n%s", found, tc.object, tc.field, tc.severity, r)
			}
			if r.OK() != (tc.severity != Failure) {
				t.Errorf("OK = %v for a %s", r.OK(), tc.severity)
			}
			if !strings.Contains(found[0].Message, "aws-policy.json") {
				t.Errorf("message does not say how to use the runtime role: %s", found[0].Message)
			}
		})
	}
}

func TestStaticKeysInInitContainersAndJobs(t *testing.T) {
	good := readGood(t)
	m := strings.Replace(good, "      initContainers:\n        - name: migrate\n", "      initContainers:\n        - name: migrate\n          env: [{name: AWS_ACCESS_KEY_ID, value: AKIAIOSFODNN7EXAMPLE}]\n", 1)
	r, err := Manifests([]byte(m), Options{})
	if err != nil || m == good {
		t.Fatalf("fixture edit failed (%v)", err)
	}
	if r.OK() || !strings.Contains(r.String(), "spec.template.spec.initContainers[migrate].env[AWS_ACCESS_KEY_ID].value") {
		t.Errorf("init container key not refused:\n%s", r)
	}
}
