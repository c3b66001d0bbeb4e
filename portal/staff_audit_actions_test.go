package portal

import (
	"encoding/csv"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// actionCodePattern matches an audit action code such as "token.issue".
var actionCodePattern = regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)

// TestAuditActionLabelsCover parses the module's Go source for every
// action code it writes to the audit trail and checks that each has a
// label, so the audit pages never show a new code raw.
func TestAuditActionLabelsCover(t *testing.T) {
	t.Parallel()
	written := writtenAuditActions(t, "..")

	// One code from each way the source writes one, so a scan that stops
	// finding a way fails here rather than passing on fewer codes.
	for _, code := range []string{
		"user.signin",            // an AuditEvent literal's Action field
		"token.reveal",           // a literal passed as an action parameter
		"staff.signin_throttled", // a literal passed on through a helper's action parameter
		"token.rotate",           // a literal passed to a helper that audits it
		"staff.disable",          // a map literal indexed into an action variable
		"request.reject",         // "request." joined with a function's result
	} {
		if _, ok := written[code]; !ok {
			t.Errorf("the source scan did not find %q, so it misses a way of writing audit actions", code)
		}
	}

	for code, where := range written {
		if _, ok := auditActionLabels[code]; !ok {
			t.Errorf("audit action %q (written at %s) has no label in auditActionLabels", code, strings.Join(where, ", "))
		}
	}
}

func TestAuditActionLabelsArePhrases(t *testing.T) {
	t.Parallel()
	for code, label := range auditActionLabels {
		if !actionCodePattern.MatchString(code) {
			t.Errorf("label key %q is not an action code", code)
		}
		if label == "" || !unicode.IsUpper([]rune(label)[0]) {
			t.Errorf("label of %q is %q, want a phrase that starts with a capital letter", code, label)
		}
		if strings.ContainsAny(label, "._") {
			t.Errorf("label of %q is %q, which reads like a code", code, label)
		}
	}
}

// TestAuditPagesShowLabels checks that the audit trail page and a
// tenant's trail show each action's label with its code, and that the CSV
// export keeps the bare codes.
func TestAuditPagesShowLabels(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	env.tenantWithToken("labels-co")
	c := env.client()
	c.signIn("rita@gatehouse.example", env.addStaff("rita@gatehouse.example", forms.RoleReviewer))
	if res := c.post("/staff/tenants/labels-co/drop-locations", url.Values{"name": {"Lobby"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("add drop location: status %d", res.Status)
	}

	pages := []struct{ path, want string }{
		{"/staff/audit", `<span class="action-label">Staff member signed in</span> <code class="action-code">staff.signin</code>`},
		{"/staff/audit", `<span class="action-label">Drop location added</span> <code class="action-code">tenant.drop_location_add</code>`},
		{"/staff/audit", `<option value="mail.retry">Mail delivery retried</option>`},
		{"/staff/tenants/labels-co", `<span class="action-label">Drop location added</span> <code class="action-code">tenant.drop_location_add</code>`},
	}
	for _, p := range pages {
		res := c.get(p.path)
		if res.Status != http.StatusOK {
			t.Fatalf("%s: status %d", p.path, res.Status)
		}
		if !strings.Contains(res.Body, p.want) {
			t.Errorf("%s lacks %s", p.path, p.want)
		}
	}

	res := c.get("/staff/audit.csv")
	rows, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("audit CSV: %d rows, %v", len(rows), err)
	}
	var actions []string
	for _, row := range rows[1:] {
		actions = append(actions, row[3])
	}
	sort.Strings(actions)
	if diff := cmp.Diff([]string{"staff.invite", "staff.password_set", "staff.signin", "tenant.drop_location_add"}, actions); diff != "" {
		t.Errorf("CSV action column (-want +got):\n%s", diff)
	}
}

func TestAuditEventLabel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event tenants.AuditEvent
		want  string
	}{
		{"labeled action", tenants.AuditEvent{Action: "request.approve"}, "Request approved"},
		{"passed connection test", tenants.AuditEvent{Action: "request.test_connection", Detail: map[string]any{"ok": true}}, "Connection test succeeded"},
		{"failed connection test", tenants.AuditEvent{Action: "request.test_connection", Detail: map[string]any{"ok": false}}, "Connection test failed"},
		{"connection test without outcome", tenants.AuditEvent{Action: "request.test_connection"}, "Connection tested"},
		{"unknown action", tenants.AuditEvent{Action: "legacy.thing"}, "legacy.thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auditEventLabel(tt.event); got != tt.want {
				t.Errorf("auditEventLabel(%s) = %q, want %q", tt.event.Action, got, tt.want)
			}
		})
	}
}

// sourceScan holds what writtenAuditActions learns about the module's
// functions before it reads their calls.
type sourceScan struct {
	root string
	fset *token.FileSet
	// actionParams maps a function name to the positions of its parameters
	// named action.
	actionParams map[string][]int
	// returnedStrings maps a function name to the string literals it
	// returns, such as forms.decisionVerb's verbs.
	returnedStrings map[string][]string
	found           map[string][]string // code to the places that write it
}

// writtenAuditActions returns the action codes that the non-test Go files
// under root write, each with the places that write it. It finds a code
// in an AuditEvent literal's Action field, in an argument for a parameter
// named action, and in a value assigned to a variable named action. There
// a code may be a string literal, a map literal indexed, or a literal
// joined with the strings a function returns. Functions are matched by
// name alone, which is enough for this module.
func writtenAuditActions(t *testing.T, root string) map[string][]string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s: %v", root, err)
	}
	scan := &sourceScan{
		root: root, fset: token.NewFileSet(),
		actionParams: map[string][]int{}, returnedStrings: map[string][]string{}, found: map[string][]string{},
	}
	files := parseModule(t, scan.fset, root)
	for _, f := range files {
		scan.learnFunctions(f)
	}
	for _, f := range files {
		ast.Inspect(f, scan.visit)
	}
	return scan.found
}

// parseModule parses every non-test Go file under root, leaving out
// hidden folders (such as the development database's) and testdata.
func parseModule(t *testing.T, fset *token.FileSet, root string) []*ast.File {
	t.Helper()
	var files []*ast.File
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatalf("parse the module's source: %v", err)
	}
	return files
}

// learnFunctions records each function's action parameters and the string
// literals it returns.
func (s *sourceScan) learnFunctions(f *ast.File) {
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		i := 0
		for _, field := range fn.Type.Params.List {
			for _, name := range field.Names {
				if name.Name == "action" {
					s.actionParams[fn.Name.Name] = append(s.actionParams[fn.Name.Name], i)
				}
				i++
			}
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			if ret, ok := n.(*ast.ReturnStmt); ok && len(ret.Results) == 1 {
				s.returnedStrings[fn.Name.Name] = append(s.returnedStrings[fn.Name.Name], s.stringValues(ret.Results[0])...)
			}
			return true
		})
	}
}

// visit records the action codes that one syntax node writes.
func (s *sourceScan) visit(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.CallExpr:
		for _, i := range s.actionParams[calleeName(n.Fun)] {
			if i < len(n.Args) {
				s.record(n.Args[i])
			}
		}
	case *ast.KeyValueExpr:
		if key, ok := n.Key.(*ast.Ident); ok && key.Name == "Action" {
			s.record(n.Value)
		}
	case *ast.AssignStmt:
		for i, lhs := range n.Lhs {
			if id, ok := lhs.(*ast.Ident); ok && id.Name == "action" && i < len(n.Rhs) {
				s.record(n.Rhs[i])
			}
		}
	}
	return true
}

func (s *sourceScan) record(e ast.Expr) {
	for _, code := range s.stringValues(e) {
		if actionCodePattern.MatchString(code) {
			pos := s.fset.Position(e.Pos())
			file, _ := filepath.Rel(s.root, pos.Filename)
			s.found[code] = append(s.found[code], filepath.ToSlash(file)+":"+strconv.Itoa(pos.Line))
		}
	}
}

// stringValues returns the string values that e can have, as far as literals
// show them: a string literal, a map or slice literal indexed, a call of
// a function that returns literals, and + of those.
func (s *sourceScan) stringValues(e ast.Expr) []string {
	switch e := e.(type) {
	case *ast.BasicLit:
		if v, err := strconv.Unquote(e.Value); err == nil && e.Kind == token.STRING {
			return []string{v}
		}
	case *ast.ParenExpr:
		return s.stringValues(e.X)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return nil
		}
		var out []string
		for _, left := range s.stringValues(e.X) {
			for _, right := range s.stringValues(e.Y) {
				out = append(out, left+right)
			}
		}
		return out
	case *ast.IndexExpr:
		if lit, ok := e.X.(*ast.CompositeLit); ok {
			var out []string
			for _, elt := range lit.Elts {
				if kv, ok := elt.(*ast.KeyValueExpr); ok {
					elt = kv.Value
				}
				out = append(out, s.stringValues(elt)...)
			}
			return out
		}
	case *ast.CallExpr:
		return s.returnedStrings[calleeName(e.Fun)]
	}
	return nil
}

// calleeName returns the name of the function a call expression calls:
// f for f(), and m for x.m().
func calleeName(fun ast.Expr) string {
	switch fun := fun.(type) {
	case *ast.Ident:
		return fun.Name
	case *ast.SelectorExpr:
		return fun.Sel.Name
	case *ast.IndexExpr: // a generic function with type arguments
		return calleeName(fun.X)
	}
	return ""
}
