package postgresql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"matih.local/tools/standin-providers/internal/props"
)

// SchemaType is postgresql_schema.
const SchemaType = "postgresql:index/schema:Schema"

// schemaFields are the Schema inputs. database replaces (ForceNew upstream);
// database and owner are optional and computed: unset, the state stands.
var schemaFields = []props.Field{
	{Name: "name"},
	{Name: "database", Replace: true, Computed: true},
	{Name: "owner", Computed: true},
	{Name: "ifNotExists"},
	{Name: "dropCascade"},
}

type schema struct {
	Name, Database, Owner    string
	IfNotExists, DropCascade bool
}

func checkSchema(news resource.PropertyMap) props.CheckFailures {
	var failures props.CheckFailures
	for k := range news {
		key := string(k)
		switch {
		case key == "policies":
			failures.Add(key, "policies (deprecated upstream for postgresql.Grant) is not implemented by the postgresql stand-in")
		case resource.IsInternalPropertyKey(k):
		case !slices.ContainsFunc(schemaFields, func(f props.Field) bool { return f.Name == key }):
			failures.Add(key, "unknown property %q of Schema", key)
		}
	}
	if !props.Present(news, "name") {
		failures.Add("name", "name is required")
	}
	props.Default(news, "ifNotExists", resource.NewProperty(true))
	props.Default(news, "dropCascade", resource.NewProperty(false))
	known := resource.PropertyMap{}
	for k, v := range news {
		if !v.ContainsUnknowns() {
			known[k] = v
		}
	}
	s, err := schemaFrom(known, "")
	if err != nil {
		failures.Add("", "%s", err.Error())
	} else if props.Present(known, "name") && s.Name == "" {
		failures.Add("name", "name must not be empty")
	}
	return failures
}

func schemaFrom(m resource.PropertyMap, id string) (schema, error) {
	var s schema
	var errs []error
	str := func(key string) string {
		v, _, err := props.String(m, key)
		errs = append(errs, err)
		return v
	}
	boolean := func(key string, fallback bool) bool {
		b, ok, err := props.Bool(m, key)
		errs = append(errs, err)
		if !ok {
			return fallback
		}
		return b
	}
	s.Name = str("name")
	s.Database = str("database")
	s.Owner = str("owner")
	s.IfNotExists = boolean("ifNotExists", true)
	s.DropCascade = boolean("dropCascade", false)
	// An import has only the id, <database>.<schema>.
	if s.Name == "" && id != "" {
		db, name, ok := strings.Cut(id, ".")
		if !ok || strings.Contains(name, ".") {
			errs = append(errs, fmt.Errorf("schema id %q is not <database>.<schema>", id))
		}
		s.Database, s.Name = db, name
	}
	return s, errors.Join(errs...)
}

func (s schema) id() string { return s.Database + "." + s.Name }

func (s schema) properties() resource.PropertyMap {
	return resource.PropertyMap{
		"name":        resource.NewProperty(s.Name),
		"database":    resource.NewProperty(s.Database),
		"owner":       resource.NewProperty(s.Owner),
		"ifNotExists": resource.NewProperty(s.IfNotExists),
		"dropCascade": resource.NewProperty(s.DropCascade),
	}
}

// createSchema creates the schema in the connected database; one that
// already exists is taken over and given the owner, as upstream does
// (whatever ifNotExists says).
func createSchema(ctx context.Context, conn *pgx.Conn, s schema) error {
	return inTx(ctx, conn, func(tx pgx.Tx) error {
		dbOwner, err := databaseOwner(ctx, tx)
		if err != nil {
			return err
		}
		grant := []string{dbOwner}
		if s.Owner != "" && s.Owner != dbOwner {
			grant = append(grant, s.Owner)
		}
		return withRolesGranted(ctx, tx, grant, func() error {
			found, err := schemaExists(ctx, tx, s.Name)
			if err != nil {
				return err
			}
			if found {
				if s.Owner == "" {
					return nil
				}
				return setSchemaOwner(ctx, tx, s)
			}
			sql := "CREATE SCHEMA "
			if s.IfNotExists {
				sql += "IF NOT EXISTS "
			}
			sql += ident(s.Name)
			if s.Owner != "" {
				sql += " AUTHORIZATION " + ident(s.Owner)
			}
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("creating schema %s: %w", s.Name, err)
			}
			return nil
		})
	})
}

func setSchemaOwner(ctx context.Context, tx pgx.Tx, s schema) error {
	if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER SCHEMA %s OWNER TO %s", ident(s.Name), ident(s.Owner))); err != nil {
		return fmt.Errorf("changing the owner of schema %s: %w", s.Name, err)
	}
	return nil
}

// readSchema reads the schema's owner from pg_namespace; found is false
// when the schema (or its database) does not exist.
func readSchema(ctx context.Context, conn *pgx.Conn, s schema) (schema, bool, error) {
	err := conn.QueryRow(ctx, `SELECT nspname::text, pg_catalog.pg_get_userbyid(nspowner)::text, current_database()::text
		FROM pg_catalog.pg_namespace WHERE nspname = $1`, s.Name).Scan(&s.Name, &s.Owner, &s.Database)
	if errors.Is(err, pgx.ErrNoRows) {
		return schema{}, false, nil
	}
	if err != nil {
		return schema{}, false, fmt.Errorf("reading schema %s: %w", s.Name, err)
	}
	return s, true, nil
}

// updateSchema renames and changes the owner in place, as upstream.
func updateSchema(ctx context.Context, conn *pgx.Conn, old, s schema) error {
	return inTx(ctx, conn, func(tx pgx.Tx) error {
		if old.Name != s.Name {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER SCHEMA %s RENAME TO %s", ident(old.Name), ident(s.Name))); err != nil {
				return fmt.Errorf("renaming schema %s to %s: %w", old.Name, s.Name, err)
			}
		}
		if s.Owner != "" && old.Owner != s.Owner {
			return setSchemaOwner(ctx, tx, s)
		}
		return nil
	})
}

// deleteSchema drops the schema, CASCADE when dropCascade, else RESTRICT; one already gone is done.
func deleteSchema(ctx context.Context, conn *pgx.Conn, s schema) error {
	return inTx(ctx, conn, func(tx pgx.Tx) error {
		if ok, err := schemaExists(ctx, tx, s.Name); err != nil || !ok {
			return err
		}
		return withRolesGranted(ctx, tx, []string{s.Owner}, func() error {
			mode := "RESTRICT"
			if s.DropCascade {
				mode = "CASCADE"
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf("DROP SCHEMA %s %s", ident(s.Name), mode)); err != nil {
				return fmt.Errorf("dropping schema %s: %w", s.Name, err)
			}
			return nil
		})
	})
}
