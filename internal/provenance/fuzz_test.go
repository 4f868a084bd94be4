// A fuzz target for Parse: statements are read back from registries, untrusted. `go test` runs the seeds.
package provenance

import "testing"

func FuzzParse(f *testing.F) {
	st, err := New(fixtureBuild())
	if err != nil {
		f.Fatal(err)
	}
	data, _ := st.Marshal()
	f.Add(data)
	for _, s := range []string{"", "null", "{}", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":""}}]}`, "[]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if err != nil {
			return
		}
		if len(st.Subject) == 0 || st.Predicate.RunDetails.Builder.ID == "" {
			t.Fatalf("Parse accepted a statement without subject or builder: %+v", st)
		}
		for _, s := range st.Subject {
			if !st.HasSubject("sha256:" + s.Digest["sha256"]) {
				t.Fatalf("subject %+v is not found by HasSubject", s)
			}
		}
	})
}
