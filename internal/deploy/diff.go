// The object diff behind plan: both sides cleaned of what the server bumps on every write (managed
// fields, resourceVersion, generation, status), Secret values masked before anything is printed, then a
// unified diff of the YAML. Computed in process, so the plan does not depend on a diff(1) binary.
package deploy

import (
	"fmt"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"dagger/ship/internal/kube"
)

// objectDiff is the unified diff from live (nil: absent) to planned, or "" when they are the same.
func objectDiff(obj kube.Object, live, planned *unstructured.Unstructured) string {
	var before, after map[string]any
	if live != nil {
		before = cleaned(live)
	}
	if planned != nil {
		after = cleaned(planned)
	}
	if obj.Group == "" && obj.Kind == "Secret" {
		maskSecret(before, after)
	}
	a, b := toYAML(before), toYAML(after)
	if a == b {
		return ""
	}
	name := planName(obj)
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: "live/" + name, ToFile: "planned/" + name, Context: 3,
	})
	return d
}

// cleaned is a copy without the fields every write changes and an apply never sets.
func cleaned(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy().Object
	for _, f := range [][]string{{"metadata", "managedFields"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
		{"metadata", "uid"}, {"metadata", "creationTimestamp"}, {"status"}} {
		unstructured.RemoveNestedField(c, f...)
	}
	return c
}

// maskSecret replaces Secret values with markers that show only whether each key changed.
func maskSecret(before, after map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		b, _, _ := unstructured.NestedMap(before, field)
		a, _, _ := unstructured.NestedMap(after, field)
		mb, ma := map[string]any{}, map[string]any{}
		for k, v := range b {
			mb[k] = "***"
			if av, ok := a[k]; ok && fmt.Sprint(av) != fmt.Sprint(v) {
				mb[k] = "*** (before)"
			}
		}
		for k, v := range a {
			ma[k] = "***"
			if bv, ok := b[k]; ok && fmt.Sprint(bv) != fmt.Sprint(v) {
				ma[k] = "*** (after)"
			}
		}
		if len(b) > 0 {
			_ = unstructured.SetNestedMap(before, mb, field)
		}
		if len(a) > 0 {
			_ = unstructured.SetNestedMap(after, ma, field)
		}
	}
}

func toYAML(obj map[string]any) string {
	if obj == nil {
		return ""
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return "(cannot encode: " + err.Error() + ")\n"
	}
	return string(out)
}

// fieldsOf keeps only the parts of live that the rendered object sets, so a read-only comparison shows
// what the apply would change without every server default showing up as a removal.
func fieldsOf(live, rendered *unstructured.Unstructured) *unstructured.Unstructured {
	out, _ := restrict(live.Object, rendered.Object).(map[string]any)
	return &unstructured.Unstructured{Object: out}
}

func restrict(live, shape any) any {
	switch s := shape.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return live
		}
		out := map[string]any{}
		for k, sv := range s {
			if lv, ok := l[k]; ok {
				out[k] = restrict(lv, sv)
			}
		}
		return out
	case []any:
		l, ok := live.([]any)
		if !ok {
			return live
		}
		out := make([]any, len(l))
		for i, lv := range l {
			if i < len(s) {
				out[i] = restrict(lv, s[i])
			} else {
				out[i] = lv
			}
		}
		return out
	default:
		return live
	}
}
