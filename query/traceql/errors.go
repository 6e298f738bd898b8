package traceql

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ParseError says where a query is wrong and what was expected there.
type ParseError struct {
	Offset int    // byte offset into the query
	Line   int    // 1-based
	Column int    // 1-based, in characters
	Msg    string // for example `expected "}" but found end of query`
}

// Error returns "line:column: message", as in
// `1:12: expected "}" but found end of query`.
func (e *ParseError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg) }

func newParseError(src string, offset int, msg string) *ParseError {
	offset = min(max(offset, 0), len(src))
	before := src[:offset]
	line := strings.Count(before, "\n") + 1
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return &ParseError{Offset: offset, Line: line, Column: utf8.RuneCountInString(before[lineStart:]) + 1, Msg: msg}
}
