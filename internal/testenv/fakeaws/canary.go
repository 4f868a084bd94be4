// Secret canaries: fixed fake secret values plus every secret the fakes hand
// out at run time, and one check that none of them shows up in an error, a
// returned string or any fmt rendering of a value. Every test that touches
// credentials runs its outputs through Check, so a leak fails loudly.
package fakeaws

import (
	"fmt"
	"strings"
	"testing"
)

// Fixed canary values. Use them as the fake secrets in tests.
const (
	CanaryAccessKeyID  = "AKIACANARY0000000001"
	CanarySecretKey    = "CANARYsecretKEYdoNOTleak/000000000000000"
	CanarySessionToken = "CANARYsessionTOKENdoNOTleak0000000000000000000000"
	CanaryECRPassword  = "CANARY-ecr-password-do-not-leak"
	CanaryRequestToken = "CANARY-gh-request-token-do-not-leak"
)

// Secrets is a set of values that must never be printed.
type Secrets struct {
	t       testing.TB
	fixed   []string
	sources []func() []string
}

// Canaries returns a checker preloaded with the fixed canaries.
func Canaries(t testing.TB) *Secrets {
	return &Secrets{t: t, fixed: []string{CanarySecretKey, CanarySessionToken, CanaryECRPassword, CanaryRequestToken}}
}

// Add registers more secret values.
func (s *Secrets) Add(values ...string) *Secrets {
	s.fixed = append(s.fixed, values...)
	return s
}

// AddSource registers secrets known only later (e.g. minted tokens).
func (s *Secrets) AddSource(f func() []string) *Secrets {
	s.sources = append(s.sources, f)
	return s
}

// IssuedSecrets lists every secret key and session token the server issued.
func (s *Server) IssuedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.state.principals {
		out = append(out, p.secret)
		if p.SessionToken != "" {
			out = append(out, p.SessionToken)
		}
	}
	if s.ECRPassword != "" {
		out = append(out, s.ECRPassword)
	}
	return out
}

// Check fails the test if any secret appears in any rendering of values.
func (s *Secrets) Check(label string, values ...any) {
	s.t.Helper()
	all := append([]string(nil), s.fixed...)
	for _, f := range s.sources {
		all = append(all, f()...)
	}
	for i, v := range values {
		texts := strings.Join(renderings(v), "\n")
		for _, secret := range all {
			if len(secret) >= 8 && strings.Contains(texts, secret) {
				s.t.Errorf("%s: value %d leaks a secret (%d chars starting %.4q...)", label, i, len(secret), secret)
			}
		}
	}
}

func renderings(v any) []string {
	if v == nil {
		return nil
	}
	out := []string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v)}
	if err, ok := v.(error); ok {
		out = append(out, err.Error())
	}
	if st, ok := v.(fmt.Stringer); ok {
		out = append(out, st.String())
	}
	return out
}
