package scim

import (
	"context"
	"errors"
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

var errGroupNameTaken = errorf(http.StatusConflict, uniqueness, "Another group of this tenant has this displayName.")

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, c *call) error {
	q, err := parseListQuery(groupType, r.URL.Query())
	if err != nil {
		return err
	}
	columns := tenants.GroupColumns
	if q.projection.wants("members") {
		columns += groupMembersColumn
	}
	var rows []groupRow
	total, err := s.list(r.Context(), c, listSpec{
		rt: groupType, columns: columns, from: "groups g", where: "g.tenant_id = $1", order: "g.created_at, g.id",
	}, q, &rows)
	if err != nil {
		return err
	}

	return writeList(w, groupType, q, total, rows, func(row groupRow) (any, error) {
		members, err := row.members()
		if err != nil {
			return nil, err
		}
		return s.groupFromStore(row.Group, members), nil
	})
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := resourceID(r)
	if err != nil {
		return err
	}
	proj, err := parseProjection(groupType, r.URL.Query())
	if err != nil {
		return err
	}
	row, err := s.loadGroup(r.Context(), c, id, proj.wants("members"))
	if err != nil {
		return err
	}
	if noneMatch(r, row.Version) {
		w.Header().Set("ETag", formatVersion(row.Version))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	members, err := row.members()
	if err != nil {
		return err
	}
	g := s.groupFromStore(row.Group, members)
	return writeResource(w, http.StatusOK, groupType, g.Meta, g, proj)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	var in group
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	proj, err := parseProjection(groupType, r.URL.Query())
	if err != nil {
		return err
	}

	var saved tenants.Group
	var members []tenants.GroupMember
	err = database.WithTx(r.Context(), s.db, func(tx *sqlx.Tx) error {
		store := s.store.WithTx(tx)
		var err error
		saved, err = store.CreateGroup(r.Context(), c.tenant.ID, in.DisplayName, in.externalID(), tenants.Condition{SCIMTokenID: c.tokenID})
		if err != nil {
			return err
		}
		if err := store.AddGroupMembers(r.Context(), c.tenant.ID, saved.ID, in.memberIDs()); err != nil {
			return err
		}
		members, err = s.membersFor(r.Context(), store, c, saved.ID, proj)
		return err
	})
	if errors.Is(err, database.ErrConflict) {
		return errGroupNameTaken
	}
	if err != nil {
		return err
	}
	g := s.groupFromStore(saved, members)
	return writeResource(w, http.StatusCreated, groupType, g.Meta, g, proj)
}

func (s *Server) membersFor(ctx context.Context, store *tenants.Store, c *call, groupID string, proj projection) ([]tenants.GroupMember, error) {
	if !proj.wants("members") {
		return nil, nil
	}
	return store.GroupMembers(ctx, c.tenant.ID, groupID)
}

func (s *Server) replaceGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := resourceID(r)
	if err != nil {
		return err
	}
	var in group
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	proj, err := parseProjection(groupType, r.URL.Query())
	if err != nil {
		return err
	}
	g, err := s.rewriteGroup(r, c, id, proj, func(*group) (*group, error) { return &in, nil })
	if err != nil {
		return err
	}
	return writeResource(w, http.StatusOK, groupType, g.Meta, g, proj)
}

func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := resourceID(r)
	if err != nil {
		return err
	}
	req, err := decodePatch(r)
	if err != nil {
		return err
	}
	proj, err := parseProjection(groupType, r.URL.Query())
	if err != nil {
		return err
	}
	g, err := s.rewriteGroup(r, c, id, proj, func(cur *group) (*group, error) {
		var next group
		if err := patchResource(groupType, cur, req.Operations, &next); err != nil {
			return nil, err
		}
		return &next, next.validate()
	})
	if err != nil {
		return err
	}
	// RFC 7644 section 3.5.2 allows 204 after a PATCH unless the request
	// asks for attributes, which spares sending a large group back.
	if r.URL.Query().Get("attributes") == "" {
		w.Header().Set("ETag", g.Meta.Version)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return writeResource(w, http.StatusOK, groupType, g.Meta, g, proj)
}

// rewriteGroup locks a group, builds its new state with next and saves the
// difference, all in one transaction.
func (s *Server) rewriteGroup(r *http.Request, c *call, id string, proj projection, next func(*group) (*group, error)) (*group, error) {
	ctx := r.Context()
	version, err := ifMatchVersion(r)
	if err != nil {
		return nil, err
	}
	var out *group
	err = database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		store := s.store.WithTx(tx)
		cur, err := store.LockGroup(ctx, c.tenant.ID, id, tenants.Condition{SCIMTokenID: c.tokenID, Version: version})
		if err != nil {
			return err
		}
		members, err := store.GroupMembers(ctx, c.tenant.ID, id)
		if err != nil {
			return err
		}
		before := s.groupFromStore(cur, members)
		after, err := next(s.groupFromStore(cur, members))
		if err != nil {
			return err
		}
		saved, err := s.saveGroup(ctx, store, c, cur, before, after)
		if err != nil {
			return err
		}
		if members, err = s.membersFor(ctx, store, c, id, proj); err != nil {
			return err
		}
		out = s.groupFromStore(saved, members)
		return nil
	})
	if errors.Is(err, database.ErrConflict) {
		return nil, errGroupNameTaken
	}
	return out, err
}

// saveGroup writes what changed between before and after.
func (s *Server) saveGroup(ctx context.Context, store *tenants.Store, c *call, cur tenants.Group, before, after *group) (tenants.Group, error) {
	added, removed := difference(after.memberIDs(), before.memberIDs()), difference(before.memberIDs(), after.memberIDs())
	if err := store.RemoveGroupMembers(ctx, c.tenant.ID, cur.ID, removed); err != nil {
		return tenants.Group{}, err
	}
	if err := store.AddGroupMembers(ctx, c.tenant.ID, cur.ID, added); err != nil {
		return tenants.Group{}, err
	}
	if len(added) == 0 && len(removed) == 0 && after.DisplayName == before.DisplayName && after.ExternalID == before.ExternalID {
		return cur, nil
	}
	return store.UpdateGroup(ctx, c.tenant.ID, cur.ID, after.DisplayName, after.externalID())
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := resourceID(r)
	if err != nil {
		return err
	}
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteGroup(r.Context(), c.tenant.ID, id, tenants.Condition{SCIMTokenID: c.tokenID, Version: version}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// difference returns the IDs in a that are not in b.
func difference(a, b []string) []string {
	inB := make(map[string]bool, len(b))
	for _, id := range b {
		inB[id] = true
	}
	var out []string
	for _, id := range a {
		if !inB[id] {
			out = append(out, id)
		}
	}
	return out
}
