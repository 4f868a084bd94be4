// Proves the canary check can fail: a checker that never fires would make
// every "no secret leaked" assertion meaningless.
package fakeaws

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

type leaky struct{ token string }

func TestCanaryCheckDetectsLeaks(t *testing.T) {
	rec := &recorder{TB: t}
	dynamic := "dynamic-secret-value-123"
	s := Canaries(rec).AddSource(func() []string { return []string{dynamic} })
	s.Check("clean", "nothing here", errors.New("still nothing"), leaky{"harmless"})
	if len(rec.failures) != 0 {
		t.Fatalf("false positives: %v", rec.failures)
	}
	s.Check("leaks", errors.New("bad: "+CanarySecretKey), leaky{CanaryECRPassword}, "x"+dynamic)
	if len(rec.failures) != 3 {
		t.Fatalf("want 3 leaks reported, got %d: %v", len(rec.failures), rec.failures)
	}
	for _, f := range rec.failures {
		for _, secret := range []string{CanarySecretKey, CanaryECRPassword, dynamic} {
			if strings.Contains(f, secret) {
				t.Errorf("the report itself leaks the secret: %s", f)
			}
		}
	}
}
