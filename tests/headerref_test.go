package tests

// docs/header-reference.md is generated from include/tremor/plugin.h by
// the code in this file, so that the reference cannot drift from the
// header: TestHeaderReference fails when the file differs from what the
// header gives, and rewrites it when run with UPDATE=1:
//
//	UPDATE=1 go test ./tests -run TestHeaderReference
//
// The generator reads the header's own layout: the opening comment (the
// overview and the rules), banner comments (sections), and doc comments
// each followed by the declarations they describe.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

func TestHeaderReference(t *testing.T) {
	root := testenv.Root(t)
	header, err := os.ReadFile(filepath.Join(root, "include", "tremor", "plugin.h"))
	require.NoError(t, err)
	want, err := headerReference(string(header))
	require.NoError(t, err)
	path := filepath.Join(root, "docs", "header-reference.md")
	if os.Getenv("UPDATE") != "" {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		t.Logf("wrote %s", path)
		return
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err, "docs/header-reference.md is missing: run UPDATE=1 go test ./tests -run TestHeaderReference")
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		line := 0
		for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
			line++
		}
		at := func(l []string) string {
			if line < len(l) {
				return l[line]
			}
			return "(end of file)"
		}
		t.Fatalf("docs/header-reference.md is out of date with include/tremor/plugin.h "+
			"(first difference at line %d:\n  file:      %q\n  generated: %q)\n"+
			"regenerate it: UPDATE=1 go test ./tests -run TestHeaderReference", line+1, at(gl), at(wl))
	}
}

// Every name the header declares has an entry (an anchor) in the reference.
func TestHeaderReferenceCoversEveryDeclaration(t *testing.T) {
	root := testenv.Root(t)
	header, err := os.ReadFile(filepath.Join(root, "include", "tremor", "plugin.h"))
	require.NoError(t, err)
	ref, err := headerReference(string(header))
	require.NoError(t, err)
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^#define (TREMOR_\w+)`).FindAllStringSubmatch(string(header), -1) {
		switch m[1] {
		case "TREMOR_PLUGIN_H", "TREMOR_X_ENUM", "TREMOR_X_STR": // include guard, local helpers
		default:
			names = append(names, m[1])
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+X\((\w+),`).FindAllStringSubmatch(string(header), -1) {
		names = append(names, "TREMOR_"+m[1])
	}
	for _, m := range regexp.MustCompile(`(?m)^typedef .*?\b(tremor_\w+)(?:\)\(| \{|;)`).FindAllStringSubmatch(string(header), -1) {
		names = append(names, m[1])
	}
	names = append(names, "tremor_result_str", "tremor_plugin_get_descriptor")
	require.Greater(t, len(names), 60, "the extraction found the header's declarations")
	for _, n := range names {
		require.Contains(t, ref, `<a id="`+n+`"></a>`, "no entry for %s", n)
	}
}

// ---------------------------------------------------------------------------
// The generator

// hdrItem is one doc comment and the declarations that follow it.
type hdrItem struct {
	doc  []string // comment text, one entry per line ("" for blank lines)
	code []string // the declaration lines, as written
}

type hdrSection struct {
	title string
	items []hdrItem
}

var (
	bannerRule = regexp.MustCompile(`^/\* -{20,} \*/$`)
	defineLine = regexp.MustCompile(`^#define (TREMOR_\w+)(?:\s+(.*?))?\s*(?:/\*\s*(.*?)\s*\*/)?\s*$`)
	xRow       = regexp.MustCompile(`^\s*X\((\w+),\s*(-?(?:0x)?\d+),\s*"(.*)"\)\s*\\?$`)
	xTable     = regexp.MustCompile(`^#define (TREMOR_\w+)\(X\)`)
	// xTitles says what each X-macro table of the header lists.
	xTitles = map[string]string{
		"TREMOR_RESULT_CODES": "the result codes",
		"TREMOR_VALUE_KINDS":  "the kinds of structured value",
		"TREMOR_PORTS":        "the ports",
		"TREMOR_EVENT_FLAGS":  "the event flags",
	}
	typedefFn    = regexp.MustCompile(`^typedef .*\(\*(\w+)\)\(`)
	typedefStruc = regexp.MustCompile(`^typedef struct (\w+) (?:\{|(\w+);)`)
	inlineFn     = regexp.MustCompile(`^static inline .*?\b(\w+)\(`)
	vtableField  = regexp.MustCompile(`^\s+(tremor_\w+_fn)\s+(on_\w+);\s*/\*\s*(.*?)\s*\*/`)
	headingLine  = regexp.MustCompile(`^[A-Z][A-Z ]+[A-Z](\s+\(.*\))?$`)
	numberedItem = regexp.MustCompile(`^\s+(\d+)\.\s+(.*)$`)
)

// commentText strips the comment markers from the lines of one /* */
// comment, keeping the indentation after "* ".
func commentText(lines []string) []string {
	var out []string
	for i, l := range lines {
		s := strings.TrimRight(l, " ")
		if i == 0 {
			s = strings.TrimPrefix(s, "/*")
		} else {
			s = strings.TrimLeft(s, " ")
			s = strings.TrimPrefix(s, "*")
			if strings.HasPrefix(s, "/") { // the closing "*/" alone
				s = ""
			}
		}
		s = strings.TrimSuffix(strings.TrimRight(s, " "), "*/")
		s = strings.TrimRight(s, " ")
		s = strings.TrimPrefix(s, " ")
		if i == 0 && s == "" {
			continue
		}
		out = append(out, s)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// parseHeader splits the header into its opening comment and its sections.
func parseHeader(src string) (overview []string, sections []hdrSection, err error) {
	lines := strings.Split(src, "\n")
	var doc []string
	cur := -1
	for i := 0; i < len(lines); {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			i++
		case strings.HasPrefix(l, "/*"):
			// A comment at column 0: a banner, the overview or a doc comment.
			j := i
			for !strings.Contains(lines[j], "*/") {
				j++
				if j == len(lines) {
					return nil, nil, fmt.Errorf("line %d: unterminated comment", i+1)
				}
			}
			if bannerRule.MatchString(l) && i+2 < len(lines) && bannerRule.MatchString(lines[i+2]) {
				title := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(lines[i+1], "/*"), "*/"))
				sections = append(sections, hdrSection{title: title})
				cur = len(sections) - 1
				i += 3
				continue
			}
			text := commentText(lines[i : j+1])
			if overview == nil && cur < 0 {
				overview = text
			} else {
				if len(doc) > 0 {
					doc = append(doc, "")
				}
				doc = append(doc, text...)
			}
			i = j + 1
		default:
			// Declarations up to a blank line or the next doc comment.
			j := i
			for j < len(lines) && strings.TrimSpace(lines[j]) != "" && !strings.HasPrefix(lines[j], "/*") {
				j++
			}
			code := lines[i:j]
			i = j
			if len(doc) == 0 {
				continue // include guard, includes, extern "C": no doc, nothing to declare
			}
			if cur < 0 {
				return nil, nil, fmt.Errorf("declaration %q before the first section", code[0])
			}
			sections[cur].items = append(sections[cur].items, hdrItem{doc: doc, code: code})
			doc = nil
		}
	}
	if overview == nil {
		return nil, nil, fmt.Errorf("no opening comment")
	}
	return overview, sections, nil
}

// itemNames returns what an item declares and a short title for it.
func itemNames(it hdrItem) (names []string, title string) {
	first := it.code[0]
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	switch {
	case xTable.MatchString(first):
		table := xTable.FindStringSubmatch(first)[1]
		add(table)
		for _, l := range it.code {
			if m := xRow.FindStringSubmatch(l); m != nil {
				add("TREMOR_" + m[1])
			}
		}
		return names, "`" + table + "`: " + xTitles[table]
	case strings.HasPrefix(first, "enum {"):
		for _, l := range it.code {
			if m := regexp.MustCompile(`^\s+(TREMOR_\w+) = `).FindStringSubmatch(l); m != nil {
				add(m[1])
			}
		}
		return names, "Result code constants (`enum`)"
	case strings.HasPrefix(first, "static inline"):
		m := inlineFn.FindStringSubmatch(first)
		add(m[1])
		return names, "`" + m[1] + "()`"
	case strings.HasPrefix(first, "typedef struct"):
		m := typedefStruc.FindStringSubmatch(first)
		add(m[1])
		if m[2] != "" {
			return names, "`" + m[1] + "` (opaque type)"
		}
		return names, "`" + m[1] + "` (struct)"
	case typedefFn.MatchString(first):
		n := typedefFn.FindStringSubmatch(first)[1]
		add(n)
		switch {
		case strings.HasPrefix(n, "tremor_on_"):
			return names, "`" + n + "` (hook: the plugin implements it, the host calls it)"
		case strings.HasPrefix(n, "tremor_host_"):
			return names, "`" + n + "` (host function: the host implements it, the plugin calls it)"
		}
		return names, "`" + n + "` (function type)"
	case strings.HasPrefix(first, "TREMOR_PLUGIN_EXPORT"):
		add("tremor_plugin_get_descriptor")
		return names, "`tremor_plugin_get_descriptor()` (the entry point)"
	}
	for _, l := range it.code {
		if m := defineLine.FindStringSubmatch(l); m != nil {
			add(m[1])
		}
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "`" + n + "`"
	}
	return names, strings.Join(quoted, ", ")
}

// codeWord matches words that are code: identifiers with underscores,
// anything with * or ->, calls.
var codeWord = regexp.MustCompile(`[_*]|->|\w\(\)`)

// inline formats one line of prose: code-like words go in backticks (so
// that markdown leaves their underscores and asterisks alone); spans the
// header already quotes with backticks stay as they are.
func inline(s string) string {
	parts := strings.Split(s, "`")
	for i := 0; i < len(parts); i += 2 { // even parts are outside backticks
		words := strings.Split(parts[i], " ")
		for j, w := range words {
			core := w
			lead := ""
			for strings.HasPrefix(core, "(") {
				lead += "("
				core = core[1:]
			}
			trail := ""
			for len(core) > 0 && strings.ContainsAny(core[len(core)-1:], ".,;:") {
				trail = core[len(core)-1:] + trail
				core = core[:len(core)-1]
			}
			if strings.HasSuffix(core, "'s") {
				trail = "'s" + trail
				core = strings.TrimSuffix(core, "'s")
			}
			if strings.HasSuffix(core, ")") && strings.Count(core, "(") < strings.Count(core, ")") {
				trail = ")" + trail
				core = core[:len(core)-1]
			}
			if core != "" && codeWord.MatchString(core) {
				words[j] = lead + "`" + core + "`" + trail
			}
		}
		parts[i] = strings.Join(words, " ")
	}
	return strings.Join(parts, "`")
}

// markdown turns comment text into markdown: paragraphs, ALL-CAPS headings,
// numbered lists (indented "N. " items) and indented blocks (as code).
func markdown(doc []string) string {
	var out []string
	emit := func(s string) { out = append(out, s) }
	indented := func(l string) bool { return strings.HasPrefix(l, "  ") }
	var blocks [][]string
	var b []string
	for _, l := range doc {
		if l == "" {
			if len(b) > 0 {
				blocks = append(blocks, b)
			}
			b = nil
			continue
		}
		b = append(b, l)
	}
	if len(b) > 0 {
		blocks = append(blocks, b)
	}
	for _, blk := range blocks {
		if headingLine.MatchString(blk[0]) {
			h := strings.ToLower(blk[0][:1]) // sentence case
			h = strings.ToUpper(h) + strings.ToLower(blk[0][1:])
			emit("**" + h + "**\n")
			blk = blk[1:]
		}
		for len(blk) > 0 {
			// A run of lines with the same indentation kind.
			n := 1
			for n < len(blk) && indented(blk[n]) == indented(blk[0]) {
				n++
			}
			run := blk[:n]
			blk = blk[n:]
			switch {
			case !indented(run[0]):
				words := make([]string, len(run))
				for i, l := range run {
					words[i] = strings.TrimSpace(l)
				}
				emit(inline(strings.Join(words, " ")) + "\n")
			case numberedItem.MatchString(run[0]):
				var items []string
				for _, l := range run {
					if m := numberedItem.FindStringSubmatch(l); m != nil && len(l)-len(strings.TrimLeft(l, " ")) <= 4 {
						items = append(items, m[1]+". "+m[2])
					} else {
						items[len(items)-1] += " " + strings.TrimSpace(l)
					}
				}
				for _, it := range items {
					dot := strings.Index(it, ". ")
					emit(it[:dot+2] + inline(it[dot+2:]))
				}
				emit("")
			default:
				ind := len(run[0])
				for _, l := range run {
					if k := len(l) - len(strings.TrimLeft(l, " ")); k < ind {
						ind = k
					}
				}
				emit("```text")
				for _, l := range run {
					emit(l[ind:])
				}
				emit("```\n")
			}
		}
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// renderItem writes one entry: anchors, title, doc, and the declaration
// (as a table for constants, as code otherwise).
func renderItem(w *strings.Builder, it hdrItem) {
	names, title := itemNames(it)
	for _, n := range names {
		fmt.Fprintf(w, "<a id=\"%s\"></a>", n)
	}
	fmt.Fprintf(w, "\n\n### %s\n\n%s\n", title, markdown(it.doc))
	first := it.code[0]
	if xTable.MatchString(first) {
		w.WriteString("| constant | value | meaning |\n| --- | --- | --- |\n")
		for _, l := range it.code {
			if m := xRow.FindStringSubmatch(l); m != nil {
				fmt.Fprintf(w, "| `TREMOR_%s` | %s | %s |\n", m[1], m[2], cell(m[3]))
			}
		}
		w.WriteString("\n")
		return
	}
	simple := true
	for _, l := range it.code {
		if m := defineLine.FindStringSubmatch(l); m == nil || m[2] == "" || strings.Contains(m[1], "(") {
			simple = false
		}
	}
	if simple {
		meanings := false
		for _, l := range it.code {
			meanings = meanings || defineLine.FindStringSubmatch(l)[3] != ""
		}
		if meanings {
			w.WriteString("| constant | value | meaning |\n| --- | --- | --- |\n")
		} else {
			w.WriteString("| constant | value |\n| --- | --- |\n")
		}
		for _, l := range it.code {
			m := defineLine.FindStringSubmatch(l)
			fmt.Fprintf(w, "| `%s` | `%s` |", m[1], cell(m[2]))
			if meanings {
				fmt.Fprintf(w, " %s |", inline(cell(strings.Join(strings.Fields(m[3]), " "))))
			}
			w.WriteString("\n")
		}
		w.WriteString("\n")
		return
	}
	fmt.Fprintf(w, "```c\n%s\n```\n\n", strings.Join(it.code, "\n"))
}

// headerReference renders docs/header-reference.md from the header text.
func headerReference(src string) (string, error) {
	overview, sections, err := parseHeader(src)
	if err != nil {
		return "", err
	}
	abi := regexp.MustCompile(`(?m)^#define TREMOR_ABI_VERSION_STRING "(.*)"`).FindStringSubmatch(src)
	if abi == nil {
		return "", fmt.Errorf("no TREMOR_ABI_VERSION_STRING")
	}
	var w strings.Builder
	fmt.Fprintf(&w, "# `tremor/plugin.h` reference (ABI %s)\n\n", abi[1])
	w.WriteString("<!-- Generated from include/tremor/plugin.h by tests/headerref_test.go: do not edit.\n" +
		"     After changing the header: UPDATE=1 go test ./tests -run TestHeaderReference -->\n\n")
	w.WriteString("Every type, hook, host function and constant of the plugin contract,\n" +
		"with the rule the header states for it, in the header's order. This page is\n" +
		"generated from [`include/tremor/plugin.h`](../include/tremor/plugin.h) and a\n" +
		"test fails when the two differ, so the header stays the one source of truth.\n" +
		"The language guides ([C](guide-c.md), [Rust](guide-rust.md), [Go](guide-go.md))\n" +
		"show how each SDK maps onto it.\n\n")

	// Contents.
	w.WriteString("## Contents\n\n- [Overview and the rules that hold everywhere](#overview)\n")
	for _, s := range sections {
		var links []string
		for _, it := range s.items {
			names, _ := itemNames(it)
			for _, n := range names {
				links = append(links, fmt.Sprintf("[`%s`](#%s)", n, n))
			}
		}
		fmt.Fprintf(&w, "- **%s**: %s\n", s.title, strings.Join(links, ", "))
	}
	w.WriteString("- [The hooks at a glance](#hooks-at-a-glance)\n\n")

	w.WriteString("<a id=\"overview\"></a>\n\n## Overview\n\n")
	w.WriteString(markdown(overview))
	for _, s := range sections {
		fmt.Fprintf(&w, "\n## %s\n\n", s.title)
		for _, it := range s.items {
			renderItem(&w, it)
		}
	}

	// The vtable as a table: which hook, its type, required or not.
	w.WriteString("<a id=\"hooks-at-a-glance\"></a>\n\n## The hooks at a glance\n\n" +
		"The members of [`tremor_connector_vtable`](#tremor_connector_vtable), in order:\n\n" +
		"| vtable member | type | required |\n| --- | --- | --- |\n")
	found := 0
	for _, s := range sections {
		for _, it := range s.items {
			if !strings.HasPrefix(it.code[0], "typedef struct tremor_connector_vtable ") {
				continue
			}
			for _, l := range it.code {
				if m := vtableField.FindStringSubmatch(l); m != nil {
					fmt.Fprintf(&w, "| `%s` | [`%s`](#%s) | %s |\n", m[2], m[1], m[1], cell(m[3]))
					found++
				}
			}
		}
	}
	if found == 0 {
		return "", fmt.Errorf("no tremor_connector_vtable members found")
	}
	out := w.String()
	// Keep the output stable: no trailing spaces, one final newline.
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	out = strings.Join(lines, "\n")
	for strings.Contains(out, "\n\n\n") {
		out = strings.ReplaceAll(out, "\n\n\n", "\n\n")
	}
	return strings.TrimRight(out, "\n") + "\n", nil
}
