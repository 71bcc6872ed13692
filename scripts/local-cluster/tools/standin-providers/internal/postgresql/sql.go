package postgresql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ident quotes an identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes a string literal, as lib/pq's QuoteLiteral: doubled quotes,
// and the E” form with doubled backslashes when there is a backslash, so
// the value is the same whatever standard_conforming_strings says.
func literal(s string) string {
	s = strings.ReplaceAll(s, `'`, `''`)
	if strings.Contains(s, `\`) {
		return `E'` + strings.ReplaceAll(s, `\`, `\\`) + `'`
	}
	return `'` + s + `'`
}

// exists runs a query that returns a row when something exists.
func exists(ctx context.Context, q pgx.Tx, sql string, args ...any) (bool, error) {
	var one int
	err := q.QueryRow(ctx, sql, args...).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

func roleExists(ctx context.Context, tx pgx.Tx, role string) (bool, error) {
	ok, err := exists(ctx, tx, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", role)
	if err != nil {
		return false, fmt.Errorf("checking whether role %s exists: %w", role, err)
	}
	return ok, nil
}

func schemaExists(ctx context.Context, tx pgx.Tx, schema string) (bool, error) {
	ok, err := exists(ctx, tx, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", schema)
	if err != nil {
		return false, fmt.Errorf("checking whether schema %s exists: %w", schema, err)
	}
	return ok, nil
}

func currentUser(ctx context.Context, tx pgx.Tx) (string, error) {
	var user string
	if err := tx.QueryRow(ctx, "SELECT CURRENT_USER").Scan(&user); err != nil {
		return "", fmt.Errorf("reading the current user: %w", err)
	}
	return user, nil
}

func isSuperuser(ctx context.Context, tx pgx.Tx, role string) (bool, error) {
	var super bool
	if err := tx.QueryRow(ctx, "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = $1", role).Scan(&super); err != nil {
		return false, fmt.Errorf("checking whether role %s is a superuser: %w", role, err)
	}
	return super, nil
}

func databaseOwner(ctx context.Context, tx pgx.Tx) (string, error) {
	var owner string
	err := tx.QueryRow(ctx, `SELECT r.rolname FROM pg_catalog.pg_database d
		JOIN pg_catalog.pg_roles r ON d.datdba = r.oid WHERE d.datname = current_database()`).Scan(&owner)
	if err != nil {
		return "", fmt.Errorf("reading the owner of the database: %w", err)
	}
	return owner, nil
}

// isMember reports whether member belongs to role directly (with SET, on
// PostgreSQL 16 and later, where membership can lack it).
func isMember(ctx context.Context, tx pgx.Tx, role, member string) (bool, error) {
	hasSetOption, err := exists(ctx, tx, `SELECT 1 FROM information_schema.columns
		WHERE table_schema = 'pg_catalog' AND table_name = 'pg_auth_members' AND column_name = 'set_option'`)
	if err != nil {
		return false, fmt.Errorf("reading pg_auth_members' columns: %w", err)
	}
	q := `SELECT 1 FROM pg_catalog.pg_auth_members
		WHERE pg_catalog.pg_get_userbyid(roleid) = $1 AND pg_catalog.pg_get_userbyid(member) = $2`
	if hasSetOption {
		q += " AND set_option"
	}
	ok, err := exists(ctx, tx, q, role, member)
	if err != nil {
		return false, fmt.Errorf("reading the membership of %s in %s: %w", member, role, err)
	}
	return ok, nil
}

// grantMembership grants role to member unless it already is one; reports whether it granted.
func grantMembership(ctx context.Context, tx pgx.Tx, role, member string) (bool, error) {
	if role == member {
		return false, nil
	}
	ok, err := isMember(ctx, tx, role, member)
	if err != nil || ok {
		return false, err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("GRANT %s TO %s", ident(role), ident(member))); err != nil {
		return false, fmt.Errorf("granting role %s to %s: %w", role, member, err)
	}
	return true, nil
}

// revokeMembership revokes role from member if it is one; reports whether it revoked.
func revokeMembership(ctx context.Context, tx pgx.Tx, role, member string) (bool, error) {
	if role == member {
		return false, nil
	}
	ok, err := isMember(ctx, tx, role, member)
	if err != nil || !ok {
		return false, err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("REVOKE %s FROM %s", ident(role), ident(member))); err != nil {
		return false, fmt.Errorf("revoking role %s from %s: %w", role, member, err)
	}
	return true, nil
}

// withRolesGranted runs fn with the connected user made a member of each
// role for the while, as upstream does when the admin is not a superuser
// (Azure, RDS): to create a schema for another owner, to reassign or drop
// what a role owns. A reverse membership is lifted meanwhile, since
// PostgreSQL forbids membership loops, and restored after.
func withRolesGranted(ctx context.Context, tx pgx.Tx, roles []string, fn func() error) error {
	if len(roles) == 0 {
		return fn()
	}
	user, err := currentUser(ctx, tx)
	if err != nil {
		return err
	}
	super, err := isSuperuser(ctx, tx, user)
	if err != nil {
		return err
	}
	if super {
		return fn()
	}
	var granted, revoked []string
	for _, role := range roles {
		if role == "" {
			continue
		}
		roleSuper, err := isSuperuser(ctx, tx, role)
		if err != nil {
			return err
		}
		if roleSuper {
			// PostgreSQL will not let a non-superuser join a superuser role.
			continue
		}
		r, err := revokeMembership(ctx, tx, user, role)
		if err != nil {
			return err
		}
		if r {
			revoked = append(revoked, role)
		}
		g, err := grantMembership(ctx, tx, role, user)
		if err != nil {
			return err
		}
		if g {
			granted = append(granted, role)
		}
	}
	if err := fn(); err != nil {
		return err
	}
	for _, role := range granted {
		if ok, err := roleExists(ctx, tx, role); err != nil {
			return err
		} else if !ok {
			continue
		}
		if _, err := revokeMembership(ctx, tx, role, user); err != nil {
			return err
		}
	}
	for _, role := range revoked {
		if ok, err := roleExists(ctx, tx, role); err != nil {
			return err
		} else if !ok {
			continue
		}
		if _, err := grantMembership(ctx, tx, user, role); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in a transaction on conn, committing when it succeeds.
func inTx(ctx context.Context, conn *pgx.Conn, fn func(pgx.Tx) error) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("starting a transaction: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}
