// Key policy evaluation for the fake KMS: explicit Deny wins, then an Allow
// whose principal and action match. Principals are matched as the module
// documents (kms.go): the account root grants IAM users, a role ARN grants
// sessions of that role. Policies are validated like KMS does on CreateKey and
// PutKeyPolicy: principals must exist, and the caller must keep the right to
// change the policy (the lockout safety check).
package fakeaws

import (
	"encoding/json"
	"path"
	"strings"
)

type keyStatement struct {
	Effect    string
	Principal any
	Action    any
}

func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case map[string]any:
		return stringsOf(t["AWS"])
	}
	return nil
}

func parseKeyPolicy(doc string) ([]keyStatement, bool) {
	var p struct{ Statement []keyStatement }
	if err := json.Unmarshal([]byte(doc), &p); err != nil || len(p.Statement) == 0 {
		return nil, false
	}
	return p.Statement, true
}

func (s *Server) principalMatches(patterns []string, p *Principal) bool {
	if p == nil {
		return false
	}
	root := "arn:aws:iam::" + s.Account + ":root"
	isUser := p.RoleARN == ""
	for _, pat := range patterns {
		switch {
		case pat == "*":
			return true
		case (pat == root || pat == s.Account) && isUser:
			return true
		case !isUser && pat == p.RoleARN, isUser && pat == p.ARN:
			return true
		}
	}
	return false
}

func actionMatches(patterns []string, action string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(action)); ok {
			return true
		}
	}
	return false
}

func (s *Server) keyPolicyAllows(doc string, caller *Principal, action string) bool {
	stmts, ok := parseKeyPolicy(doc)
	if !ok {
		return false
	}
	allowed := false
	for _, st := range stmts {
		if !s.principalMatches(stringsOf(st.Principal), caller) || !actionMatches(stringsOf(st.Action), action) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = allowed || st.Effect == "Allow"
	}
	return allowed
}

func (s *Server) checkKeyPolicy(caller *Principal, doc string, bypass bool) *APIError {
	stmts, ok := parseKeyPolicy(doc)
	if !ok {
		return kmsErr(400, "MalformedPolicyDocumentException", "The key policy is not valid JSON with at least one statement.")
	}
	for _, st := range stmts {
		for _, p := range stringsOf(st.Principal) {
			if strings.Contains(p, ":role/") && s.roleByARN(p) == nil {
				return kmsErr(400, "MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals.")
			}
		}
	}
	if !bypass && !s.keyPolicyAllows(doc, caller, "kms:PutKeyPolicy") {
		return kmsErr(400, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.")
	}
	return nil
}
