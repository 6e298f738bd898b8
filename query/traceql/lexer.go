package traceql

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// tokenKind classifies a token.
type tokenKind int

const (
	tokEOF      tokenKind = iota
	tokIdent              // a word: keyword, function or bare intrinsic name
	tokAttr               // span.x, resource.x, .x, span:id ...; the attribute is in token.attr
	tokInt                // 200
	tokFloat              // 1.5, .99, 1e3
	tokDuration           // 1.5s, 300ms
	tokString             // "a\"b" or `raw`; the unquoted text is in token.text
	tokOp                 // punctuation and operators; the text is in token.text
)

// token is one lexeme of a query.
type token struct {
	kind tokenKind
	pos  int    // byte offset of the first byte
	end  int    // byte offset after the last byte
	text string // the source text, or the unquoted string for tokString
	attr Attribute
}

// describe names the token for an error message: `"}"`, `identifier "foo"`,
// `end of query`.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of query"
	case tokIdent:
		return strconv.Quote(t.text)
	case tokAttr:
		return "attribute " + t.attr.String()
	case tokString:
		return "string " + strconv.Quote(t.text)
	case tokInt, tokFloat, tokDuration:
		return "number " + t.text
	}
	return strconv.Quote(t.text)
}

// operators, longest first so that the lexer takes the longest match.
var operators = []string{
	"&>>", "&<<", "!>>", "!<<",
	"&&", "||", "&>", "&<", "&~", "!=", "!~", "!>", "!<", "=~", ">>", "<<", ">=", "<=",
	"=", ">", "<", "~", "!", "+", "-", "*", "/", "%", "^", "|", "{", "}", "(", ")", ",",
}

// attribute scopes written scope.name, and the scopes of intrinsics written
// scope:name.
var (
	attrScopes = map[string]Scope{
		"span": ScopeSpan, "resource": ScopeResource, "event": ScopeEvent,
		"link": ScopeLink, "instrumentation": ScopeInstrumentation,
	}
	intrinsicScopes = map[string]bool{"span": true, "trace": true, "event": true, "link": true, "instrumentation": true}
)

// lexer splits a query into tokens; it reports the first malformed token as
// a *ParseError.
type lexer struct {
	src string
	pos int
}

func (l *lexer) errorf(pos int, format string, args ...any) *ParseError {
	return newParseError(l.src, pos, fmt.Sprintf(format, args...))
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, pos: start, end: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case isDigit(c) || (c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1])):
		return l.number()
	case c == '.':
		l.pos++
		name, err := l.attrName(start)
		if err != nil {
			return token{}, err
		}
		return token{kind: tokAttr, pos: start, end: l.pos, text: l.src[start:l.pos], attr: Attribute{Scope: ScopeNone, Name: name}}, nil
	case isIdentStart(c):
		return l.word()
	case c == '"' || c == '`':
		return l.str()
	case c == '\'':
		return token{}, l.errorf(start, "strings are written in double quotes or backquotes, not single quotes")
	}
	for _, op := range operators {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return token{kind: tokOp, pos: start, end: l.pos, text: op}, nil
		}
	}
	r := l.src[start:]
	if len(r) > 4 {
		r = r[:4]
	}
	return token{}, l.errorf(start, "unexpected character %q", []rune(r)[0])
}

// word lexes an identifier, or an attribute or intrinsic that begins with
// a scope (span.x, span:id).
func (l *lexer) word() (token, error) {
	start := l.pos
	for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
		l.pos++
	}
	w := l.src[start:l.pos]
	if l.pos < len(l.src) {
		switch l.src[l.pos] {
		case '.':
			if scope, ok := attrScopes[w]; ok {
				l.pos++
				name, err := l.attrName(start)
				if err != nil {
					return token{}, err
				}
				return token{kind: tokAttr, pos: start, end: l.pos, text: l.src[start:l.pos], attr: Attribute{Scope: scope, Name: name}}, nil
			}
		case ':':
			if intrinsicScopes[w] {
				l.pos++
				for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
					l.pos++
				}
				full := l.src[start:l.pos]
				in, ok := intrinsicByName[full]
				if !ok {
					return token{}, l.errorf(start, "unknown intrinsic %q; the %s: intrinsics are %s", full, w, scopedIntrinsics(w))
				}
				return token{kind: tokAttr, pos: start, end: l.pos, text: full, attr: in.attribute()}, nil
			}
		}
	}
	return token{kind: tokIdent, pos: start, end: l.pos, text: w}, nil
}

// attrName lexes an attribute name after its scope and dot: runs of name
// characters and double-quoted parts, up to the first character that ends a
// name (space, operator, bracket, comma).
func (l *lexer) attrName(start int) (string, error) {
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '"' {
			q := l.pos
			l.pos++
			for {
				if l.pos >= len(l.src) {
					return "", l.errorf(q, "unterminated quoted attribute name")
				}
				c := l.src[l.pos]
				if c == '"' {
					l.pos++
					break
				}
				if c == '\\' && l.pos+1 < len(l.src) && (l.src[l.pos+1] == '"' || l.src[l.pos+1] == '\\') {
					c = l.src[l.pos+1]
					l.pos++
				}
				b.WriteByte(c)
				l.pos++
			}
			continue
		}
		if !isNameChar(c) {
			break
		}
		if c == '.' && (b.Len() == 0 || l.src[l.pos-1] == '.' || l.pos+1 >= len(l.src) || (!isNameChar(l.src[l.pos+1]) && l.src[l.pos+1] != '"')) {
			return "", l.errorf(l.pos, "attribute name %q has an empty part between dots (quote a name with odd dots: span.\"a..b\")", l.src[start:l.pos+1])
		}
		b.WriteByte(c)
		l.pos++
	}
	if b.Len() == 0 {
		return "", l.errorf(l.pos, "expected an attribute name after %q", l.src[start:l.pos])
	}
	return b.String(), nil
}

// number lexes an integer, a float or a duration (a number followed by
// units, as Go's time.ParseDuration reads them: 1.5s, 300ms, 1h30m).
func (l *lexer) number() (token, error) {
	start := l.pos
	kind := tokInt
	l.digits()
	if l.pos < len(l.src) && l.src[l.pos] == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1]) {
		kind = tokFloat
		l.pos++
		l.digits()
	}
	if l.pos < len(l.src) && (l.src[l.pos] == 'e' || l.src[l.pos] == 'E') {
		p := l.pos + 1
		if p < len(l.src) && (l.src[p] == '+' || l.src[p] == '-') {
			p++
		}
		if p < len(l.src) && isDigit(l.src[p]) {
			kind = tokFloat
			l.pos = p
			l.digits()
		}
	}
	if l.pos < len(l.src) && (isIdentStart(l.src[l.pos]) || strings.HasPrefix(l.src[l.pos:], "µ")) {
		for l.pos < len(l.src) && (isIdentPart(l.src[l.pos]) || l.src[l.pos] == '.' || strings.HasPrefix(l.src[l.pos:], "µ")) {
			if strings.HasPrefix(l.src[l.pos:], "µ") {
				l.pos += len("µ")
			} else {
				l.pos++
			}
		}
		text := l.src[start:l.pos]
		if _, err := time.ParseDuration(text); err != nil {
			return token{}, l.errorf(start, "invalid duration %q (units are ns, us, ms, s, m, h)", text)
		}
		return token{kind: tokDuration, pos: start, end: l.pos, text: text}, nil
	}
	return token{kind: kind, pos: start, end: l.pos, text: l.src[start:l.pos]}, nil
}

func (l *lexer) digits() {
	for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
		l.pos++
	}
}

// str lexes a double-quoted string with Go's escapes, or a raw string in
// backquotes.
func (l *lexer) str() (token, error) {
	start := l.pos
	q := l.src[l.pos]
	l.pos++
	for l.pos < len(l.src) && l.src[l.pos] != q {
		if q == '"' && l.src[l.pos] == '\\' {
			l.pos++
		}
		if q == '"' && l.pos < len(l.src) && l.src[l.pos] == '\n' {
			break
		}
		l.pos++
	}
	if l.pos >= len(l.src) || l.src[l.pos] != q {
		return token{}, l.errorf(start, "unterminated string")
	}
	l.pos++
	raw := l.src[start:l.pos]
	s, err := strconv.Unquote(raw)
	if err != nil {
		return token{}, l.errorf(start, "invalid string %s: bad escape sequence", raw)
	}
	return token{kind: tokString, pos: start, end: l.pos, text: s}, nil
}

func isSpace(c byte) bool      { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// isNameChar reports whether c may appear in an unquoted attribute name.
// Names end at spaces, operators, brackets, commas and quotes; dashes,
// slashes, colons and non-ASCII bytes are part of names.
func isNameChar(c byte) bool {
	if c >= 0x80 {
		return true
	}
	if isSpace(c) || c < 0x20 || c == 0x7f {
		return false
	}
	return !strings.ContainsRune("{}()=~!<>&|^,\"'`*+%", rune(c))
}
