// STS operations: web identity federation, role chaining and caller identity.
// Issued credentials are registered so later signed calls authenticate with
// them, and expire like the real ones.
package fakeaws

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

func init() {
	register("sts", "AssumeRoleWithWebIdentity", assumeRoleWithWebIdentity)
	register("sts", "AssumeRole", assumeRole)
	register("sts", "GetCallerIdentity", getCallerIdentity)
}

type credentialsXML struct {
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type assumedRoleUserXML struct {
	Arn           string
	AssumedRoleId string
}

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func sessionParams(c *Call, role *Role, maxDur int) (string, time.Duration, *APIError) {
	name := c.Param("RoleSessionName")
	if !sessionNameRE.MatchString(name) {
		return "", 0, ValidationError("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", name)
	}
	secs := 3600
	if v := c.Param("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 {
			return "", 0, ValidationError("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", v)
		}
		secs = n
	}
	if secs > maxDur {
		return "", 0, ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	return name, time.Duration(secs) * time.Second, nil
}

func credsXML(p *Principal) credentialsXML {
	return credentialsXML{AccessKeyId: p.AccessKeyID, SecretAccessKey: p.secret,
		SessionToken: p.SessionToken, Expiration: p.Expiry.UTC().Format(time.RFC3339)}
}

func assumeRoleWithWebIdentity(s *Server, c *Call) (any, error) {
	claims, aud, prov, e := s.verifyWebIdentity(c.Param("WebIdentityToken"))
	if e != nil {
		return nil, e
	}
	denied := AccessDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
	role := s.roleByARN(c.Param("RoleArn"))
	if role == nil {
		return nil, denied
	}
	ctx := webIdentityContext(prov.URL, claims, aud)
	if !allows(role.TrustPolicy, trustRequest{"sts:AssumeRoleWithWebIdentity", "Federated", []string{prov.ARN}, ctx}) {
		return nil, denied
	}
	name, d, e := sessionParams(c, role, role.MaxSessionDuration)
	if e != nil {
		return nil, e
	}
	p := s.issueSession(role, name, d)
	return struct {
		Credentials                 credentialsXML
		SubjectFromWebIdentityToken string
		AssumedRoleUser             assumedRoleUserXML
		Provider                    string
		Audience                    string
	}{credsXML(p), claims.Sub, assumedRoleUserXML{p.ARN, p.UserID}, prov.ARN, aud[0]}, nil
}

func assumeRole(s *Server, c *Call) (any, error) {
	caller := c.Caller
	role := s.roleByARN(c.Param("RoleArn"))
	denied := AccessDenied("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.ARN, c.Param("RoleArn"))
	if role == nil {
		return nil, denied
	}
	who := []string{caller.ARN, fmt.Sprintf("arn:aws:iam::%s:root", caller.Account), caller.Account}
	if caller.RoleARN != "" {
		who = append(who, caller.RoleARN)
	}
	if !allows(role.TrustPolicy, trustRequest{"sts:AssumeRole", "AWS", who, nil}) {
		return nil, denied
	}
	maxDur := role.MaxSessionDuration
	if caller.RoleARN != "" && maxDur > 3600 {
		maxDur = 3600 // role chaining caps sessions at one hour
	}
	name, d, e := sessionParams(c, role, maxDur)
	if e != nil {
		return nil, e
	}
	p := s.issueSession(role, name, d)
	return struct {
		Credentials     credentialsXML
		AssumedRoleUser assumedRoleUserXML
	}{credsXML(p), assumedRoleUserXML{p.ARN, p.UserID}}, nil
}

func getCallerIdentity(s *Server, c *Call) (any, error) {
	p := c.Caller
	return struct{ UserId, Account, Arn string }{p.UserID, p.Account, p.ARN}, nil
}
