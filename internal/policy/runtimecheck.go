// The checks on the permission policy a user gives their service. The pods of
// an environment run whatever image is deployed there, so their role must not
// be a way out of least privilege: "*" on "*" is an administrator, and any
// IAM action (iam:PassRole, iam:CreatePolicyVersion, iam:AttachRolePolicy,
// or a wildcard that covers them) lets the pod grant itself anything. A
// refusal names the file, the statement and the fix; nothing is created
// until the document passes.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// MaxInlinePolicySize is IAM's limit on a role's inline policies, counted
// without whitespace.
const MaxInlinePolicySize = 10240

// RuntimePolicyError says what is wrong with a runtime policy and where.
type RuntimePolicyError struct {
	Source    string
	Statement int    // 1-based; 0: the document as a whole
	Sid       string // the statement's Sid, if any
	Problem   string
	Fix       string
}

func (e *RuntimePolicyError) Error() string {
	where := "runtime policy " + e.Source
	if e.Statement > 0 {
		where += fmt.Sprintf(", statement %d", e.Statement)
		if e.Sid != "" {
			where += fmt.Sprintf(" (Sid %q)", e.Sid)
		}
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Problem, e.Fix)
}

// actionRe is service:action, where either part may hold * and ?.
var actionRe = regexp.MustCompile(`^[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+$`)

// CheckRuntimePolicy refuses a document IAM would reject as an identity
// policy, and any Allow of "*" on "*" or of an IAM action.
func CheckRuntimePolicy(source string, doc []byte) error {
	fail := func(problem, fix string) error {
		return &RuntimePolicyError{Source: source, Problem: problem, Fix: fix}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return fail("not a JSON object ("+err.Error()+")", `write an IAM policy document: {"Version": "2012-10-17", "Statement": [...]}`)
	}
	var version string
	_ = json.Unmarshal(top["Version"], &version)
	if version != policyVersion {
		return fail(fmt.Sprintf("Version is %q", version),
			`set "Version": "2012-10-17" (without it IAM uses the 2008 language, where policy variables such as ${aws:PrincipalTag/kubernetes-namespace} are plain text)`)
	}
	if n := len(compactJSON(doc)); n > MaxInlinePolicySize {
		return fail(fmt.Sprintf("%d characters without whitespace, over IAM's %d for a role's inline policy", n, MaxInlinePolicySize),
			"shorten it: group actions with service-level wildcards such as s3:Get* and list resources once")
	}
	var stmts []map[string]json.RawMessage
	if err := unmarshalOneOrMany(top["Statement"], &stmts); err != nil || len(stmts) == 0 {
		return fail("no Statement", `add "Statement": [{"Effect": "Allow", "Action": [...], "Resource": [...]}]`)
	}
	for i, s := range stmts {
		if err := checkRuntimeStatement(s); err != nil {
			err.Source, err.Statement = source, i+1
			_ = json.Unmarshal(s["Sid"], &err.Sid)
			return err
		}
	}
	return nil
}

func checkRuntimeStatement(s map[string]json.RawMessage) *RuntimePolicyError {
	fail := func(problem, fix string) *RuntimePolicyError { return &RuntimePolicyError{Problem: problem, Fix: fix} }
	var effect string
	_ = json.Unmarshal(s["Effect"], &effect)
	if effect != "Allow" && effect != "Deny" {
		return fail(fmt.Sprintf("Effect is %q", effect), `set "Effect" to "Allow" or "Deny"`)
	}
	for _, k := range []string{"Principal", "NotPrincipal"} {
		if _, ok := s[k]; ok {
			return fail("has a "+k, "remove it: a role's permission policy applies to the role itself; who may assume the role is its trust policy, which ship writes")
		}
	}
	actions, err := listField(s, "Action")
	if err != nil {
		return fail("Action: "+err.Error(), `write "Action" as a string or a list of strings such as "s3:GetObject"`)
	}
	for _, a := range actions {
		if a != "*" && !actionRe.MatchString(a) {
			return fail(fmt.Sprintf("Action %q is not service:action", a), `write actions as service:action, e.g. "s3:GetObject" or "sqs:SendMessage"`)
		}
	}
	if effect == "Deny" {
		return nil // a Deny only takes rights away
	}
	return checkAllow(s, actions)
}

func checkAllow(s map[string]json.RawMessage, actions []string) *RuntimePolicyError {
	fail := func(problem, fix string) *RuntimePolicyError { return &RuntimePolicyError{Problem: problem, Fix: fix} }
	if _, ok := s["NotAction"]; ok {
		return fail("allows NotAction, i.e. every action but those listed, IAM included",
			"list the actions the service needs under \"Action\" instead")
	}
	if len(actions) == 0 {
		return fail("allows no Action", `list the actions the service needs, e.g. "Action": ["s3:GetObject"]`)
	}
	resources, err := listField(s, "Resource")
	if err != nil {
		return fail("Resource: "+err.Error(), `write "Resource" as an ARN or a list of ARNs`)
	}
	if _, notRes := s["NotResource"]; len(resources) == 0 && !notRes {
		return fail("has no Resource", `name the resources, e.g. "Resource": ["arn:aws:s3:::my-bucket/*"]`)
	}
	for _, a := range actions {
		if a == "*" && contains(resources, "*") {
			return fail(`allows "*" on "*": every action on every resource, an administrator`,
				"list the actions the service calls (e.g. s3:GetObject, sqs:SendMessage) on the ARNs it uses")
		}
	}
	for _, a := range actions {
		if coversIAM(a) {
			return fail(fmt.Sprintf("allows %q, which covers IAM actions: a pod that can change IAM or pass roles can give itself any permission", a),
				"remove IAM actions (and wildcards such as \"*\", \"iam:*\" or \"iam:Pass*\"): list the actions of the services the app calls; roles and policies are bootstrap's job")
		}
	}
	return nil
}

// coversIAM reports whether an action pattern matches any iam: action;
// service prefixes are case-insensitive in IAM.
func coversIAM(action string) bool {
	if action == "*" {
		return true
	}
	service, _, _ := strings.Cut(strings.ToLower(action), ":")
	ok, err := path.Match(service, "iam")
	return err == nil && ok
}

func listField(s map[string]json.RawMessage, key string) ([]string, error) {
	raw, ok := s[key]
	if !ok {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("not a string or a list of strings")
	}
	return many, nil
}

// compactJSON is doc without insignificant whitespace, as sent to IAM; doc
// unchanged if it is not JSON (the check refuses it first).
func compactJSON(doc []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return string(doc)
	}
	return b.String()
}
