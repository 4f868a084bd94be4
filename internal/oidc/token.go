// Package oidc holds the GitHub Actions OIDC token the pipeline trades for AWS
// credentials. The raw token is a bearer secret: it is kept unexported and no
// String/GoString/Format path prints it, so it cannot leak into logs or errors.
// Claims are decoded (not verified: AWS verifies) so problems like expiry or a
// surprising subject are reported before any AWS call.
package oidc

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Claims are the token claims that matter for AWS federation diagnostics.
type Claims struct {
	Issuer         string
	Subject        string
	Audience       []string
	Expiry         time.Time
	NotBefore      time.Time
	IssuedAt       time.Time
	Repository     string
	RepositoryID   string // GitHub's immutable numeric repository_id
	Ref            string
	Environment    string
	JobWorkflowRef string
	// All is every claim of the payload, for evaluating any condition key.
	All map[string]any
}

// Token is a raw JWT plus its decoded claims.
type Token struct {
	raw    string
	Claims Claims
}

// ErrMalformed reports a value that is not a JWT.
var ErrMalformed = errors.New("oidc: token is not a JWT (want three base64url parts separated by dots)")

// Parse decodes a JWT's claims without verifying its signature.
func Parse(raw string) (*Token, error) {
	parts := strings.Split(strings.TrimSpace(raw), ".")
	if len(parts) != 3 {
		return nil, ErrMalformed
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	var c struct {
		Iss            string          `json:"iss"`
		Sub            string          `json:"sub"`
		Aud            json.RawMessage `json:"aud"`
		Exp            float64         `json:"exp"`
		Nbf            float64         `json:"nbf"`
		Iat            float64         `json:"iat"`
		Repository     string          `json:"repository"`
		RepositoryID   json.RawMessage `json:"repository_id"`
		Ref            string          `json:"ref"`
		Environment    string          `json:"environment"`
		JobWorkflowRef string          `json:"job_workflow_ref"`
	}
	var all map[string]any
	if json.Unmarshal(payload, &c) != nil || json.Unmarshal(payload, &all) != nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	return &Token{raw: strings.TrimSpace(raw), Claims: Claims{
		Issuer: c.Iss, Subject: c.Sub, Audience: audience(c.Aud),
		Expiry: unix(c.Exp), NotBefore: unix(c.Nbf), IssuedAt: unix(c.Iat),
		Repository: c.Repository, RepositoryID: idString(c.RepositoryID), Ref: c.Ref, Environment: c.Environment, JobWorkflowRef: c.JobWorkflowRef, All: all,
	}}, nil
}

func audience(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// idString reads an ID GitHub sends as a string ("123"), and tolerates a
// number (other issuers, hand-made tokens).
func idString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func unix(v float64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}

// Raw returns the bearer token. Only pass it to the party that consumes it.
func (t *Token) Raw() string { return t.raw }

// String describes the token without revealing it.
func (t *Token) String() string {
	if t == nil {
		return "oidc.Token(nil)"
	}
	return fmt.Sprintf("oidc.Token{iss=%s sub=%s aud=%s exp=%s}", t.Claims.Issuer, t.Claims.Subject,
		strings.Join(t.Claims.Audience, ","), t.Claims.Expiry.Format(time.RFC3339))
}

// GoString keeps %#v from dumping the raw field.
func (t *Token) GoString() string { return t.String() }

// Format makes every verb (%v, %+v, %#v, %s, %q) use String.
func (t *Token) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", t.String())
		return
	}
	_, _ = f.Write([]byte(t.String()))
}

// TimeError says a token cannot be used now.
type TimeError struct {
	Reason string
	Now    time.Time
	At     time.Time
}

func (e *TimeError) Error() string {
	return fmt.Sprintf("OIDC token %s (at %s, now %s): request a fresh token in the same job step that uses it",
		e.Reason, e.At.Format(time.RFC3339), e.Now.Format(time.RFC3339))
}

// Validate checks the token's time window with the given clock skew, so an
// expired token is reported before any AWS call.
func (t *Token) Validate(now time.Time, skew time.Duration) error {
	c := t.Claims
	switch {
	case c.Expiry.IsZero():
		return &TimeError{Reason: "has no expiry (exp claim)", Now: now}
	case !now.Before(c.Expiry.Add(skew)):
		return &TimeError{Reason: "has expired", Now: now, At: c.Expiry}
	case !c.NotBefore.IsZero() && now.Add(skew).Before(c.NotBefore):
		return &TimeError{Reason: "is not valid yet (nbf)", Now: now, At: c.NotBefore}
	}
	return nil
}
