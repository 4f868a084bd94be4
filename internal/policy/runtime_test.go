// Tests of the runtime roles: the trust names pods.eks.amazonaws.com and
// only this cluster, namespace and service account; the user's permissions
// are kept as written; and every way a policy could escape least privilege
// ("*" on "*", IAM actions and wildcards over them, NotAction) is refused
// with the file, the statement and the fix.
package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"dagger/ship/internal/testenv/golden"
)

const s3Policy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ReadUploads", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": "arn:aws:s3:::shop-uploads/${aws:PrincipalTag/kubernetes-namespace}/*"},
    {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:eu-west-1:123456789012:orders",
     "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}}
  ]
}`

func withRuntime() Inputs {
	in := sampleInputs()
	for i, sa := range map[int]string{1: "shop-api", 2: "shop-api"} {
		in.Environments[i].Runtime = &RuntimeAccess{ServiceAccount: sa, Policy: []byte(s3Policy),
			Source: "overlays/" + in.Environments[i].Name + "/aws-policy.json"}
	}
	return in
}

func TestRuntimeGoldens(t *testing.T) {
	js, err := RenderJSON(withRuntime())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/policies-runtime.json", js)
	text, err := RenderText(withRuntime())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/policies-runtime.txt", []byte(text))
	md, err := Comparison(withRuntime())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/comparison-runtime.md", []byte(md))
}

// TestRuntimeRolesInJSON reads the JSON as a Terraform user would: one
// runtime role per environment that has a policy, trusting Pod Identity for
// its own namespace and service account, with its association.
func TestRuntimeRolesInJSON(t *testing.T) {
	js, err := RenderJSON(withRuntime())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Roles []struct {
			Name, Kind, Environment string
			TrustPolicy             Document
			PermissionPolicy        json.RawMessage
			PodIdentityAssociation  *struct{ Cluster, Namespace, ServiceAccount, RoleArn string }
		}
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	var runtime []string
	for _, r := range doc.Roles {
		if r.Kind != KindRuntime {
			if r.PodIdentityAssociation != nil {
				t.Errorf("CI role %s has a pod identity association", r.Name)
			}
			continue
		}
		runtime = append(runtime, r.Name)
		ns := map[string]string{"staging": "fastapi-staging", "prod": "fastapi-prod"}[r.Environment]
		st := r.TrustPolicy.Statement[0]
		if st.Principal["Service"] != PodIdentityService || strings.Join(st.Action, ",") != "sts:AssumeRole,sts:TagSession" {
			t.Errorf("%s trust = %+v", r.Name, st)
		}
		cond := st.Condition["StringEquals"]
		if cond[NamespaceTagKey][0] != ns || cond[ServiceAccountTagKey][0] != "shop-api" ||
			cond[ClusterARNTagKey][0] != "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eks" || len(st.Condition) != 1 {
			t.Errorf("%s trust conditions = %v", r.Name, st.Condition)
		}
		p := r.PodIdentityAssociation
		if p == nil || p.Cluster != "prod-eks" || p.Namespace != ns || p.ServiceAccount != "shop-api" ||
			p.RoleArn != "arn:aws:iam::123456789012:role/"+r.Name {
			t.Errorf("%s association = %+v", r.Name, p)
		}
		if !strings.Contains(compactJSON(r.PermissionPolicy), `"NumericLessThan":{"aws:MultiFactorAuthAge":3600}`) {
			t.Errorf("%s permissions not kept as written: %s", r.Name, r.PermissionPolicy)
		}
	}
	if strings.Join(runtime, ",") != "ship-shop-staging-runtime,ship-shop-prod-runtime" {
		t.Errorf("runtime roles = %v, want one per environment with a policy", runtime)
	}
}

func TestRuntimePolicyRefusals(t *testing.T) {
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	ok := `{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`
	for _, tc := range []struct {
		name, doc string
		statement int
		want      string // in the message; "" means accepted
	}{
		{"s3 read", stmt(ok), 0, ""},
		{"service wildcard on one bucket", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b"}`), 0, ""},
		{"deny of iam is fine", stmt(ok + `,{"Effect":"Deny","Action":"iam:*","Resource":"*"}`), 0, ""},
		{"star on star", stmt(ok + `,{"Sid":"Admin","Effect":"Allow","Action":"*","Resource":"*"}`), 2, `"*" on "*"`},
		{"star on star in lists", stmt(`{"Effect":"Allow","Action":["s3:GetObject","*"],"Resource":["arn:aws:s3:::b","*"]}`), 1, `"*" on "*"`},
		{"star action on one resource", stmt(`{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b"}`), 1, "covers IAM actions"},
		{"iam pass role", stmt(`{"Sid":"Pass","Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::123456789012:role/x"}`), 1, `"iam:PassRole"`},
		{"iam star", stmt(`{"Effect":"Allow","Action":"iam:*","Resource":"*"}`), 1, "covers IAM actions"},
		{"iam pass wildcard", stmt(`{"Effect":"Allow","Action":"iam:Pass*","Resource":"*"}`), 1, `"iam:Pass*"`},
		{"iam upper case", stmt(`{"Effect":"Allow","Action":"IAM:CreateRole","Resource":"*"}`), 1, "covers IAM actions"},
		{"service wildcard over iam", stmt(`{"Effect":"Allow","Action":"i*:Get*","Resource":"*"}`), 1, "covers IAM actions"},
		{"any service", stmt(`{"Effect":"Allow","Action":"*:PassRole","Resource":"*"}`), 1, "covers IAM actions"},
		{"not action", stmt(`{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}`), 1, "NotAction"},
		{"principal", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}`), 1, "Principal"},
		{"no resource", stmt(`{"Effect":"Allow","Action":"s3:GetObject"}`), 1, "no Resource"},
		{"bad action", stmt(`{"Effect":"Allow","Action":"s3GetObject","Resource":"*"}`), 1, "not service:action"},
		{"bad effect", stmt(`{"Effect":"allow","Action":"s3:GetObject","Resource":"*"}`), 1, `Effect is "allow"`},
		{"no version", `{"Statement":[` + ok + `]}`, 0, `Version is ""`},
		{"no statement", `{"Version":"2012-10-17"}`, 0, "no Statement"},
		{"not json", `{"Version":`, 0, "not a JSON object"},
		{"too big", stmt(ok + strings.Repeat(","+ok, 200)), 0, "over IAM's 10240"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRuntimePolicy("overlays/prod/aws-policy.json", []byte(tc.doc))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *RuntimePolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *RuntimePolicyError containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || pe.Statement != tc.statement ||
				!strings.HasPrefix(err.Error(), "runtime policy overlays/prod/aws-policy.json") || pe.Fix == "" {
				t.Errorf("err = %v (statement %d), want %q in statement %d", err, pe.Statement, tc.want, tc.statement)
			}
		})
	}
}

func TestRuntimePolicyErrorNamesTheStatement(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Sid":"Admin","Effect":"Allow","Action":"*","Resource":"*"}]}`
	err := CheckRuntimePolicy("overlays/prod/aws-policy.json", []byte(doc))
	want := `runtime policy overlays/prod/aws-policy.json, statement 2 (Sid "Admin"): allows "*" on "*"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v\nwant prefix %s", err, want)
	}
}

// TestRuntimeInputsRefused: Generate refuses a runtime role that would be
// shared or unsafe before any document exists.
func TestRuntimeInputsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Inputs)
		field string
		want  string
	}{
		{"default service account", func(in *Inputs) { in.Environments[2].Runtime.ServiceAccount = "default" }, "ServiceAccount", "spec.template.spec.serviceAccountName"},
		{"no service account", func(in *Inputs) { in.Environments[2].Runtime.ServiceAccount = "" }, "ServiceAccount", "default service account"},
		{"bad service account", func(in *Inputs) { in.Environments[2].Runtime.ServiceAccount = "Shop_API" }, "ServiceAccount", "DNS-1123"},
		{"runtime role name too long", func(in *Inputs) {
			long := strings.Repeat("e", 50) // ship-shop-<env> fits in 64, ship-shop-<env>-runtime does not
			in.Environments = append(in.Environments, Environment{Name: long, Namespace: "fastapi-long",
				Runtime: &RuntimeAccess{ServiceAccount: "shop-api", Policy: []byte(s3Policy), Source: "overlays/" + long + "/aws-policy.json"}})
		}, "RoleName", "ship-<repo>-<environment>-runtime"},
		{"name collision", func(in *Inputs) {
			in.Environments = append(in.Environments, Environment{Name: "staging-runtime", Namespace: "fastapi-staging-rt"})
		}, "RoleName", "two roles would share this name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := withRuntime()
			tc.edit(&in)
			_, err := Generate(in)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tc.field || !strings.Contains(ie.Fix, tc.want) {
				t.Errorf("err = %v, want field %s with %q", err, tc.field, tc.want)
			}
		})
	}
	in := withRuntime()
	in.Environments[2].Runtime.Policy = []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}}`)
	var pe *RuntimePolicyError
	if _, err := Generate(in); !errors.As(err, &pe) || pe.Source != "overlays/prod/aws-policy.json" {
		t.Errorf("Generate with an iam: action = %v", err)
	}
}

func TestNoRuntimeRoleWithoutPolicy(t *testing.T) {
	b, err := Generate(sampleInputs())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range b.Roles {
		if r.Kind == KindRuntime || r.PodIdentity != nil {
			t.Errorf("runtime role %s without a policy", r.Name)
		}
	}
}
