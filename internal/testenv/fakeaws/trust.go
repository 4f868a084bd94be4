// Web identity verification and trust-policy evaluation, done the way STS does
// it: the token's issuer must be a registered IAM OIDC provider, its RS256
// signature must verify against that issuer's JWKS, exp/nbf and aud are
// checked, and only then the role's trust policy conditions (StringEquals /
// StringLike, case-sensitive values) decide, on the claims STS puts into the
// request context and no others. This guards against tests passing with a
// token or a subject real AWS would refuse.
package fakeaws

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// RegisterIssuer makes the keys of an OIDC issuer known (what STS would fetch
// from the issuer's jwks_uri). jwks is a JSON Web Key Set.
func (s *Server) RegisterIssuer(issuer string, jwks []byte) error {
	var set struct {
		Keys []struct{ Kid, Kty, N, E string } `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return fmt.Errorf("fakeaws: parse JWKS of %s: %w", issuer, err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || err1 != nil || err2 != nil {
			return fmt.Errorf("fakeaws: JWKS of %s: key %q is not a valid RSA key", issuer, k.Kid)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.issuerKeys[issuer] = keys
	return nil
}

// AddOIDCProvider creates (or extends) the IAM OIDC provider for issuer.
func (s *Server) AddOIDCProvider(issuer string, clientIDs ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ensureProvider(issuer, clientIDs...).ARN
}

func (s *Server) ensureProvider(issuer string, clientIDs ...string) *OIDCProvider {
	host := strings.TrimPrefix(issuer, "https://")
	arn := fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", s.Account, host)
	p, ok := s.state.providers[arn]
	if !ok {
		p = &OIDCProvider{ARN: arn, URL: host, Created: s.now()}
		s.state.providers[arn] = p
	}
	for _, id := range clientIDs {
		if !contains(p.ClientIDs, id) {
			p.ClientIDs = append(p.ClientIDs, id)
		}
	}
	return p
}

// TrustRole creates or updates roleARN so that tokens from issuer with the
// given audience and a subject matching subjectPattern (StringLike) may assume
// it, and registers the OIDC provider with that audience as a client ID.
func (s *Server) TrustRole(roleARN, issuer, audience, subjectPattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prov := s.ensureProvider(issuer, audience)
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":%q},`+
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"%s:aud":%q},"StringLike":{"%s:sub":%q}}}]}`,
		prov.ARN, prov.URL, audience, prov.URL, subjectPattern)
	s.putRole(roleARN, doc)
}

// TrustRoleForPrincipal lets principalARN (a role or user ARN) sts:AssumeRole
// into roleARN, for role chaining.
func (s *Server) TrustRoleForPrincipal(roleARN, principalARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"sts:AssumeRole"}]}`, principalARN)
	s.putRole(roleARN, doc)
}

func (s *Server) putRole(roleARN, trust string) *Role {
	path, name := splitRoleARN(roleARN)
	r, ok := s.state.roles[name]
	if !ok {
		r = &Role{Name: name, Path: path, ARN: roleARN, RoleID: "AROA" + randomID(17),
			MaxSessionDuration: 3600, Created: s.now(), InlinePolicies: map[string]string{}}
		s.state.roles[name] = r
	}
	r.TrustPolicy = trust
	return r
}

// splitRoleARN returns the path ("/" or "/a/b/") and name of a role ARN.
func splitRoleARN(arn string) (string, string) {
	_, res, _ := strings.Cut(arn, ":role")
	i := strings.LastIndex(res, "/")
	if i < 0 {
		return "/", res
	}
	return res[:i+1], res[i+1:]
}

func (s *Server) roleByARN(arn string) *Role {
	_, name := splitRoleARN(arn)
	if r := s.state.roles[name]; r != nil && r.ARN == arn {
		return r
	}
	return nil
}

type jwtClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp int64           `json:"exp"`
	Nbf int64           `json:"nbf"`
	// All holds every claim, for the keys STS copies into the request.
	All map[string]any `json:"-"`
}

// Claims STS puts into the request context as <provider>:<claim>, per the
// IAM reference ("Available keys for AWS OIDC federation"): the standard
// ones for any provider, and GitHub's for its Actions issuer. Any other claim
// is not in the context, so a condition on it sees an absent key.
var (
	standardContextClaims = []string{"amr", "email", "oaud"}
	githubContextClaims   = []string{"actor", "actor_id", "enterprise_id", "environment", "job_workflow_ref",
		"ref", "repository", "repository_id", "repository_owner_id", "workflow"}
)

const githubActionsIssuerHost = "token.actions.githubusercontent.com"

// webIdentityContext is the request context of AssumeRoleWithWebIdentity.
// Keys are lower-cased: IAM matches condition keys case-insensitively.
func webIdentityContext(provider string, c *jwtClaims, aud []string) map[string][]string {
	ctx := map[string][]string{strings.ToLower(provider + ":sub"): {c.Sub}, strings.ToLower(provider + ":aud"): aud}
	names := standardContextClaims
	if provider == githubActionsIssuerHost {
		names = append(append([]string(nil), names...), githubContextClaims...)
	}
	for _, n := range names {
		if v, ok := c.All[n]; ok {
			ctx[strings.ToLower(provider+":"+n)] = claimStrings(v)
		}
	}
	return ctx
}

func claimStrings(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}
	default:
		return []string{fmt.Sprint(x)}
	}
}

var errNoKey = apiErr(400, "InvalidIdentityToken",
	"Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")

// verifyWebIdentity checks a JWT as STS does and returns its claims and the
// matching OIDC provider.
func (s *Server) verifyWebIdentity(raw string) (*jwtClaims, []string, *OIDCProvider, *APIError) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, nil, apiErr(400, "InvalidIdentityToken", "The ID token provided is not a valid JWT")
	}
	var hdr struct{ Alg, Kid string }
	var c jwtClaims
	if decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &c) != nil || decodeSegment(parts[1], &c.All) != nil {
		return nil, nil, nil, apiErr(400, "InvalidIdentityToken", "The ID token provided is not a valid JWT")
	}
	prov := s.providerFor(c.Iss)
	if prov == nil {
		return nil, nil, nil, apiErr(400, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for %s", c.Iss)
	}
	key := s.state.issuerKeys[c.Iss][hdr.Kid]
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if hdr.Alg != "RS256" || key == nil || err != nil {
		return nil, nil, nil, errNoKey
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return nil, nil, nil, errNoKey
	}
	now := s.now().Unix()
	if c.Exp == 0 || now >= c.Exp {
		return nil, nil, nil, apiErr(400, "ExpiredTokenException",
			"Token expired: current date/time %d must be before the expiration date/time %d", now, c.Exp)
	}
	if c.Nbf != 0 && now < c.Nbf {
		return nil, nil, nil, apiErr(400, "InvalidIdentityToken", "Token is not valid yet (nbf is in the future)")
	}
	aud := stringOrList(c.Aud)
	if !anyIn(aud, prov.ClientIDs) {
		return nil, nil, nil, apiErr(400, "InvalidIdentityToken", "Incorrect token audience")
	}
	return &c, aud, prov, nil
}

func (s *Server) providerFor(iss string) *OIDCProvider {
	for _, p := range s.state.providers {
		if "https://"+p.URL == iss {
			return p
		}
	}
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

type policyDoc struct {
	Statement json.RawMessage
}

type statement struct {
	Effect    string
	Principal map[string]json.RawMessage
	Action    json.RawMessage
	Condition map[string]map[string]json.RawMessage
}

// request is what a trust policy is evaluated against.
type trustRequest struct {
	action        string
	principalKind string // "Federated" or "AWS"
	principals    []string
	context       map[string][]string
}

// allows evaluates a trust policy: an explicit Deny wins, then any Allow.
func allows(doc string, req trustRequest) bool {
	var pd policyDoc
	if json.Unmarshal([]byte(doc), &pd) != nil {
		return false
	}
	var stmts []statement
	if json.Unmarshal(pd.Statement, &stmts) != nil {
		var one statement
		if json.Unmarshal(pd.Statement, &one) != nil {
			return false
		}
		stmts = []statement{one}
	}
	allowed := false
	for _, st := range stmts {
		if !st.matches(req) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = allowed || st.Effect == "Allow"
	}
	return allowed
}

func (st statement) matches(req trustRequest) bool {
	actions := stringOrList(st.Action)
	if !contains(actions, req.action) && !contains(actions, "sts:*") {
		return false
	}
	if !anyIn(stringOrList(st.Principal[req.principalKind]), req.principals) {
		return false
	}
	for op, conds := range st.Condition {
		for key, raw := range conds {
			if !condition(op, stringOrList(raw), req.context[strings.ToLower(key)]) {
				return false
			}
		}
	}
	return true
}

// condition supports the operators trust policies for OIDC use. Unknown
// operators (and ForAllValues/ForAnyValue forms) fail closed.
func condition(op string, want, got []string) bool {
	for _, g := range got {
		for _, w := range want {
			switch op {
			case "StringEquals":
				if g == w {
					return true
				}
			case "StringLike":
				if wildcard(w).MatchString(g) {
					return true
				}
			}
		}
	}
	return false
}

func wildcard(pattern string) *regexp.Regexp {
	q := regexp.QuoteMeta(pattern)
	q = strings.ReplaceAll(q, `\*`, ".*")
	q = strings.ReplaceAll(q, `\?`, ".")
	return regexp.MustCompile("^" + q + "$")
}

func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func anyIn(a, b []string) bool {
	for _, x := range a {
		if contains(b, x) {
			return true
		}
	}
	return false
}
