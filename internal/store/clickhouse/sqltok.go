package clickhouse

import (
	"errors"
	"fmt"
	"strings"
)

// A small tokenizer for the SQL insight's checks: enough of ClickHouse's
// lexical rules (strings, quoted identifiers, comments, numbers) that a
// keyword inside a string or comment is never mistaken for one outside.

type tokKind int

const (
	tokIdent  tokKind = iota // bare word: keyword or identifier
	tokQuoted                // `name` or "name"
	tokString                // 'text'
	tokNumber
	tokPunct
)

type token struct {
	kind       tokKind
	text       string
	start, end int // byte offsets in the query
}

func (t token) is(keyword string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.text, keyword)
}

// tokenize splits q into tokens. Outside quotes it accepts only printable
// ASCII and ClickHouse's whitespace: any other byte (a control character,
// UTF-8, '#', '$', '\\', '@') may be lexed differently by some ClickHouse
// release, and a check that sees different tokens than the server can be
// walked around.
func tokenize(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c < 0x20 || c >= 0x7f || c == '#' || c == '$' || c == '\\' || c == '@':
			return nil, fmt.Errorf("character %q at byte %d is not allowed outside quotes", c, i)
		// '#' is not a comment here: when unsure, the checks must see more
		// tokens than ClickHouse executes, never fewer.
		case strings.HasPrefix(q[i:], "--"):
			// Only a newline ends it; a comment holding another line
			// break or control character is refused rather than guessed.
			for i < len(q) && q[i] != '\n' {
				if q[i] < 0x20 && q[i] != '\t' {
					return nil, fmt.Errorf("control character %q in a comment", q[i])
				}
				i++
			}
		case strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, errors.New("unterminated comment")
			}
			i += end + 4
		case c == '\'' || c == '"' || c == '`':
			end, err := closing(q, i)
			if err != nil {
				return nil, err
			}
			kind := tokQuoted
			if c == '\'' {
				kind = tokString
			}
			toks = append(toks, token{kind, q[i+1 : end-1], i, end})
			i = end
		case isWordStart(c):
			j := i + 1
			for j < len(q) && (isWordStart(q[j]) || isDigit(q[j])) {
				j++
			}
			toks = append(toks, token{tokIdent, q[i:j], i, j})
			i = j
		case isDigit(c):
			j := i + 1
			for j < len(q) && (isDigit(q[j]) || isWordStart(q[j]) || q[j] == '.' ||
				((q[j] == '+' || q[j] == '-') && (q[j-1] == 'e' || q[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, token{tokNumber, q[i:j], i, j})
			i = j
		default:
			toks = append(toks, token{tokPunct, q[i : i+1], i, i + 1})
			i++
		}
	}
	return toks, nil
}

// closing returns the offset after the quote that closes the one at i;
// a backslash escapes, and a doubled quote stands for itself.
func closing(q string, i int) (int, error) {
	quote := q[i]
	for j := i + 1; j < len(q); j++ {
		switch q[j] {
		case '\\':
			j++
		case quote:
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated quoted text")
}

func isWordStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
