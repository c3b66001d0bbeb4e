package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// flexBool is a boolean that also accepts the strings "true" and "false"
// in any case, which Microsoft Entra ID sends for active and primary.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.ToLower(strings.Trim(string(data), `"`))
	switch s {
	case "true":
		*b = true
	case "false":
		*b = false
	case "null":
	default:
		return errorf(http.StatusBadRequest, invalidValue, "A boolean attribute has a value other than true or false.")
	}
	return nil
}

type name struct {
	Formatted       string `json:"formatted,omitempty"`
	FamilyName      string `json:"familyName,omitempty"`
	GivenName       string `json:"givenName,omitempty"`
	MiddleName      string `json:"middleName,omitempty"`
	HonorificPrefix string `json:"honorificPrefix,omitempty"`
	HonorificSuffix string `json:"honorificSuffix,omitempty"`
}

// multiValue is one value of emails, phoneNumbers and the other plain
// multi-valued attributes, and of a user's groups.
type multiValue struct {
	Value   string   `json:"value,omitempty"`
	Ref     string   `json:"$ref,omitempty"`
	Display string   `json:"display,omitempty"`
	Type    string   `json:"type,omitempty"`
	Primary flexBool `json:"primary,omitempty"`
}

type address struct {
	Formatted     string   `json:"formatted,omitempty"`
	StreetAddress string   `json:"streetAddress,omitempty"`
	Locality      string   `json:"locality,omitempty"`
	Region        string   `json:"region,omitempty"`
	PostalCode    string   `json:"postalCode,omitempty"`
	Country       string   `json:"country,omitempty"`
	Type          string   `json:"type,omitempty"`
	Primary       flexBool `json:"primary,omitempty"`
}

type manager struct {
	Value       string `json:"value,omitempty"`
	Ref         string `json:"$ref,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// UnmarshalJSON accepts the manager's id alone, as Entra ID sends it, as
// well as the complex value.
func (m *manager) UnmarshalJSON(data []byte) error {
	var id string
	if json.Unmarshal(data, &id) == nil {
		*m = manager{Value: id}
		return nil
	}
	type plain manager
	return json.Unmarshal(data, (*plain)(m))
}

type enterpriseUser struct {
	EmployeeNumber string   `json:"employeeNumber,omitempty"`
	CostCenter     string   `json:"costCenter,omitempty"`
	Organization   string   `json:"organization,omitempty"`
	Division       string   `json:"division,omitempty"`
	Department     string   `json:"department,omitempty"`
	Manager        *manager `json:"manager,omitempty"`
}

type meta struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Location     string `json:"location"`
	Version      string `json:"version"`
}

// user is a User resource as SCIM sends and receives it.
type user struct {
	Schemas           []string        `json:"schemas"`
	ID                string          `json:"id,omitempty"`
	ExternalID        string          `json:"externalId,omitempty"`
	UserName          string          `json:"userName"`
	Name              *name           `json:"name,omitempty"`
	DisplayName       string          `json:"displayName,omitempty"`
	NickName          string          `json:"nickName,omitempty"`
	ProfileURL        string          `json:"profileUrl,omitempty"`
	Title             string          `json:"title,omitempty"`
	UserType          string          `json:"userType,omitempty"`
	PreferredLanguage string          `json:"preferredLanguage,omitempty"`
	Locale            string          `json:"locale,omitempty"`
	Timezone          string          `json:"timezone,omitempty"`
	Active            *flexBool       `json:"active,omitempty"`
	Password          string          `json:"password,omitempty"`
	Emails            []multiValue    `json:"emails,omitempty"`
	PhoneNumbers      []multiValue    `json:"phoneNumbers,omitempty"`
	Ims               []multiValue    `json:"ims,omitempty"`
	Photos            []multiValue    `json:"photos,omitempty"`
	Addresses         []address       `json:"addresses,omitempty"`
	Groups            []multiValue    `json:"groups,omitempty"`
	Entitlements      []multiValue    `json:"entitlements,omitempty"`
	Roles             []multiValue    `json:"roles,omitempty"`
	X509Certificates  []multiValue    `json:"x509Certificates,omitempty"`
	Enterprise        *enterpriseUser `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta              *meta           `json:"meta,omitempty"`
}

// maxUserNameLength bounds userName, which is also the sign-in name.
const maxUserNameLength = 256

// maxUserValues bounds each multi-valued attribute of a user, and with it
// the work of every later PATCH that filters the attribute's values.
const maxUserValues = 1000

// maxIndexedValueLength bounds externalId and each email address, in
// characters. PostgreSQL indexes both, and an index entry holds at most
// 2704 bytes: 512 characters of up to 4 bytes each fit with room to spare.
const maxIndexedValueLength = 512

func (u *user) validate() error {
	u.UserName = strings.TrimSpace(u.UserName)
	if u.UserName == "" {
		return errorf(http.StatusBadRequest, invalidValue, "userName is required.")
	}
	if len([]rune(u.UserName)) > maxUserNameLength {
		return errorf(http.StatusBadRequest, invalidValue, "userName is longer than %d characters.", maxUserNameLength)
	}
	for _, a := range []struct {
		name  string
		count int
	}{
		{"emails", len(u.Emails)}, {"phoneNumbers", len(u.PhoneNumbers)}, {"ims", len(u.Ims)},
		{"photos", len(u.Photos)}, {"addresses", len(u.Addresses)}, {"entitlements", len(u.Entitlements)},
		{"roles", len(u.Roles)}, {"x509Certificates", len(u.X509Certificates)},
	} {
		if a.count > maxUserValues {
			return errorf(http.StatusBadRequest, invalidValue, "%s has %d values; a user may have at most %d.", a.name, a.count, maxUserValues)
		}
	}
	return u.validateIndexed()
}

// validateIndexed checks the lengths of the values PostgreSQL indexes.
func (u *user) validateIndexed() error {
	if utf8.RuneCountInString(u.ExternalID) > maxIndexedValueLength {
		return errorf(http.StatusBadRequest, invalidValue, "externalId is longer than %d characters.", maxIndexedValueLength)
	}
	for _, e := range u.Emails {
		if utf8.RuneCountInString(e.Value) > maxIndexedValueLength {
			return errorf(http.StatusBadRequest, invalidValue, "An email address is longer than %d characters.", maxIndexedValueLength)
		}
	}
	return nil
}

// primaryEmail returns the address marked primary, else the first work
// address, else the first address.
func (u *user) primaryEmail() string {
	for _, e := range u.Emails {
		if e.Primary {
			return e.Value
		}
	}
	for _, e := range u.Emails {
		if strings.EqualFold(e.Type, "work") {
			return e.Value
		}
	}
	if len(u.Emails) > 0 {
		return u.Emails[0].Value
	}
	return ""
}

// fields returns what the store saves of u: the attributes with a column
// of their own, and every other one as JSON. The password is not among
// them; the caller hashes it.
func (u *user) fields(active bool) (tenants.UserFields, error) {
	f := tenants.UserFields{UserName: u.UserName, DisplayName: u.DisplayName, Email: u.primaryEmail(), Active: active}
	if u.ExternalID != "" {
		f.ExternalID = &u.ExternalID
	}
	rest := *u
	rest.Schemas, rest.ID, rest.ExternalID, rest.UserName, rest.DisplayName = nil, "", "", "", ""
	rest.Active, rest.Password, rest.Groups, rest.Meta = nil, "", nil, nil
	if u.Name != nil {
		f.GivenName, f.FamilyName = u.Name.GivenName, u.Name.FamilyName
		n := *u.Name
		n.GivenName, n.FamilyName = "", ""
		rest.Name = &n
		if n == (name{}) {
			rest.Name = nil
		}
	}
	if rest.Enterprise != nil && *rest.Enterprise == (enterpriseUser{}) {
		rest.Enterprise = nil
	}
	attrs, err := json.Marshal(rest)
	if err != nil {
		return tenants.UserFields{}, fmt.Errorf("encode user attributes: %w", err)
	}
	f.Attributes = attrs
	return f, nil
}

// timeFormat is the dateTime format of responses: UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatVersion(v int) string { return `W/"` + strconv.Itoa(v) + `"` }

// userFromStore builds the resource from a stored user and their groups.
func (s *Server) userFromStore(su tenants.User, groups []tenants.GroupRef) (*user, error) {
	u := &user{}
	if len(su.Attributes) > 0 {
		if err := json.Unmarshal(su.Attributes, u); err != nil {
			return nil, fmt.Errorf("decode attributes of user %s: %w", su.ID, err)
		}
	}
	u.Schemas = []string{userSchema}
	u.ID, u.UserName, u.DisplayName = su.ID, su.UserName, su.DisplayName
	if su.ExternalID != nil {
		u.ExternalID = *su.ExternalID
	}
	if su.GivenName != "" || su.FamilyName != "" {
		if u.Name == nil {
			u.Name = &name{}
		}
		u.Name.GivenName, u.Name.FamilyName = su.GivenName, su.FamilyName
	}
	active := flexBool(su.Active)
	u.Active = &active
	if len(u.Emails) == 0 && su.Email != "" {
		u.Emails = []multiValue{{Value: su.Email, Primary: true}}
	}
	for _, g := range groups {
		u.Groups = append(u.Groups, multiValue{Value: g.GroupID, Display: g.DisplayName, Ref: s.location(groupType, g.GroupID), Type: "direct"})
	}
	if u.Enterprise != nil {
		u.Schemas = append(u.Schemas, enterpriseSchema)
	}
	u.Meta = s.meta(userType, su.ID, su.CreatedAt, su.UpdatedAt, su.Version)
	return u, nil
}

func (s *Server) meta(rt *resourceType, id string, created, modified time.Time, version int) *meta {
	return &meta{
		ResourceType: rt.Name, Created: created.UTC().Format(timeFormat), LastModified: modified.UTC().Format(timeFormat),
		Location: s.location(rt, id), Version: formatVersion(version),
	}
}

func (s *Server) location(rt *resourceType, id string) string {
	return s.baseURL + prefix + rt.Endpoint + "/" + id
}

// member is one member of a group.
type member struct {
	Value   string `json:"value"`
	Ref     string `json:"$ref,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

// group is a Group resource as SCIM sends and receives it.
type group struct {
	Schemas     []string `json:"schemas"`
	ID          string   `json:"id,omitempty"`
	ExternalID  string   `json:"externalId,omitempty"`
	DisplayName string   `json:"displayName"`
	Members     []member `json:"members"`
	Meta        *meta    `json:"meta,omitempty"`
}

const maxDisplayNameLength = 256

func (g *group) validate() error {
	g.DisplayName = strings.TrimSpace(g.DisplayName)
	if g.DisplayName == "" {
		return errorf(http.StatusBadRequest, invalidValue, "displayName is required.")
	}
	if len([]rune(g.DisplayName)) > maxDisplayNameLength {
		return errorf(http.StatusBadRequest, invalidValue, "displayName is longer than %d characters.", maxDisplayNameLength)
	}
	for _, m := range g.Members {
		if m.Type != "" && !strings.EqualFold(m.Type, "User") {
			return errorf(http.StatusBadRequest, invalidValue, "Only users can be group members, not %q.", m.Type)
		}
		if !uuidPattern.MatchString(m.Value) {
			return errorf(http.StatusBadRequest, invalidValue, "A member value must be the id of a user of this tenant.")
		}
	}
	return nil
}

// memberIDs returns the members' user IDs, lowercased and without repeats.
func (g *group) memberIDs() []string {
	seen := make(map[string]bool, len(g.Members))
	var out []string
	for _, m := range g.Members {
		id := strings.ToLower(m.Value)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (g *group) externalID() *string {
	if g.ExternalID == "" {
		return nil
	}
	return &g.ExternalID
}

func (s *Server) groupFromStore(sg tenants.Group, members []tenants.GroupMember) *group {
	g := &group{Schemas: []string{groupSchema}, ID: sg.ID, DisplayName: sg.DisplayName, Members: []member{}}
	if sg.ExternalID != nil {
		g.ExternalID = *sg.ExternalID
	}
	for _, m := range members {
		display := m.DisplayName
		if display == "" {
			display = m.UserName
		}
		g.Members = append(g.Members, member{Value: m.UserID, Ref: s.location(userType, m.UserID), Display: display, Type: "User"})
	}
	g.Meta = s.meta(groupType, sg.ID, sg.CreatedAt, sg.UpdatedAt, sg.Version)
	return g
}
