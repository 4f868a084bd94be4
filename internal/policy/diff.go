// A readable diff of two policy documents for bootstrap's dry run. "trust
// policy differs" tells an administrator nothing; the changed statements do.
// Both documents are normalized first (URL-decoding, one-element arrays,
// sorted values), so the diff shows only what means something different.
package policy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Diff returns a unified-style line diff ("- " removed, "+ " added, "  "
// context) from current to want, both plain or URL-encoded JSON; nil when
// they are equivalent.
func Diff(current, want []byte) ([]string, error) {
	a, err := prettyNormalized(current)
	if err != nil {
		return nil, fmt.Errorf("current document: %w", err)
	}
	b, err := prettyNormalized(want)
	if err != nil {
		return nil, fmt.Errorf("new document: %w", err)
	}
	if a == b {
		return nil, nil
	}
	return lineDiff(strings.Split(a, "\n"), strings.Split(b, "\n"), 2), nil
}

// prettyNormalized renders a document with every list sorted and every
// single value that IAM allows as a list written as a list.
func prettyNormalized(doc []byte) (string, error) {
	plain, err := DecodeDocument(doc)
	if err != nil {
		return "", err
	}
	var v map[string]any
	if err := json.Unmarshal(plain, &v); err != nil {
		return "", fmt.Errorf("policy document is not valid JSON: %w", err)
	}
	stmts := asList(v["Statement"])
	for i, s := range stmts {
		if m, ok := s.(map[string]any); ok {
			stmts[i] = normalizeStatement(m)
		}
	}
	sort.SliceStable(stmts, func(i, j int) bool { return sid(stmts[i]) < sid(stmts[j]) })
	v["Statement"] = stmts
	out, err := json.MarshalIndent(v, "", "  ")
	return string(out), err
}

func normalizeStatement(m map[string]any) map[string]any {
	for _, k := range []string{"Action", "NotAction", "Resource", "NotResource"} {
		if x, ok := m[k]; ok {
			m[k] = sortedList(x)
		}
	}
	if p, ok := m["Principal"].(map[string]any); ok {
		for k, x := range p {
			p[k] = sortedList(x)
		}
	}
	if c, ok := m["Condition"].(map[string]any); ok {
		for _, keys := range c {
			if km, ok := keys.(map[string]any); ok {
				for k, x := range km {
					km[k] = sortedList(x)
				}
			}
		}
	}
	return m
}

func asList(x any) []any {
	if l, ok := x.([]any); ok {
		return l
	}
	return []any{x}
}

func sortedList(x any) []any {
	l := asList(x)
	sort.SliceStable(l, func(i, j int) bool { return fmt.Sprint(l[i]) < fmt.Sprint(l[j]) })
	return l
}

func sid(s any) string {
	m, _ := s.(map[string]any)
	v, _ := m["Sid"].(string)
	return v
}

// lineDiff is a longest-common-subsequence diff keeping ctx unchanged lines
// around each change; longer unchanged runs collapse to "  ...".
func lineDiff(a, b []string, ctx int) []string {
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var all []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			all, i, j = append(all, "  "+a[i]), i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			all, i = append(all, "- "+a[i]), i+1
		default:
			all, j = append(all, "+ "+b[j]), j+1
		}
	}
	return withContext(all, ctx)
}

func withContext(lines []string, ctx int) []string {
	keep := make([]bool, len(lines))
	for i, l := range lines {
		if !strings.HasPrefix(l, "  ") {
			for k := max(0, i-ctx); k <= min(len(lines)-1, i+ctx); k++ {
				keep[k] = true
			}
		}
	}
	var out []string
	for i, l := range lines {
		switch {
		case keep[i]:
			out = append(out, l)
		case len(out) == 0 || out[len(out)-1] != "  ...":
			out = append(out, "  ...")
		}
	}
	return out
}
