package postgresql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"matih.local/tools/standin-providers/internal/props"
)

// RoleType is postgresql_role.
const RoleType = "postgresql:index/role:Role"

// roleFields are the Role inputs the stand-in implements. None replaces: a
// new name renames the role in place, as upstream.
var roleFields = []props.Field{
	{Name: "name"}, {Name: "password"}, {Name: "login"}, {Name: "superuser"}, {Name: "createDatabase"},
	{Name: "createRole"}, {Name: "inherit"}, {Name: "replication"}, {Name: "bypassRowLevelSecurity"},
	{Name: "connectionLimit"}, {Name: "encryptedPassword"}, {Name: "validUntil"}, {Name: "roles", Set: true},
	{Name: "searchPaths"}, {Name: "statementTimeout"}, {Name: "idleInTransactionSessionTimeout"},
	{Name: "assumeRole"}, {Name: "skipDropRole"}, {Name: "skipReassignOwned"},
}

// roleUnsupported are upstream Role inputs the stand-in does not implement.
var roleUnsupported = []string{"passwordWo", "passwordWoVersion", "encrypted"}

type role struct {
	Name                                                               string
	Password                                                           string
	HasPassword                                                        bool
	Login, Superuser, CreateDatabase, CreateRole, Inherit, Replication bool
	BypassRLS, EncryptedPassword, SkipDropRole, SkipReassignOwned      bool
	ConnectionLimit, StatementTimeout, IdleInTransactionSessionTimeout int64
	ValidUntil, AssumeRole                                             string
	Roles, SearchPaths                                                 []string
}

// checkRole validates Role inputs and fills in upstream's defaults (and the
// zero values of the optional ones, which upstream's state holds too).
func checkRole(news resource.PropertyMap) props.CheckFailures {
	var failures props.CheckFailures
	for k := range news {
		key := string(k)
		switch {
		case slices.Contains(roleUnsupported, key):
			failures.Add(key, "%s is not implemented by the postgresql stand-in", key)
		case resource.IsInternalPropertyKey(k):
		case !slices.ContainsFunc(roleFields, func(f props.Field) bool { return f.Name == key }):
			failures.Add(key, "unknown property %q of Role", key)
		}
	}
	if !props.Present(news, "name") {
		failures.Add("name", "name is required")
	}
	for key, v := range map[string]resource.PropertyValue{
		"login": resource.NewProperty(false), "superuser": resource.NewProperty(false),
		"createDatabase": resource.NewProperty(false), "createRole": resource.NewProperty(false),
		"inherit": resource.NewProperty(true), "replication": resource.NewProperty(false),
		"bypassRowLevelSecurity": resource.NewProperty(false), "connectionLimit": props.Number(-1),
		"encryptedPassword": resource.NewProperty(true), "validUntil": resource.NewProperty("infinity"),
		"skipDropRole": resource.NewProperty(false), "skipReassignOwned": resource.NewProperty(false),
		"roles": props.StringsProperty([]string{}), "searchPaths": props.StringsProperty([]string{}),
		"statementTimeout": props.Number(0), "idleInTransactionSessionTimeout": props.Number(0),
		"assumeRole": resource.NewProperty(""),
	} {
		props.Default(news, key, v)
	}
	// The schema marks the password secret; keep it so in the checked inputs.
	if v, ok := news["password"]; ok && !v.IsNull() && !v.ContainsSecrets() {
		news["password"] = resource.MakeSecret(v)
	}
	known := resource.PropertyMap{}
	for k, v := range news {
		if !v.ContainsUnknowns() {
			known[k] = v
		}
	}
	r, err := roleFrom(known)
	if err != nil {
		failures.Add("", "%s", err.Error())
		return failures
	}
	if props.Present(known, "name") && r.Name == "" {
		failures.Add("name", "name must not be empty")
	}
	if r.ConnectionLimit < -1 {
		failures.Add("connectionLimit", "connectionLimit must be at least -1, got %d", r.ConnectionLimit)
	}
	if r.StatementTimeout < 0 {
		failures.Add("statementTimeout", "statementTimeout must be at least 0, got %d", r.StatementTimeout)
	}
	if r.IdleInTransactionSessionTimeout < 0 {
		failures.Add("idleInTransactionSessionTimeout", "idleInTransactionSessionTimeout must be at least 0, got %d", r.IdleInTransactionSessionTimeout)
	}
	for _, p := range r.SearchPaths {
		if strings.Contains(p, ", ") {
			failures.Add("searchPaths", "a searchPaths entry cannot contain \", \": %q", p)
		}
	}
	return failures
}

// roleFrom reads a role from properties (inputs or state).
func roleFrom(m resource.PropertyMap) (role, error) {
	var r role
	var errs []error
	str := func(key string) string {
		s, _, err := props.String(m, key)
		errs = append(errs, err)
		return s
	}
	boolean := func(key string, fallback bool) bool {
		b, ok, err := props.Bool(m, key)
		errs = append(errs, err)
		if !ok {
			return fallback
		}
		return b
	}
	integer := func(key string, fallback int64) int64 {
		n, ok, err := props.Int(m, key)
		errs = append(errs, err)
		if !ok {
			return fallback
		}
		return n
	}
	list := func(key string) []string {
		l, _, err := props.StringList(m, key)
		errs = append(errs, err)
		return l
	}
	r.Name = str("name")
	r.Password = str("password")
	r.HasPassword = props.Present(m, "password")
	r.Login = boolean("login", false)
	r.Superuser = boolean("superuser", false)
	r.CreateDatabase = boolean("createDatabase", false)
	r.CreateRole = boolean("createRole", false)
	r.Inherit = boolean("inherit", true)
	r.Replication = boolean("replication", false)
	r.BypassRLS = boolean("bypassRowLevelSecurity", false)
	r.EncryptedPassword = boolean("encryptedPassword", true)
	r.SkipDropRole = boolean("skipDropRole", false)
	r.SkipReassignOwned = boolean("skipReassignOwned", false)
	r.ConnectionLimit = integer("connectionLimit", -1)
	r.StatementTimeout = integer("statementTimeout", 0)
	r.IdleInTransactionSessionTimeout = integer("idleInTransactionSessionTimeout", 0)
	r.ValidUntil = str("validUntil")
	if r.ValidUntil == "" && !props.Present(m, "validUntil") {
		r.ValidUntil = "infinity"
	}
	r.AssumeRole = str("assumeRole")
	r.Roles = list("roles")
	r.SearchPaths = list("searchPaths")
	return r, errors.Join(errs...)
}

// properties renders a role as state; the password stays a secret.
func (r role) properties() resource.PropertyMap {
	m := resource.PropertyMap{
		"name":                            resource.NewProperty(r.Name),
		"login":                           resource.NewProperty(r.Login),
		"superuser":                       resource.NewProperty(r.Superuser),
		"createDatabase":                  resource.NewProperty(r.CreateDatabase),
		"createRole":                      resource.NewProperty(r.CreateRole),
		"inherit":                         resource.NewProperty(r.Inherit),
		"replication":                     resource.NewProperty(r.Replication),
		"bypassRowLevelSecurity":          resource.NewProperty(r.BypassRLS),
		"encryptedPassword":               resource.NewProperty(r.EncryptedPassword),
		"skipDropRole":                    resource.NewProperty(r.SkipDropRole),
		"skipReassignOwned":               resource.NewProperty(r.SkipReassignOwned),
		"connectionLimit":                 props.Number(r.ConnectionLimit),
		"statementTimeout":                props.Number(r.StatementTimeout),
		"idleInTransactionSessionTimeout": props.Number(r.IdleInTransactionSessionTimeout),
		"validUntil":                      resource.NewProperty(r.ValidUntil),
		"assumeRole":                      resource.NewProperty(r.AssumeRole),
		"roles":                           props.StringsProperty(nonNil(r.Roles)),
		"searchPaths":                     props.StringsProperty(nonNil(r.SearchPaths)),
	}
	if r.HasPassword {
		m["password"] = resource.MakeSecret(resource.NewProperty(r.Password))
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func flag(on bool, yes, no string) string {
	if on {
		return yes
	}
	return no
}

// passwordClause is the PASSWORD option; an empty password clears it.
func (r role) passwordClause() string {
	if r.Password == "" || strings.EqualFold(r.Password, "NULL") {
		return "PASSWORD NULL"
	}
	return flag(r.EncryptedPassword, "ENCRYPTED", "UNENCRYPTED") + " PASSWORD " + literal(r.Password)
}

func lockRole(ctx context.Context, tx pgx.Tx, name string) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_catalog.pg_roles WHERE rolname = $1", name); err != nil {
		return fmt.Errorf("locking role %s: %w", name, err)
	}
	return nil
}

// createRole runs CREATE ROLE with every attribute, then the memberships
// and the per-role settings, in one transaction.
func createRole(ctx context.Context, conn *pgx.Conn, r role) error {
	return inTx(ctx, conn, func(tx pgx.Tx) error {
		opts := []string{
			flag(r.Superuser, "SUPERUSER", "NOSUPERUSER"),
			flag(r.CreateDatabase, "CREATEDB", "NOCREATEDB"),
			flag(r.CreateRole, "CREATEROLE", "NOCREATEROLE"),
			flag(r.Inherit, "INHERIT", "NOINHERIT"),
			flag(r.Login, "LOGIN", "NOLOGIN"),
			flag(r.Replication, "REPLICATION", "NOREPLICATION"),
			flag(r.BypassRLS, "BYPASSRLS", "NOBYPASSRLS"),
			fmt.Sprintf("CONNECTION LIMIT %d", r.ConnectionLimit),
			"VALID UNTIL " + literal(validUntil(r.ValidUntil)),
		}
		if r.HasPassword && r.Password != "" {
			opts = append(opts, r.passwordClause())
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH %s", ident(r.Name), strings.Join(opts, " "))); err != nil {
			return fmt.Errorf("creating role %s: %w", r.Name, err)
		}
		if err := grantRoles(ctx, tx, r); err != nil {
			return err
		}
		if err := setSearchPath(ctx, tx, r); err != nil {
			return err
		}
		if r.StatementTimeout != 0 {
			if err := setTimeout(ctx, tx, r.Name, "statement_timeout", r.StatementTimeout); err != nil {
				return err
			}
		}
		if r.IdleInTransactionSessionTimeout != 0 {
			if err := setTimeout(ctx, tx, r.Name, "idle_in_transaction_session_timeout", r.IdleInTransactionSessionTimeout); err != nil {
				return err
			}
		}
		if r.AssumeRole != "" {
			return setAssumeRole(ctx, tx, r)
		}
		return nil
	})
}

func validUntil(s string) string {
	if s == "" || strings.EqualFold(s, "infinity") {
		return "infinity"
	}
	return s
}

func grantRoles(ctx context.Context, tx pgx.Tx, r role) error {
	for _, g := range r.Roles {
		if _, err := tx.Exec(ctx, fmt.Sprintf("GRANT %s TO %s", ident(g), ident(r.Name))); err != nil {
			return fmt.Errorf("granting role %s to %s: %w", g, r.Name, err)
		}
	}
	return nil
}

func revokeAllRoles(ctx context.Context, tx pgx.Tx, name string) error {
	rows, err := tx.Query(ctx, `SELECT pg_catalog.pg_get_userbyid(m.roleid)::text FROM pg_catalog.pg_auth_members m
		JOIN pg_catalog.pg_roles r ON m.member = r.oid WHERE r.rolname = $1`, name)
	if err != nil {
		return fmt.Errorf("reading the roles granted to %s: %w", name, err)
	}
	granted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("reading the roles granted to %s: %w", name, err)
	}
	for _, g := range granted {
		if _, err := tx.Exec(ctx, fmt.Sprintf("REVOKE %s FROM %s", ident(g), ident(name))); err != nil {
			return fmt.Errorf("revoking role %s from %s: %w", g, name, err)
		}
	}
	return nil
}

// setSearchPath is ALTER ROLE ... SET search_path, or back to DEFAULT when the list is empty.
func setSearchPath(ctx context.Context, tx pgx.Tx, r role) error {
	path := "DEFAULT"
	if len(r.SearchPaths) > 0 {
		quoted := make([]string, len(r.SearchPaths))
		for i, p := range r.SearchPaths {
			quoted[i] = ident(p)
		}
		path = strings.Join(quoted, ", ")
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER ROLE %s SET search_path TO %s", ident(r.Name), path)); err != nil {
		return fmt.Errorf("setting search_path of %s: %w", r.Name, err)
	}
	return nil
}

func setTimeout(ctx context.Context, tx pgx.Tx, name, setting string, ms int64) error {
	sql := fmt.Sprintf("ALTER ROLE %s RESET %s", ident(name), setting)
	if ms != 0 {
		sql = fmt.Sprintf("ALTER ROLE %s SET %s TO %d", ident(name), setting, ms)
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		return fmt.Errorf("setting %s of %s: %w", setting, name, err)
	}
	return nil
}

func setAssumeRole(ctx context.Context, tx pgx.Tx, r role) error {
	sql := fmt.Sprintf("ALTER ROLE %s RESET ROLE", ident(r.Name))
	if r.AssumeRole != "" {
		sql = fmt.Sprintf("ALTER ROLE %s SET ROLE TO %s", ident(r.Name), ident(r.AssumeRole))
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		return fmt.Errorf("setting the role %s assumes: %w", r.Name, err)
	}
	return nil
}

// readRole reads a role from pg_roles; found is false when it does not
// exist. What the catalog does not hold (the password, which only a
// superuser could read and then only hashed, and the skip flags) comes
// from the given state.
func readRole(ctx context.Context, conn *pgx.Conn, name string, state role) (r role, found bool, err error) {
	var config []string
	r = state
	err = conn.QueryRow(ctx, `SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
		rolreplication, rolbypassrls, rolconnlimit, COALESCE(rolvaliduntil::TEXT, 'infinity'), COALESCE(rolconfig, '{}'),
		ARRAY(SELECT pg_catalog.pg_get_userbyid(m.roleid)::text FROM pg_catalog.pg_auth_members m WHERE m.member = pg_roles.oid ORDER BY 1)
		FROM pg_catalog.pg_roles WHERE rolname = $1`, name).Scan(
		&r.Name, &r.Superuser, &r.Inherit, &r.CreateRole, &r.CreateDatabase, &r.Login,
		&r.Replication, &r.BypassRLS, &r.ConnectionLimit, &r.ValidUntil, &config, &r.Roles)
	if errors.Is(err, pgx.ErrNoRows) {
		return role{}, false, nil
	}
	if err != nil {
		return role{}, false, fmt.Errorf("reading role %s: %w", name, err)
	}
	r.SearchPaths = []string{}
	r.StatementTimeout, r.IdleInTransactionSessionTimeout, r.AssumeRole = 0, 0, ""
	for _, c := range config {
		key, value, _ := strings.Cut(c, "=")
		switch key {
		case "search_path":
			for _, p := range strings.Split(value, ", ") {
				r.SearchPaths = append(r.SearchPaths, strings.Trim(p, `"`))
			}
		case "statement_timeout":
			r.StatementTimeout, err = strconv.ParseInt(value, 10, 64)
		case "idle_in_transaction_session_timeout":
			r.IdleInTransactionSessionTimeout, err = strconv.ParseInt(value, 10, 64)
		case "role":
			r.AssumeRole = value
		}
		if err != nil {
			return role{}, false, fmt.Errorf("reading %s of role %s: %w", key, name, err)
		}
	}
	return r, true, nil
}

// updateRole applies what changed from old to r, renaming first, in one transaction.
func updateRole(ctx context.Context, conn *pgx.Conn, old, r role) error {
	return inTx(ctx, conn, func(tx pgx.Tx) error {
		if err := lockRole(ctx, tx, old.Name); err != nil {
			return err
		}
		alter := func(what, clause string) error {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER ROLE %s WITH %s", ident(r.Name), clause)); err != nil {
				return fmt.Errorf("updating %s of role %s: %w", what, r.Name, err)
			}
			return nil
		}
		if old.Name != r.Name {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER ROLE %s RENAME TO %s", ident(old.Name), ident(r.Name))); err != nil {
				return fmt.Errorf("renaming role %s to %s: %w", old.Name, r.Name, err)
			}
		}
		// A rename clears an MD5 password (it is salted with the name), so set it again then too.
		if old.Password != r.Password || old.HasPassword != r.HasPassword || old.Name != r.Name {
			if err := alter("the password", r.passwordClause()); err != nil {
				return err
			}
		}
		for _, b := range []struct {
			what     string
			old, new bool
			yes, no  string
		}{
			{"SUPERUSER", old.Superuser, r.Superuser, "SUPERUSER", "NOSUPERUSER"},
			{"CREATEDB", old.CreateDatabase, r.CreateDatabase, "CREATEDB", "NOCREATEDB"},
			{"CREATEROLE", old.CreateRole, r.CreateRole, "CREATEROLE", "NOCREATEROLE"},
			{"INHERIT", old.Inherit, r.Inherit, "INHERIT", "NOINHERIT"},
			{"LOGIN", old.Login, r.Login, "LOGIN", "NOLOGIN"},
			{"REPLICATION", old.Replication, r.Replication, "REPLICATION", "NOREPLICATION"},
			{"BYPASSRLS", old.BypassRLS, r.BypassRLS, "BYPASSRLS", "NOBYPASSRLS"},
		} {
			if b.old != b.new {
				if err := alter(b.what, flag(b.new, b.yes, b.no)); err != nil {
					return err
				}
			}
		}
		if old.ConnectionLimit != r.ConnectionLimit {
			if err := alter("CONNECTION LIMIT", fmt.Sprintf("CONNECTION LIMIT %d", r.ConnectionLimit)); err != nil {
				return err
			}
		}
		if old.ValidUntil != r.ValidUntil && r.ValidUntil != "" {
			if err := alter("VALID UNTIL", "VALID UNTIL "+literal(validUntil(r.ValidUntil))); err != nil {
				return err
			}
		}
		if !sameSet(old.Roles, r.Roles) {
			if err := revokeAllRoles(ctx, tx, r.Name); err != nil {
				return err
			}
			if err := grantRoles(ctx, tx, r); err != nil {
				return err
			}
		}
		if !slices.Equal(old.SearchPaths, r.SearchPaths) {
			if err := setSearchPath(ctx, tx, r); err != nil {
				return err
			}
		}
		if old.StatementTimeout != r.StatementTimeout {
			if err := setTimeout(ctx, tx, r.Name, "statement_timeout", r.StatementTimeout); err != nil {
				return err
			}
		}
		if old.IdleInTransactionSessionTimeout != r.IdleInTransactionSessionTimeout {
			if err := setTimeout(ctx, tx, r.Name, "idle_in_transaction_session_timeout", r.IdleInTransactionSessionTimeout); err != nil {
				return err
			}
		}
		if old.AssumeRole != r.AssumeRole {
			return setAssumeRole(ctx, tx, r)
		}
		return nil
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// deleteRole reassigns and drops what the role owns in the connected
// database, then drops the role, as upstream; a role already gone is done.
func deleteRole(ctx context.Context, conn *pgx.Conn, r role, reassignTo string) error {
	return inTx(ctx, conn, func(tx pgx.Tx) error {
		if ok, err := roleExists(ctx, tx, r.Name); err != nil || !ok {
			return err
		}
		if err := lockRole(ctx, tx, r.Name); err != nil {
			return err
		}
		if !r.SkipReassignOwned {
			target := "CURRENT_USER"
			if reassignTo != "" {
				target = ident(reassignTo)
			}
			err := withRolesGranted(ctx, tx, []string{r.Name}, func() error {
				if _, err := tx.Exec(ctx, fmt.Sprintf("REASSIGN OWNED BY %s TO %s", ident(r.Name), target)); err != nil {
					return fmt.Errorf("reassigning what role %s owns: %w", r.Name, err)
				}
				if _, err := tx.Exec(ctx, fmt.Sprintf("DROP OWNED BY %s", ident(r.Name))); err != nil {
					return fmt.Errorf("dropping what role %s owns: %w", r.Name, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if !r.SkipDropRole {
			if _, err := tx.Exec(ctx, fmt.Sprintf("DROP ROLE %s", ident(r.Name))); err != nil {
				return fmt.Errorf("dropping role %s: %w", r.Name, err)
			}
		}
		return nil
	})
}
