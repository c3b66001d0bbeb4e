package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// SCIM's reads. Each is one statement that also checks the request's
// token (parameters $1 tenant, $2 token), so a revoked token reads nothing.

// tokenActiveSQL is the token check of SCIM's reads.
var tokenActiveSQL = tenants.SCIMTokenActiveSQL(2, 1)

// userGroupsColumn selects a user's groups, for the groups attribute.
var userGroupsColumn = `, ` + tenants.UserGroupsSQL("u") + ` AS groups`

// groupMembersColumn selects a group's members that are not deleted as JSON.
const groupMembersColumn = `, (SELECT coalesce(json_agg(json_build_object('UserID', mu.id, 'UserName', mu.user_name,
	'DisplayName', mu.display_name) ORDER BY lower(mu.user_name), mu.id), '[]')
	FROM group_members gm JOIN users mu ON mu.id = gm.user_id AND mu.tenant_id = gm.tenant_id
	WHERE gm.tenant_id = g.tenant_id AND gm.group_id = g.id AND mu.deleted_at IS NULL) AS members`

type userRow struct {
	tenants.User
	Groups tenants.GroupRefs `db:"groups"`
	Total  int               `db:"total"`
}

type groupRow struct {
	tenants.Group
	Members []byte `db:"members"`
	Total   int    `db:"total"`
}

func (r groupRow) members() ([]tenants.GroupMember, error) {
	if len(r.Members) == 0 {
		return nil, nil
	}
	var out []tenants.GroupMember
	if err := json.Unmarshal(r.Members, &out); err != nil {
		return nil, fmt.Errorf("decode members of group %s: %w", r.ID, err)
	}
	return out, nil
}

// loadUserSQL reads a user ($3) without and with their groups, built once
// because GET and PATCH run them on every request.
var loadUserSQL = [2]string{
	`SELECT ` + tenants.UserColumns + ` FROM users u
		WHERE u.tenant_id = $1 AND u.id = $3 AND u.deleted_at IS NULL AND ` + tokenActiveSQL,
	`SELECT ` + tenants.UserColumns + userGroupsColumn + ` FROM users u
		WHERE u.tenant_id = $1 AND u.id = $3 AND u.deleted_at IS NULL AND ` + tokenActiveSQL,
}

// loadUser reads one user that is not deleted, with their groups when
// withGroups is set.
func (s *Server) loadUser(ctx context.Context, c *call, id string, withGroups bool) (userRow, error) {
	query := loadUserSQL[0]
	if withGroups {
		query = loadUserSQL[1]
	}
	var row userRow
	err := s.get(ctx, &row, query, c.tenant.ID, c.tokenID, id)
	if database.IsNotFound(database.Translate(err)) {
		return userRow{}, s.notFoundOrUnauthorized(ctx, c)
	}
	if err != nil {
		return userRow{}, fmt.Errorf("get user: %w", database.Translate(err))
	}
	return row, nil
}

// loadGroup reads one group, with its members when withMembers is set.
func (s *Server) loadGroup(ctx context.Context, c *call, id string, withMembers bool) (groupRow, error) {
	extra := ""
	if withMembers {
		extra = groupMembersColumn
	}
	var row groupRow
	err := s.get(ctx, &row, `SELECT `+tenants.GroupColumns+extra+` FROM groups g
		WHERE g.tenant_id = $1 AND g.id = $3 AND `+tokenActiveSQL,
		c.tenant.ID, c.tokenID, id)
	if database.IsNotFound(database.Translate(err)) {
		return groupRow{}, s.notFoundOrUnauthorized(ctx, c)
	}
	if err != nil {
		return groupRow{}, fmt.Errorf("get group: %w", database.Translate(err))
	}
	return row, nil
}

// listSpec describes a list query on one resource table.
type listSpec struct {
	rt      *resourceType
	columns string // selected columns, extra columns included
	from    string // table and alias
	where   string // the base condition, without the token check
	order   string
}

// list runs a paged, filtered query into dest (a pointer to a slice of
// rows with a Total field) and returns totalResults. The filter's SQL
// comes from sqlBuilder, so every value is a parameter.
func (s *Server) list(ctx context.Context, c *call, spec listSpec, q listQuery, dest any) (int, error) {
	b := &sqlBuilder{rt: spec.rt, args: []any{c.tenant.ID, c.tokenID}}
	where := spec.where
	if q.filter != nil {
		cond, err := b.where(q.filter)
		if err != nil {
			return 0, err
		}
		where += " AND " + cond
	}
	guarded := where + " AND " + tokenActiveSQL

	switch {
	case q.count > 0 && matchesAtMostOne(spec.rt, q.filter):
		// A unique index lets the filter match one row at most, so the
		// query needs no count, order or page. Okta and Entra ID send
		// such a filter, userName eq "...", to look for a user before
		// they create one.
		query := `SELECT ` + spec.columns + ` FROM ` + spec.from + ` WHERE ` + guarded
		if err := s.selectRows(ctx, dest, query, b.args...); err != nil {
			return 0, fmt.Errorf("list %s: %w", spec.rt.Name, database.Translate(err))
		}
		if total := keepPage(dest, q.startIndex, q.count); total > 0 {
			return total, nil
		}
	case q.count > 0:
		limit, offset := b.param(q.count), b.param(q.startIndex-1)
		query := `SELECT ` + spec.columns + `, count(*) OVER () AS total FROM ` + spec.from +
			` WHERE ` + guarded + ` ORDER BY ` + spec.order + ` LIMIT ` + limit + ` OFFSET ` + offset
		if err := s.selectRows(ctx, dest, query, b.args...); err != nil {
			return 0, fmt.Errorf("list %s: %w", spec.rt.Name, database.Translate(err))
		}
		if total := firstTotal(dest); total > 0 {
			return total, nil
		}
		b.args = b.args[:len(b.args)-2]
	}
	return s.countMatches(ctx, spec, where, b.args)
}

// countMatches returns the number of resources that match where, after a
// page came back empty: the token may be revoked, the filter may match
// nothing, or startIndex may be past the end.
func (s *Server) countMatches(ctx context.Context, spec listSpec, where string, args []any) (int, error) {
	var check struct {
		TokenOK bool `db:"token_ok"`
		Total   int  `db:"total"`
	}
	query := `SELECT ` + tokenActiveSQL + ` AS token_ok, (SELECT count(*) FROM ` + spec.from +
		` WHERE ` + where + `) AS total`
	if err := s.get(ctx, &check, query, args...); err != nil {
		return 0, fmt.Errorf("count %s: %w", spec.rt.Name, database.Translate(err))
	}
	if !check.TokenOK {
		return 0, errUnauthorized
	}
	return check.Total, nil
}

// matchesAtMostOne reports whether filter compares a unique attribute
// (userName, a group's displayName, id) for equality with a string. The
// database's unique indexes on those columns, under the same case rule,
// let such a filter match one resource at most.
func matchesAtMostOne(rt *resourceType, filter expression) bool {
	c, ok := filter.(*compareExpr)
	if !ok || c.op != "eq" || c.path.sub != "" {
		return false
	}
	if _, ok := c.value.(string); !ok {
		return false
	}
	a, ext := rt.lookup(c.path.uri, c.path.name)
	return a != nil && ext == nil && !a.MultiValued && a.Uniqueness == "server"
}

// keepPage cuts the rows in dest to the page that startIndex and count
// select, and returns how many rows there were.
func keepPage(dest any, startIndex, count int) int {
	page := func(n int) (int, int) {
		from := min(startIndex-1, n)
		return from, from + min(count, n-from)
	}
	switch rows := dest.(type) {
	case *[]userRow:
		n := len(*rows)
		from, to := page(n)
		*rows = (*rows)[from:to]
		return n
	case *[]groupRow:
		n := len(*rows)
		from, to := page(n)
		*rows = (*rows)[from:to]
		return n
	}
	return 0
}

func firstTotal(dest any) int {
	switch rows := dest.(type) {
	case *[]userRow:
		if len(*rows) > 0 {
			return (*rows)[0].Total
		}
	case *[]groupRow:
		if len(*rows) > 0 {
			return (*rows)[0].Total
		}
	}
	return 0
}

// listResponse is the ListResponse of RFC 7644 section 3.4.2.
type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []any    `json:"Resources"`
}

// writeList writes a page of rows as a list response, each row turned
// into its resource by resource and reduced to the requested attributes.
func writeList[R any](w http.ResponseWriter, rt *resourceType, q listQuery, total int, rows []R, resource func(R) (any, error)) error {
	resp := listResponse{Schemas: []string{listSchema}, TotalResults: total, StartIndex: q.startIndex, Resources: []any{}}
	for _, row := range rows {
		v, err := resource(row)
		if err != nil {
			return err
		}
		projected, err := q.projection.apply(rt, v)
		if err != nil {
			return err
		}
		resp.Resources = append(resp.Resources, projected)
	}
	resp.ItemsPerPage = len(resp.Resources)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// maxPreparedStatements bounds the server's prepared statements; filters
// of new shapes beyond it run unprepared.
const maxPreparedStatements = 256

// stmtCache holds prepared statements by query text. PostgreSQL spends
// longer planning these reads than running them. Every request looks a
// statement up, so lookups take only the read lock.
type stmtCache struct {
	mu    sync.RWMutex
	stmts map[string]*sqlx.Stmt
}

// get returns a prepared statement for query, or nil when the cache is
// full or preparing failed; the caller then runs the query unprepared.
func (c *stmtCache) get(ctx context.Context, db *sqlx.DB, query string) *sqlx.Stmt {
	c.mu.RLock()
	stmt, ok := c.stmts[query]
	full := len(c.stmts) >= maxPreparedStatements
	c.mu.RUnlock()
	if ok || full {
		return stmt
	}
	stmt, err := db.PreparexContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.stmts[query]; ok {
		stmt.Close()
		return have
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sqlx.Stmt)
	}
	c.stmts[query] = stmt
	return stmt
}

func (s *Server) get(ctx context.Context, dest any, query string, args ...any) error {
	if stmt := s.stmts.get(ctx, s.db, query); stmt != nil {
		return stmt.GetContext(ctx, dest, args...)
	}
	return s.db.GetContext(ctx, dest, query, args...)
}

func (s *Server) selectRows(ctx context.Context, dest any, query string, args ...any) error {
	if stmt := s.stmts.get(ctx, s.db, query); stmt != nil {
		return stmt.SelectContext(ctx, dest, args...)
	}
	return s.db.SelectContext(ctx, dest, query, args...)
}
