// Fuzzing of the kubeconfig parser: a kubeconfig is user input (a file, a secret), so any bytes must give a
// Config or an error, never a panic, and whatever parses must survive being made portable and re-encoded.
package kubeconfig

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "")
	}
	f.Add([]byte("apiVersion: v1\nkind: Config\ncontexts: [{name: a}]\n"), "a")
	f.Add([]byte("{}"), "missing")
	f.Fuzz(func(t *testing.T, data []byte, context string) {
		c, err := Parse(data, context)
		if err != nil {
			return
		}
		if p, err := c.Portable(func(string) ([]byte, error) { return nil, os.ErrNotExist }); err == nil {
			if _, err := p.Bytes(); err != nil {
				t.Fatalf("a portable kubeconfig does not encode: %v", err)
			}
		}
		_ = RequireReachable(c, false)
		_ = c.Server()
	})
}
