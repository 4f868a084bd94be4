// This test reads the module's own source the way Dagger's codegen does (doc comments and pragmas), because no
// engine runs here to show `dagger functions`. It guards the promises the module makes to its users: every
// function has help text whose first line (all `dagger functions` shows) is a whole sentence, the object's
// fields do not pose as functions, nothing with a side effect is ever served from Dagger's cache, every image
// the pipeline pulls is a parameter with a pinned default, and secrets are only ever *dagger.Secret.
package modulecheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"dagger/ship/internal/controlplane"
)

// sideEffecting functions touch a registry, AWS or a cluster: their results must never be cached.
var sideEffecting = []string{"Publish", "Deploy", "Promote", "Plan", "Rollback", "Status", "Kubectl", "Kubeconfig", "Whoami", "Sbom", "Bootstrap", "Doctor", "Preview", "PreviewCluster"}

// secretish parameter names must be *dagger.Secret, never a string that lands in logs and caches.
var secretish = regexp.MustCompile(`(?i)(password|token|secret|kubeconfig|keyid|indexurl|requesturl)$`)

type function struct {
	name   string
	doc    string
	params []*ast.Field
	docs   map[string]string // parameter name -> its comment (pragmas included)
}

func moduleFunctions(t *testing.T) map[string]function {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("../../*.go")
	if err != nil {
		t.Fatal(err)
	}
	fns := map[string]function{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || filepath.Base(f) == "dagger.gen.go" {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			recv := receiver(fd)
			if recv != "Ship" && recv != "PreviewCluster" && !(recv == "" && fd.Name.Name == "New") {
				continue
			}
			fn := function{name: fd.Name.Name, doc: fd.Doc.Text(), params: fd.Type.Params.List, docs: map[string]string{}}
			if recv == "PreviewCluster" {
				fn.name = "PreviewCluster." + fd.Name.Name
			}
			prev := fd.Type.Params.Opening
			for _, p := range fd.Type.Params.List {
				for _, n := range p.Names {
					fn.docs[n.Name] = commentsBetween(file, prev, p.Pos())
				}
				prev = p.End()
			}
			fns[fn.name] = fn
		}
	}
	if len(fns) == 0 {
		t.Fatal("found no module functions: is the module root two levels up?")
	}
	return fns
}

// commentsBetween is the text of the comments between two positions: the go parser does not attach
// comments to parameters, but Dagger's codegen reads them as the parameter's help and pragmas.
func commentsBetween(file *ast.File, from, to token.Pos) string {
	var b strings.Builder
	for _, cg := range file.Comments {
		if cg.Pos() > from && cg.End() < to {
			b.WriteString(cg.Text())
		}
	}
	return b.String()
}

// receiver is the name of a method's receiver type (the module's objects: Ship, PreviewCluster), "" for a function.
func receiver(fd *ast.FuncDecl) string {
	if fd.Recv == nil {
		return ""
	}
	star, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return ""
	}
	if id, ok := star.X.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func TestEveryFunctionHasHelp(t *testing.T) {
	for name, fn := range moduleFunctions(t) {
		if short := name[strings.LastIndex(name, ".")+1:]; !strings.HasPrefix(fn.doc, short+" ") {
			t.Errorf("%s: doc comment must start with %q so `dagger functions` reads well, got %q", name, name+" ", firstLine(fn.doc))
		}
		for param, doc := range fn.docs {
			if param == "ctx" {
				continue
			}
			if strings.TrimSpace(stripPragmas(doc)) == "" {
				t.Errorf("%s: parameter %s has no help text", name, param)
			}
		}
	}
}

// `dagger functions` shows only the first line of a function's doc comment: it must be a whole sentence.
func TestFirstLinesAreCompleteSentences(t *testing.T) {
	for name, fn := range moduleFunctions(t) {
		if err := completeSentence(firstLine(fn.doc)); err != "" {
			t.Errorf("%s: the first line of its doc comment is all `dagger functions` shows, and it %s: %q", name, err, firstLine(fn.doc))
		}
	}
}

// completeSentence says what is wrong with a summary line, or "".
func completeSentence(line string) string {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return "is empty"
	case !strings.HasSuffix(line, ".") && !strings.HasSuffix(line, "?"):
		return "does not end a sentence (wrap the comment after a full stop)"
	case strings.Count(line, "(") != strings.Count(line, ")"):
		return "leaves a parenthesis open"
	case strings.Count(line, "`")%2 != 0:
		return "leaves a code span open"
	case len(line) > 160:
		return "is longer than a terminal line and a half (160 characters)"
	}
	return ""
}

func TestCompleteSentenceCatchesCutSummaries(t *testing.T) {
	for line, bad := range map[string]bool{
		"Deploy runs the whole chain.":                           false,
		"Doctor checks why a deploy cannot get in: the IAM OIDC": true,
		"Render renders an overlay (with the image pinned":       true,
		"Kubectl returns `dagger call kubectl terminal":          true,
		"": true,
	} {
		if got := completeSentence(line) != ""; got != bad {
			t.Errorf("completeSentence(%q) flags %v, want %v", line, got, bad)
		}
	}
}

// Exported fields of the main object are listed by `dagger functions` as if they were functions: every one is
// +private, so the list holds only what a user calls.
func TestObjectFieldsAreHidden(t *testing.T) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "../../main.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	ast.Inspect(file, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Ship" {
			return true
		}
		found = true
		for _, f := range ts.Type.(*ast.StructType).Fields.List {
			for _, name := range f.Names {
				if name.IsExported() && !strings.Contains(f.Doc.Text(), "+private") {
					t.Errorf("field Ship.%s would show in `dagger functions`: mark it // +private", name.Name)
				}
			}
		}
		return false
	})
	if !found {
		t.Fatal("type Ship not found in main.go")
	}
}

func TestSideEffectsAreNeverCached(t *testing.T) {
	fns := moduleFunctions(t)
	for _, name := range sideEffecting {
		fn, ok := fns[name]
		if !ok {
			t.Errorf("%s: expected module function is missing", name)
			continue
		}
		if !strings.Contains(fn.doc, `+cache="never"`) {
			t.Errorf(`%s touches a registry, AWS or a cluster: mark it +cache="never"`, name)
		}
	}
}

func TestImagesArePinnedParameters(t *testing.T) {
	fns := moduleFunctions(t)
	for name, want := range map[string]int{"New": 3, "Preview": 5, "PreviewCluster": 5} {
		images := 0
		for param, doc := range fns[name].docs {
			if !strings.HasSuffix(param, "Image") {
				continue
			}
			images++
			m := regexp.MustCompile(`\+default="([^"]+)"`).FindStringSubmatch(doc)
			if m == nil {
				t.Errorf("%s: image parameter %s needs a pinned +default", name, param)
				continue
			}
			if ref := m[1]; !strings.Contains(ref, ":") || strings.HasSuffix(ref, ":latest") {
				t.Errorf("%s: image parameter %s default %q is not pinned to a version", name, param, ref)
			}
		}
		if images < want {
			t.Errorf("%s: found %d image parameters, want %d", name, images, want)
		}
	}
}

// The control plane preview runs is the one the tests run: its image defaults are controlplane's images.
func TestPreviewImagesAreTheTestedVersions(t *testing.T) {
	for _, fn := range []string{"Preview", "PreviewCluster"} {
		docs := moduleFunctions(t)[fn].docs
		for param, image := range map[string]string{"etcdImage": controlplane.EtcdImage, "apiserverImage": controlplane.APIServerImage,
			"controllerManagerImage": controlplane.ControllerManagerImage, "schedulerImage": controlplane.SchedulerImage, "kwokImage": controlplane.KwokImage} {
			if !strings.Contains(docs[param], `+default="`+image+`"`) {
				t.Errorf("%s: %s should default to %s, the version the tests run", fn, param, image)
			}
		}
	}
}

func TestSecretsAreSecrets(t *testing.T) {
	for name, fn := range moduleFunctions(t) {
		for _, p := range fn.params {
			for _, n := range p.Names {
				if !secretish.MatchString(n.Name) {
					continue
				}
				if sel, ok := p.Type.(*ast.StarExpr); !ok || exprString(sel.X) != "dagger.Secret" {
					t.Errorf("%s: parameter %s looks secret but is %s: use *dagger.Secret", name, n.Name, exprString(p.Type))
				}
			}
		}
	}
}

func stripPragmas(doc string) string {
	var keep []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "+") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(x.X)
	case *ast.ArrayType:
		return "[]" + exprString(x.Elt)
	}
	return "?"
}
