package main

import (
	"fmt"
	"strconv"
	"strings"
)

// readYAMLSubset reads the YAML deploy/compose.yaml is written in (the
// module has no YAML library): block mappings and sequences by
// indentation, "- key: value" items, flow sequences and mappings on one
// line, double-quoted, single-quoted and plain scalars, and comment
// lines. Anything else is an error, so the file stays in this subset.
func readYAMLSubset(text string) (any, error) {
	var lines []yamlLine
	for n, raw := range strings.Split(text, "\n") {
		t := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimLeft(t, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.Contains(t, "\t") {
			return nil, fmt.Errorf("line %d: tab", n+1)
		}
		lines = append(lines, yamlLine{n + 1, len(t) - len(trimmed), trimmed})
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("empty document")
	}
	v, next, err := yamlBlock(lines, 0, lines[0].indent)
	if err == nil && next < len(lines) {
		err = fmt.Errorf("line %d: unexpected indentation", lines[next].n)
	}
	return v, err
}

type yamlLine struct {
	n, indent int
	text      string
}

func yamlBlock(lines []yamlLine, i, indent int) (any, int, error) {
	if strings.HasPrefix(lines[i].text, "- ") || lines[i].text == "-" {
		return yamlSeq(lines, i, indent)
	}
	return yamlMap(lines, i, indent)
}

func yamlSeq(lines []yamlLine, i, indent int) (any, int, error) {
	var out []any
	for i < len(lines) && lines[i].indent == indent && strings.HasPrefix(lines[i].text, "- ") {
		item := strings.TrimSpace(lines[i].text[2:])
		if _, _, isMap := yamlKey(item); isMap {
			// "- key: value" opens a mapping indented past the dash.
			sub := append([]yamlLine{{lines[i].n, indent + 2, item}}, lines[i+1:]...)
			v, next, err := yamlMap(sub, 0, indent+2)
			if err != nil {
				return nil, 0, err
			}
			out, i = append(out, v), i+next
			continue
		}
		v, err := yamlInline(item)
		if err != nil {
			return nil, 0, fmt.Errorf("line %d: %w", lines[i].n, err)
		}
		out, i = append(out, v), i+1
	}
	return out, i, nil
}

func yamlMap(lines []yamlLine, i, indent int) (any, int, error) {
	out := map[string]any{}
	for i < len(lines) && lines[i].indent == indent {
		key, rest, ok := yamlKey(lines[i].text)
		if !ok {
			return nil, 0, fmt.Errorf("line %d: want key: value, got %q", lines[i].n, lines[i].text)
		}
		if _, dup := out[key]; dup {
			return nil, 0, fmt.Errorf("line %d: key %q twice", lines[i].n, key)
		}
		if rest != "" {
			v, err := yamlInline(rest)
			if err != nil {
				return nil, 0, fmt.Errorf("line %d: %w", lines[i].n, err)
			}
			out[key], i = v, i+1
			continue
		}
		i++
		if i < len(lines) && (lines[i].indent > indent || lines[i].indent == indent && strings.HasPrefix(lines[i].text, "- ")) {
			v, next, err := yamlBlock(lines, i, lines[i].indent)
			if err != nil {
				return nil, 0, err
			}
			out[key], i = v, next
			continue
		}
		out[key] = nil
	}
	return out, i, nil
}

// yamlKey splits "key: value" (or "key:"), the key plain or quoted.
func yamlKey(s string) (key, rest string, ok bool) {
	if strings.HasPrefix(s, `"`) {
		end := strings.Index(s[1:], `"`)
		if end < 0 || !strings.HasPrefix(s[end+2:], ":") {
			return "", "", false
		}
		return s[1 : end+1], strings.TrimSpace(s[end+3:]), true
	}
	if k, r, found := strings.Cut(s, ": "); found && !strings.ContainsAny(k, "[]{}\"' ") {
		return k, strings.TrimSpace(r), true
	}
	if k, found := strings.CutSuffix(s, ":"); found && !strings.ContainsAny(k, "[]{}\"' ") {
		return k, "", true
	}
	return "", "", false
}

// yamlInline reads a scalar or a one-line flow collection.
func yamlInline(s string) (any, error) {
	switch {
	case strings.HasPrefix(s, "["):
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("unclosed flow sequence %q", s)
		}
		parts, err := yamlSplit(s[1 : len(s)-1])
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, p := range parts {
			v, err := yamlInline(p)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case strings.HasPrefix(s, "{"):
		if !strings.HasSuffix(s, "}") {
			return nil, fmt.Errorf("unclosed flow mapping %q", s)
		}
		parts, err := yamlSplit(s[1 : len(s)-1])
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, p := range parts {
			k, r, ok := yamlKey(p)
			if !ok {
				return nil, fmt.Errorf("want key: value in %q", s)
			}
			v, err := yamlInline(r)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case strings.HasPrefix(s, `"`):
		return strconv.Unquote(s)
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return nil, fmt.Errorf("unclosed quote %q", s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.Contains(s, " #"):
		return nil, fmt.Errorf("trailing comment in %q (not in this subset)", s)
	}
	return s, nil
}

// yamlSplit splits a flow collection's items at commas outside quotes and
// brackets.
func yamlSplit(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if quote != 0 || depth != 0 {
		return nil, fmt.Errorf("unbalanced %q", s)
	}
	if last := strings.TrimSpace(s[start:]); last != "" {
		out = append(out, last)
	}
	return out, nil
}
