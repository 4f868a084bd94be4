// dagger.go reads the Dagger CLI command lines a workflow runs.
//
// Why: the rules are about which module functions run (deploy exactly once,
// never from a PR) and where their credentials come from. Those live inside a
// free-text `call:`/`args:` input or a `run:` script, so they are tokenized
// here into a function chain with each function's flags.
package workflowcheck

import (
	"strings"
	"unicode"
)

// daggerCommand is one `dagger call` chain found in a workflow.
type daggerCommand struct {
	path   string   // YAML path of the text it came from
	step   *step    // the step running it
	job    *job     // the job holding that step
	tokens []string // every token, for conservative word searches
	chain  []fnCall // functions in call order; empty when not a `call`
}

type fnCall struct {
	name  string
	flags map[string]string
}

func (c daggerCommand) fn(name string) *fnCall {
	for i := range c.chain {
		if c.chain[i].name == name {
			return &c.chain[i]
		}
	}
	return nil
}

// index is the position of name in the chain, -1 when absent.
func (c daggerCommand) index(name string) int {
	for i := range c.chain {
		if c.chain[i].name == name {
			return i
		}
	}
	return -1
}

// hasWord reports whether any token equals w: stricter than the chain, so a
// function hidden behind an unknown boolean flag is still found.
func (c daggerCommand) hasWord(w string) bool {
	for _, t := range c.tokens {
		if strings.Trim(t, `'"`) == w {
			return true
		}
	}
	return false
}

const daggerAction = "dagger/dagger-for-github"

func isDaggerAction(s step) bool {
	return strings.HasPrefix(scalar(s.uses), daggerAction+"@")
}

// daggerCommands lists every Dagger invocation in the workflow: the inputs
// of dagger-for-github steps and `dagger` lines of run scripts.
func (wf *workflow) daggerCommands() []daggerCommand {
	var out []daggerCommand
	for ji := range wf.jobs {
		j := &wf.jobs[ji]
		for si := range j.steps {
			s := &j.steps[si]
			for _, c := range stepCommands(s) {
				c.step, c.job = s, j
				out = append(out, c)
			}
		}
	}
	return out
}

func stepCommands(s *step) []daggerCommand {
	var out []daggerCommand
	if isDaggerAction(*s) {
		verb := scalar(get(s.with, "verb"))
		if verb == "" {
			verb = "call"
		}
		for _, in := range []string{"call", "args", "shell", "check"} {
			text := scalar(get(s.with, in))
			if text == "" {
				continue
			}
			toks := tokenize(text)
			c := daggerCommand{path: s.path + ".with." + in, tokens: toks}
			if in == "call" || (in == "args" && verb == "call") {
				c.chain = parseChain(toks)
			}
			out = append(out, c)
		}
	}
	for _, line := range strings.Split(scalar(s.run), "\n") {
		toks := tokenize(line)
		for i, t := range toks {
			if t == "dagger" {
				out = append(out, daggerCommand{
					path: s.path + ".run", tokens: toks[i+1:], chain: parseCLI(toks[i+1:]),
				})
				break
			}
		}
	}
	return out
}

// parseCLI skips the CLI's global flags and parses what follows `call`.
func parseCLI(toks []string) []fnCall {
	for i, t := range toks {
		if t == "call" {
			return parseChain(toks[i+1:])
		}
	}
	return nil
}

// parseChain splits `fn --flag v fn2 --flag2=v` into functions with flags.
// Every flag is taken to carry a value, which holds for this module's CLI.
func parseChain(toks []string) []fnCall {
	var chain []fnCall
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !strings.HasPrefix(t, "-") {
			chain = append(chain, fnCall{name: t, flags: map[string]string{}})
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(t, "-"), "=")
		if !hasVal && i+1 < len(toks) && !strings.HasPrefix(toks[i+1], "-") {
			i++
			val = toks[i]
		}
		if len(chain) > 0 {
			chain[len(chain)-1].flags[name] = val
		}
	}
	return chain
}

// tokenize splits on blanks like a shell would, keeping quoted strings and
// `${{ ... }}` expressions (which contain blanks) inside one token.
func tokenize(s string) []string {
	var toks []string
	var cur strings.Builder
	var quote rune
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			cur.WriteRune(r)
			if r == quote {
				quote = 0
			}
		case r == '$' && i+2 < len(rs) && rs[i+1] == '{' && rs[i+2] == '{':
			end := strings.Index(string(rs[i:]), "}}")
			if end < 0 {
				end = len(string(rs[i:])) - 2
			}
			expr := string(rs[i:])[:end+2]
			cur.WriteString(expr)
			i += len([]rune(expr)) - 1
		case r == '\'' || r == '"':
			quote = r
			cur.WriteRune(r)
		case unicode.IsSpace(r) || r == '\\':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}
