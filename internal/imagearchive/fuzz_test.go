// Fuzzing of the image reference parser Tag relies on: any string gives the three spellings or ErrBadRef,
// never a panic, and a name it accepts always carries a tag and no digest.
package imagearchive

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"fastapi-app:dev", "127.0.0.1:5000/fastapi-app:dev", "docker.io/library/app:1", "app",
		"app@sha256:" + strings.Repeat("a", 64), " app:1", "UPPER:1", "reg.example:443/a/b/c:v1.2-rc_3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		n, err := parseRef(ref)
		if err != nil {
			if !errors.Is(err, ErrBadRef) {
				t.Fatalf("parseRef(%q): an error that is not ErrBadRef: %v", ref, err)
			}
			return
		}
		if n.tag == "" || strings.Contains(n.full, "@") || !strings.HasSuffix(n.familiar, ":"+n.tag) {
			t.Fatalf("parseRef(%q) accepted %+v", ref, n)
		}
	})
}
