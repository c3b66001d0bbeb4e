package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// setupLinkTTL is how long an autoprovisioned user's set-up link works.
const setupLinkTTL = 7 * 24 * time.Hour

var errUserNameTaken = errorf(http.StatusConflict, uniqueness,
	"userName is already in use by a user that this IdP manages. Look the user up by userName instead of creating them.")

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	q, err := parseListQuery(userType, r.URL.Query())
	if err != nil {
		return err
	}
	columns := tenants.UserColumns
	if q.projection.wants("groups") {
		columns += userGroupsColumn
	}
	var rows []userRow
	total, err := s.list(r.Context(), c, listSpec{
		rt: userType, columns: columns, from: "users u",
		where: "u.tenant_id = $1 AND u.deleted_at IS NULL", order: "u.created_at, u.id",
	}, q, &rows)
	if err != nil {
		return err
	}

	return writeList(w, userType, q, total, rows, func(row userRow) (any, error) {
		return s.userFromStore(row.User, row.Groups)
	})
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := resourceID(r)
	if err != nil {
		return err
	}
	proj, err := parseProjection(userType, r.URL.Query())
	if err != nil {
		return err
	}
	row, err := s.loadUser(r.Context(), c, id, proj.wants("groups"))
	if err != nil {
		return err
	}
	if noneMatch(r, row.Version) {
		w.Header().Set("ETag", formatVersion(row.Version))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return s.writeUser(w, http.StatusOK, row, proj)
}

func (s *Server) writeUser(w http.ResponseWriter, status int, row userRow, proj projection) error {
	u, err := s.userFromStore(row.User, row.Groups)
	if err != nil {
		return err
	}
	return writeResource(w, status, userType, u.Meta, u, proj)
}

// writeResource writes a resource with its ETag, and its Location after
// a create.
func writeResource(w http.ResponseWriter, status int, rt *resourceType, m *meta, v any, proj projection) error {
	body, err := proj.apply(rt, v)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", m.Version)
	if status == http.StatusCreated {
		w.Header().Set("Location", m.Location)
	}
	writeJSON(w, status, body)
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *call) error {
	var in user
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	active := in.Active == nil || bool(*in.Active)
	f, err := in.fields(active)
	if err != nil {
		return err
	}
	if f.PasswordHash, err = s.hashPassword(r.Context(), in.Password); err != nil {
		return err
	}

	su, created, err := s.createOrLink(r.Context(), c, f)
	if errors.Is(err, tenants.ErrSettingsChanged) {
		if err = s.reloadTenant(r.Context(), c); err == nil {
			su, created, err = s.createOrLink(r.Context(), c, f)
		}
	}
	if errors.Is(err, database.ErrConflict) {
		return errUserNameTaken
	}
	if err != nil {
		return err
	}

	row := userRow{User: su}
	if !created {
		groups, err := s.store.UserGroups(r.Context(), c.tenant.ID, su.ID)
		if err != nil {
			return err
		}
		row.Groups = groups
	}
	proj, err := parseProjection(userType, r.URL.Query())
	if err != nil {
		return err
	}
	return s.writeUser(w, http.StatusCreated, row, proj)
}

// createOrLink creates or links the user in one statement, or, when the
// tenant autoprovisions, in a transaction that also stores a set-up link
// and queues the set-up email.
func (s *Server) createOrLink(ctx context.Context, c *call, f tenants.UserFields) (tenants.User, bool, error) {
	autoprovision := c.tenant.Autoprovision
	cond := tenants.Condition{SCIMTokenID: c.tokenID, Autoprovision: &autoprovision}
	if !autoprovision {
		return s.store.CreateOrLinkUser(ctx, c.tenant.ID, f, cond)
	}

	var su tenants.User
	var created bool
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		store := s.store.WithTx(tx)
		if su, created, err = store.CreateOrLinkUser(ctx, c.tenant.ID, f, cond); err != nil || !created {
			return err
		}
		return s.sendSetupMail(ctx, tx, store, c, su)
	})
	return su, created, err
}

// sendSetupMail stores a one-time set-up link for a new user and queues
// the email with it, in the transaction that created the user.
func (s *Server) sendSetupMail(ctx context.Context, tx *sqlx.Tx, store *tenants.Store, c *call, su tenants.User) error {
	tenant, err := store.ByID(ctx, c.tenant.ID)
	if err != nil {
		return err
	}
	to := su.Email
	if to == "" && strings.Contains(su.UserName, "@") {
		to = su.UserName
	}
	fullName := strings.TrimSpace(su.GivenName + " " + su.FamilyName)
	if su.DisplayName != "" {
		fullName = su.DisplayName
	}

	secret := secrets.NewLinkSecret()
	link := s.baseURL + "/account/setup/" + secret.Reveal()
	msg, err := mail.UserSetup(to, fullName, tenant.Name, link, tenant.RequireSSO)
	if err != nil {
		// NOTE: a user without a usable email address gets no set-up mail;
		// staff can send them a link later.
		s.log.WarnContext(ctx, "scim_setup_mail_skipped", "tenant", tenant.Slug, "user_id", su.ID, "error", err)
		return nil
	}
	if err := store.CreatePasswordLink(ctx, su.ID, secret.Hash(), s.now().Add(setupLinkTTL)); err != nil {
		return err
	}
	if _, err := mail.Enqueue(ctx, tx, msg); err != nil {
		return fmt.Errorf("queue set-up mail: %w", database.Translate(err))
	}
	return nil
}

// reloadTenant reads the caller's tenant again after its settings changed.
func (s *Server) reloadTenant(ctx context.Context, c *call) error {
	tenant, err := s.store.ByID(ctx, c.tenant.ID)
	if err != nil {
		return err
	}
	c.tenant = tenant
	s.tokens.put(c.hash, cachedToken{tokenID: c.tokenID, tenant: tenant, loadedAt: s.now()})
	return nil
}

// hashPassword hashes a password sent by the IdP; "" means none was sent.
// At most cap(s.hashing) hashes run at once, since each takes 64 MiB.
func (s *Server) hashPassword(ctx context.Context, password string) (*string, error) {
	if password == "" {
		return nil, nil
	}
	select {
	case s.hashing <- struct{}{}:
		defer func() { <-s.hashing }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	hash, err := secrets.HashPassword(secrets.Password(password))
	if errors.Is(err, secrets.ErrWeakPassword) {
		// NOTE: IdPs send passwords under their own policy (Okta's
		// documented example has 8 characters). Rejecting them would stop
		// provisioning, so a password shorter than the sign-in minimum is
		// accepted and not stored; the user sets one from the set-up link.
		s.log.InfoContext(ctx, "scim_password_not_stored", "reason", "shorter than the minimum length")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return &hash, nil
}

func (s *Server) replaceUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := resourceID(r)
	if err != nil {
		return err
	}
	var in user
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	saved, err := s.rewriteUser(r, c, id, func(userRow) (*user, error) { return &in, nil })
	if err != nil {
		return err
	}
	proj, err := parseProjection(userType, r.URL.Query())
	if err != nil {
		return err
	}
	return s.writeUser(w, http.StatusOK, saved, proj)
}

// rewriteUser reads a user, builds the new resource with next and saves
// it if the user has not changed since the read. When another write came
// in between, it reads and saves the user again under a row lock, so the
// request cannot lose a second time. An If-Match header that does not
// match the stored version is 412. An absent active keeps the stored
// value; a password in the new resource is hashed and replaces the stored
// one.
func (s *Server) rewriteUser(r *http.Request, c *call, id string, next func(userRow) (*user, error)) (userRow, error) {
	ctx := r.Context()
	rw := &userRewrite{s: s, r: r, c: c, id: id, next: next}
	cur, err := s.loadUser(ctx, c, id, true)
	if err != nil {
		return userRow{}, err
	}
	saved, err := rw.save(ctx, s.store, cur)
	if !errors.Is(err, tenants.ErrStale) || r.Header.Get("If-Match") != "" {
		return saved, err
	}

	err = database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		store := s.store.WithTx(tx)
		u, groups, err := store.LockUser(ctx, c.tenant.ID, id, tenants.Condition{SCIMTokenID: c.tokenID})
		if err != nil {
			return err
		}
		saved, err = rw.save(ctx, store, userRow{User: u, Groups: groups})
		return err
	})
	return saved, err
}

// userRewrite is one PUT or PATCH of a user. It keeps the password hash
// between attempts, so a retried write does not hash the same password
// again.
type userRewrite struct {
	s    *Server
	r    *http.Request
	c    *call
	id   string
	next func(userRow) (*user, error)

	plaintext string
	password  *string
}

// save builds the new resource from cur and writes it with store, on the
// condition that the user still has cur's version.
func (rw *userRewrite) save(ctx context.Context, store *tenants.Store, cur userRow) (userRow, error) {
	if err := checkIfMatch(rw.r, cur.Version); err != nil {
		return userRow{}, err
	}
	u, err := rw.next(cur)
	if err != nil {
		return userRow{}, err
	}
	active := cur.Active
	if u.Active != nil {
		active = bool(*u.Active)
	}
	f, err := u.fields(active)
	if err != nil {
		return userRow{}, err
	}
	if u.Password != rw.plaintext {
		if rw.password, err = rw.s.hashPassword(ctx, u.Password); err != nil {
			return userRow{}, err
		}
		rw.plaintext = u.Password
	}
	f.PasswordHash = rw.password
	if rw.password == nil && unchanged(cur.User, f) {
		return cur, nil
	}

	saved, err := store.ReplaceUser(ctx, rw.c.tenant.ID, rw.id, f, tenants.Condition{SCIMTokenID: rw.c.tokenID, Version: cur.Version})
	if errors.Is(err, database.ErrConflict) {
		return userRow{}, errUserNameTaken
	}
	if err != nil {
		return userRow{}, err
	}
	return userRow{User: saved, Groups: cur.Groups}, nil
}

// unchanged reports whether saving f would change nothing of u.
func unchanged(u tenants.User, f tenants.UserFields) bool {
	if u.UserName != f.UserName || u.GivenName != f.GivenName || u.FamilyName != f.FamilyName ||
		u.DisplayName != f.DisplayName || u.Email != f.Email || u.Active != f.Active || !u.SCIMManaged {
		return false
	}
	if (u.ExternalID == nil) != (f.ExternalID == nil) || u.ExternalID != nil && *u.ExternalID != *f.ExternalID {
		return false
	}
	var stored user
	if json.Unmarshal(u.Attributes, &stored) != nil {
		return false
	}
	canonical, err := json.Marshal(stored)
	return err == nil && string(canonical) == string(f.Attributes)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := resourceID(r)
	if err != nil {
		return err
	}
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteUser(r.Context(), c.tenant.ID, id, tenants.Condition{SCIMTokenID: c.tokenID, Version: version}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resourceID returns the {id} path value; an ID that is not a UUID names
// no resource.
func resourceID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !uuidPattern.MatchString(id) {
		return "", errorf(http.StatusNotFound, "", "Resource not found.")
	}
	return strings.ToLower(id), nil
}

// ifMatchVersion returns the version an If-Match header names, or 0 when
// the header is absent or "*". A header that names no version of ours
// cannot match: 412.
func ifMatchVersion(r *http.Request) (int, error) {
	raw := strings.TrimSpace(r.Header.Get("If-Match"))
	if raw == "" || raw == "*" {
		return 0, nil
	}
	tag := strings.Trim(strings.TrimPrefix(raw, "W/"), `"`)
	v, err := strconv.Atoi(tag)
	if err != nil || v <= 0 {
		return 0, errorf(http.StatusPreconditionFailed, "", "If-Match does not match the resource's version.")
	}
	return v, nil
}

func checkIfMatch(r *http.Request, version int) error {
	want, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	if want != 0 && want != version {
		return errorf(http.StatusPreconditionFailed, "", "If-Match does not match the resource's version, %s.", formatVersion(version))
	}
	return nil
}

// noneMatch reports whether If-None-Match names the current version.
func noneMatch(r *http.Request, version int) bool {
	tag := formatVersion(version)
	for _, t := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == tag || "W/"+t == tag {
			return true
		}
	}
	return false
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := resourceID(r)
	if err != nil {
		return err
	}
	req, err := decodePatch(r)
	if err != nil {
		return err
	}
	proj, err := parseProjection(userType, r.URL.Query())
	if err != nil {
		return err
	}
	if active, ok := activeOnly(req.Operations); ok {
		if done, err := s.setActive(w, r, c, id, active, proj); done || err != nil {
			return err
		}
	}

	saved, err := s.rewriteUser(r, c, id, func(cur userRow) (*user, error) {
		res, err := s.userFromStore(cur.User, nil)
		if err != nil {
			return nil, err
		}
		var next user
		if err := patchResource(userType, res, req.Operations, &next); err != nil {
			return nil, err
		}
		return &next, next.validate()
	})
	if err != nil {
		return err
	}
	return s.writeUser(w, http.StatusOK, saved, proj)
}

// setActive serves a PATCH that only sets active, such as an IdP's
// deactivation, with one statement instead of a read and a write. It
// returns false and no error when the request needs the read-modify-write
// path instead: SCIM does not manage the user yet, or If-Match names
// another version, where that path returns 412 with the current one.
func (s *Server) setActive(w http.ResponseWriter, r *http.Request, c *call, id string, active bool, proj projection) (bool, error) {
	version, err := ifMatchVersion(r)
	if err != nil {
		return false, err
	}
	su, groups, err := s.store.SetUserActive(r.Context(), c.tenant.ID, id, active, tenants.Condition{SCIMTokenID: c.tokenID, Version: version})
	switch {
	case errors.Is(err, tenants.ErrUserNotManaged), errors.Is(err, tenants.ErrStale):
		return false, nil
	case err != nil:
		return false, err
	}
	u, err := s.userFromStore(su, groups)
	if err != nil {
		return false, err
	}
	return true, writeResource(w, http.StatusOK, userType, u.Meta, u, proj)
}

// patchResource applies ops to a copy of res and decodes the result into out.
func patchResource(rt *resourceType, res any, ops []patchOperation, out any) error {
	raw, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode %s: %w", rt.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("decode %s: %w", rt.Name, err)
	}
	if err := applyPatch(rt, doc, ops); err != nil {
		return err
	}
	if raw, err = json.Marshal(doc); err != nil {
		return fmt.Errorf("encode patched %s: %w", rt.Name, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		var se *scimError
		if errors.As(err, &se) {
			return se
		}
		return badValue("The patched resource is not valid: %s.", err.Error())
	}
	return nil
}
