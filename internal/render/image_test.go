// ParseImage is the first gate for user input; each bad shape must be
// rejected with a reason, each good one split exactly.
package render

import (
	"errors"
	"strings"
	"testing"
)

func TestParseImage(t *testing.T) {
	d := strings.Repeat("ab", 32)
	good := []struct {
		ref  string
		want Image
	}{
		{"a.example/web:1", Image{Name: "a.example/web", Tag: "1"}},
		{"localhost:5000/team/web", Image{Name: "localhost:5000/team/web"}},
		{"127.0.0.1:5000/web@sha256:" + d, Image{Name: "127.0.0.1:5000/web", Digest: "sha256:" + d}},
		{"1.dkr.ecr.us-east-1.amazonaws.com/fastapi-app:v1.2_3@sha256:" + d, Image{Name: "1.dkr.ecr.us-east-1.amazonaws.com/fastapi-app", Tag: "v1.2_3", Digest: "sha256:" + d}},
		{"localhost/a__b/c-d/e.f", Image{Name: "localhost/a__b/c-d/e.f"}},
	}
	for _, g := range good {
		got, err := ParseImage(g.ref)
		if err != nil {
			t.Errorf("ParseImage(%q): %v", g.ref, err)
			continue
		}
		if got != g.want || got.String() != g.ref {
			t.Errorf("ParseImage(%q) = %+v (%s), want %+v", g.ref, got, got, g.want)
		}
	}
	bad := []struct{ ref, reason string }{
		{"", "is empty"},
		{"   ", "is empty"},
		{"fastapi-app", "has no registry host"},
		{"fastapi-app:1.0", "has no registry host"},
		{"library/nginx:1", "has no registry host"},
		{"a.example/Web:1", "bad repository path"},
		{"a.example/web:", "bad tag"},
		{"a.example/web:-x", "bad tag"},
		{"a.example/web@sha256:abc", "bad digest"},
		{"a.example/web@sha256:" + strings.ToUpper(d), "bad digest"},
		{"a.example/web@md5:" + d, "bad digest"},
		{"a.example//web:1", "bad repository path"},
		{"a.example/web:1 ", "whitespace"},
		{"-a.example/web:1", "bad registry host"},
		{"a.example:port/web:1", "bad registry host"},
	}
	for _, b := range bad {
		_, err := ParseImage(b.ref)
		var ie *ImageError
		if !errors.As(err, &ie) {
			t.Errorf("ParseImage(%q) error = %v, want *ImageError", b.ref, err)
			continue
		}
		if !strings.Contains(err.Error(), b.reason) {
			t.Errorf("ParseImage(%q) = %q, want it to mention %q", b.ref, err, b.reason)
		}
	}
}
