package scim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The filter and path grammar of RFC 7644 section 3.4.2.2 and its ABNF in
// figure 1, with one addition: a value path in a filter may end in a
// sub-attribute and a comparison, as in emails[type eq "work"].value eq "x".
// Keywords and attribute names are case-insensitive.

// maxFilterLength and maxFilterDepth bound the work one filter can cause.
const (
	maxFilterLength = 4096
	maxFilterDepth  = 32
)

// expression is a node of a parsed filter: *logicalExpr, *notExpr,
// *compareExpr or *valuePathExpr.
type expression interface{ isExpression() }

type logicalExpr struct {
	and         bool
	left, right expression
}

type notExpr struct{ inner expression }

// compareExpr is attrPath op value, or attrPath pr.
type compareExpr struct {
	path  attrPath
	op    string // eq, ne, co, sw, ew, gt, ge, lt, le or pr
	value any    // string, bool, json.Number or nil for null and pr
}

// valuePathExpr is attr[filter], optionally followed by .sub op value.
type valuePathExpr struct {
	path   attrPath
	filter expression
	// then compares a sub-attribute of the matching values; nil when absent.
	then *compareExpr
}

func (*logicalExpr) isExpression()   {}
func (*notExpr) isExpression()       {}
func (*compareExpr) isExpression()   {}
func (*valuePathExpr) isExpression() {}

// attrPath is [uri:]name[.sub] as written; names keep the client's case.
type attrPath struct {
	uri, name, sub string
}

func (p attrPath) String() string {
	s := p.name
	if p.uri != "" {
		s = p.uri + ":" + s
	}
	if p.sub != "" {
		s += "." + p.sub
	}
	return s
}

// patchPath is the target of a PATCH operation: attrPath, or
// attr[filter] optionally followed by .sub.
type patchPath struct {
	attr   attrPath
	filter expression
	sub    string // after a value filter; attr.sub holds it otherwise
}

// filterError is a filter or path that does not parse. Its message
// describes the problem and never repeats the whole input.
type filterError struct{ msg string }

func (e *filterError) Error() string { return e.msg }

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokWord
	tokString
	tokNumber
	tokLParen
	tokRParen
	tokLBracket
	tokRBracket
)

type token struct {
	kind tokenKind
	text string // the word, the decoded string or the number's text
	pos  int
}

type parser struct {
	src   string
	pos   int
	tok   token
	depth int
}

// parseFilter parses a filter query parameter.
func parseFilter(src string) (expression, error) {
	p, err := newParser(src)
	if err != nil {
		return nil, err
	}
	e, err := p.parseOr(false)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %s", p.describe())
	}
	return e, nil
}

// parsePatchPath parses the path of a PATCH operation.
func parsePatchPath(src string) (patchPath, error) {
	p, err := newParser(src)
	if err != nil {
		return patchPath{}, err
	}
	if p.tok.kind != tokWord {
		return patchPath{}, p.errorf("expected an attribute name")
	}
	path, err := splitAttrPath(p.tok.text)
	if err != nil {
		return patchPath{}, err
	}
	if err := p.next(); err != nil {
		return patchPath{}, err
	}
	out := patchPath{attr: path}
	if p.tok.kind == tokLBracket {
		if out.filter, out.sub, err = p.parseValueFilter(path); err != nil {
			return patchPath{}, err
		}
	}
	if p.tok.kind != tokEOF {
		return patchPath{}, p.errorf("unexpected %s", p.describe())
	}
	return out, nil
}

func newParser(src string) (*parser, error) {
	if len(src) > maxFilterLength {
		return nil, &filterError{fmt.Sprintf("is longer than %d bytes", maxFilterLength)}
	}
	p := &parser{src: src}
	return p, p.next()
}

func (p *parser) errorf(format string, args ...any) error {
	return &filterError{fmt.Sprintf("at character %d: ", p.tok.pos+1) + fmt.Sprintf(format, args...)}
}

func (p *parser) describe() string {
	switch p.tok.kind {
	case tokEOF:
		return "end of input"
	case tokString:
		return "string"
	case tokNumber:
		return "number"
	}
	return strconv.Quote(p.tok.text)
}

// parseOr parses or-expressions, the lowest precedence. inValue reports
// whether the parser is inside a value filter, where value paths may not
// nest.
func (p *parser) parseOr(inValue bool) (expression, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxFilterDepth {
		return nil, p.errorf("filter nests deeper than %d levels", maxFilterDepth)
	}

	left, err := p.parseAnd(inValue)
	for err == nil && p.keyword("or") {
		if err = p.next(); err != nil {
			break
		}
		var right expression
		if right, err = p.parseAnd(inValue); err == nil {
			left = &logicalExpr{left: left, right: right}
		}
	}
	return left, err
}

func (p *parser) parseAnd(inValue bool) (expression, error) {
	left, err := p.parseUnary(inValue)
	for err == nil && p.keyword("and") {
		if err = p.next(); err != nil {
			break
		}
		var right expression
		if right, err = p.parseUnary(inValue); err == nil {
			left = &logicalExpr{and: true, left: left, right: right}
		}
	}
	return left, err
}

func (p *parser) keyword(word string) bool {
	return p.tok.kind == tokWord && strings.EqualFold(p.tok.text, word)
}

func (p *parser) parseUnary(inValue bool) (expression, error) {
	switch {
	case p.keyword("not"):
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind != tokLParen {
			return nil, p.errorf(`expected "(" after "not"`)
		}
		inner, err := p.parseGroup(inValue)
		return &notExpr{inner: inner}, err
	case p.tok.kind == tokLParen:
		return p.parseGroup(inValue)
	case p.tok.kind == tokWord:
		return p.parseAttrExpr(inValue)
	}
	return nil, p.errorf("expected an attribute name, got %s", p.describe())
}

func (p *parser) parseGroup(inValue bool) (expression, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	inner, err := p.parseOr(inValue)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokRParen {
		return nil, p.errorf(`expected ")", got %s`, p.describe())
	}
	return inner, p.next()
}

func (p *parser) parseAttrExpr(inValue bool) (expression, error) {
	path, err := splitAttrPath(p.tok.text)
	if err != nil {
		return nil, err
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLBracket {
		return p.parseComparison(path)
	}
	if inValue {
		return nil, p.errorf("a value filter cannot contain another one")
	}

	filter, sub, err := p.parseValueFilter(path)
	if err != nil {
		return nil, err
	}
	vp := &valuePathExpr{path: path, filter: filter}
	if sub != "" {
		if vp.then, err = p.parseComparison(attrPath{name: sub}); err != nil {
			return nil, err
		}
	}
	return vp, nil
}

// parseValueFilter parses [filter] and an optional .sub after it. The
// current token is "[".
func (p *parser) parseValueFilter(path attrPath) (expression, string, error) {
	if path.sub != "" {
		return nil, "", p.errorf("a value filter must follow an attribute without a sub-attribute")
	}
	if err := p.next(); err != nil {
		return nil, "", err
	}
	filter, err := p.parseOr(true)
	if err != nil {
		return nil, "", err
	}
	if p.tok.kind != tokRBracket {
		return nil, "", p.errorf(`expected "]", got %s`, p.describe())
	}
	// The sub-attribute after "]" is lexed as one word starting with ".".
	end := p.tok.pos + 1
	if err := p.next(); err != nil {
		return nil, "", err
	}
	if p.tok.kind != tokWord || p.tok.pos != end || !strings.HasPrefix(p.tok.text, ".") {
		return filter, "", nil
	}
	sub := p.tok.text[1:]
	if !validName(sub) {
		return nil, "", p.errorf("invalid sub-attribute name %q", sub)
	}
	return filter, sub, p.next()
}

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *parser) parseComparison(path attrPath) (*compareExpr, error) {
	if p.tok.kind != tokWord {
		return nil, p.errorf("expected an operator after %s, got %s", path, p.describe())
	}
	op := strings.ToLower(p.tok.text)
	if op == "pr" {
		return &compareExpr{path: path, op: op}, p.next()
	}
	if !compareOps[op] {
		return nil, p.errorf("unknown operator %q", p.tok.text)
	}
	if err := p.next(); err != nil {
		return nil, err
	}

	c := &compareExpr{path: path, op: op}
	switch {
	case p.tok.kind == tokString:
		c.value = p.tok.text
	case p.tok.kind == tokNumber:
		c.value = json.Number(p.tok.text)
	case p.keyword("true"), p.keyword("false"):
		c.value = strings.EqualFold(p.tok.text, "true")
	case p.keyword("null"):
		c.value = nil
	default:
		return nil, p.errorf("expected a value after %q, got %s", op, p.describe())
	}
	return c, p.next()
}

// splitAttrPath splits [uri:]name[.sub]. A URI contains colons and may
// contain dots (…:2.0:User), so the name starts after the last colon.
func splitAttrPath(word string) (attrPath, error) {
	var path attrPath
	rest := word
	if i := strings.LastIndexByte(word, ':'); i >= 0 {
		path.uri, rest = word[:i], word[i+1:]
		if !strings.HasPrefix(strings.ToLower(path.uri), "urn:") {
			return attrPath{}, &filterError{fmt.Sprintf("invalid attribute path %q", word)}
		}
	}
	path.name = rest
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		path.name, path.sub = rest[:i], rest[i+1:]
		if !validName(path.sub) {
			return attrPath{}, &filterError{fmt.Sprintf("invalid attribute path %q", word)}
		}
	}
	if !validName(path.name) {
		return attrPath{}, &filterError{fmt.Sprintf("invalid attribute path %q", word)}
	}
	return path, nil
}

// validName checks ATTRNAME of RFC 7643: a letter, then letters, digits,
// "-" and "_"; "$ref" is allowed too.
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return isLetter(c) || isDigit(c) || c == ':' || c == '.' || c == '_' || c == '-' || c == '$'
}

// next reads the next token into p.tok.
func (p *parser) next() error {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{kind: tokEOF, pos: start}
		return nil
	}

	c := p.src[p.pos]
	if kind, ok := punctuation[c]; ok {
		p.pos++
		p.tok = token{kind: kind, text: string(c), pos: start}
		return nil
	}
	switch {
	case c == '"':
		return p.lexString()
	case isDigit(c) || c == '-':
		return p.lexNumber()
	case isWordByte(c):
		for p.pos < len(p.src) && isWordByte(p.src[p.pos]) {
			p.pos++
		}
		p.tok = token{kind: tokWord, text: p.src[start:p.pos], pos: start}
		return nil
	}
	p.tok = token{pos: start}
	return p.errorf("unexpected character %q", rune(c))
}

var punctuation = map[byte]tokenKind{'(': tokLParen, ')': tokRParen, '[': tokLBracket, ']': tokRBracket}

// lexString reads a JSON string, escapes included.
func (p *parser) lexString() error {
	start := p.pos
	p.pos++
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case '\\':
			p.pos += 2
			continue
		case '"':
			p.pos++
			var s string
			if err := json.Unmarshal([]byte(p.src[start:p.pos]), &s); err != nil {
				p.tok = token{pos: start}
				return p.errorf("invalid string")
			}
			p.tok = token{kind: tokString, text: s, pos: start}
			return nil
		}
		p.pos++
	}
	p.tok = token{pos: start}
	return p.errorf("string is not closed")
}

func (p *parser) lexNumber() error {
	start := p.pos
	for p.pos < len(p.src) && (isDigit(p.src[p.pos]) || strings.IndexByte("+-.eE", p.src[p.pos]) >= 0) {
		p.pos++
	}
	text := p.src[start:p.pos]
	p.tok = token{kind: tokNumber, text: text, pos: start}
	if !json.Valid([]byte(text)) {
		return p.errorf("invalid number %q", text)
	}
	return nil
}
