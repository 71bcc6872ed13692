package postgresql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	"matih.local/tools/standin-providers/internal/props"
)

// The PostgreSQL the tests use: TEST_DATABASE_URL, as the rest of the
// project, by default the local server as postgres. It must be a superuser
// (the tests create databases and roles and clean them up).
func adminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgresql://postgres@127.0.0.1:5432/postgres"
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	return u.String()
}

// adminConn connects as the test superuser, or skips (fails under CI=true)
// when PostgreSQL is not reachable.
func adminConn(t *testing.T, database string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(adminURL())
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	if database != "" {
		cfg.Database = database
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (set TEST_DATABASE_URL to a superuser's URL): %v", redactURL(adminURL()), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// env is one test's database and roles on the test server, dropped afterwards.
type env struct {
	t      *testing.T
	admin  *pgx.Conn // to the test database
	db     string
	prefix string
	cfg    *pgx.ConnConfig
}

func newEnv(t *testing.T) *env {
	t.Helper()
	server := adminConn(t, "")
	cfg, _ := pgx.ParseConfig(adminURL())
	e := &env{t: t, prefix: "standin_" + randomSuffix() + "_", cfg: cfg}
	e.db = e.prefix + "db"
	e.exec(server, "CREATE DATABASE "+ident(e.db))
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = server.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(e.db)+" WITH (FORCE)")
		rows, err := server.Query(ctx, "SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1", e.prefix+"%")
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		roles, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, r := range roles {
			// Roles own nothing left once the database is gone, except in postgres.
			_, _ = server.Exec(ctx, fmt.Sprintf("REASSIGN OWNED BY %s TO CURRENT_USER", ident(r)))
			_, _ = server.Exec(ctx, fmt.Sprintf("DROP OWNED BY %s", ident(r)))
			if _, err := server.Exec(ctx, "DROP ROLE "+ident(r)); err != nil {
				t.Logf("cleanup: dropping %s: %v", r, err)
			}
		}
	})
	e.admin = adminConn(t, e.db)
	return e
}

func (e *env) exec(conn *pgx.Conn, sql string, args ...any) {
	e.t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) name(s string) string { return e.prefix + s }

// providerConfig is the configuration as the Node SDK sends it: numbers and
// booleans JSON-encoded as strings, the password a secret.
func (e *env) providerConfig(user, password, database string, superuser bool) resource.PropertyMap {
	m := resource.PropertyMap{
		"host":           resource.NewProperty(e.cfg.Host),
		"port":           resource.NewProperty(strconv.Itoa(int(e.cfg.Port))),
		"database":       resource.NewProperty(database),
		"username":       resource.NewProperty(user),
		"sslmode":        resource.NewProperty("disable"),
		"superuser":      resource.NewProperty(strconv.FormatBool(superuser)),
		"connectTimeout": resource.NewProperty("5"),
		"version":        resource.NewProperty("3.18.1"),
	}
	if password != "" {
		m["password"] = resource.MakeSecret(resource.NewProperty(password))
	}
	return m
}

// provider is a configured provider, connecting as the test superuser.
func (e *env) provider() *Provider {
	return e.providerAs(e.cfg.User, e.cfg.Password, e.db, true)
}

func (e *env) providerAs(user, password, database string, superuser bool) *Provider {
	e.t.Helper()
	p := New("test")
	cfg := marshal(e.t, e.providerConfig(user, password, database, superuser))
	checked, err := p.CheckConfig(context.Background(), &pulumirpc.CheckRequest{News: cfg})
	if err != nil || len(checked.GetFailures()) > 0 {
		e.t.Fatalf("CheckConfig: %v %v", err, checked.GetFailures())
	}
	if _, err := p.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: checked.GetInputs(), AcceptSecrets: true}); err != nil {
		e.t.Fatalf("Configure: %v", err)
	}
	return p
}

func marshal(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := props.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func unmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := props.Unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func secret(s string) resource.PropertyValue { return resource.MakeSecret(resource.NewProperty(s)) }

func strs(s ...string) resource.PropertyValue { return props.StringsProperty(s) }

// check runs Check and fails the test on failures.
func check(t *testing.T, p *Provider, typ string, news resource.PropertyMap) *structpb.Struct {
	t.Helper()
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Type: typ, News: marshal(t, news)})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(resp.GetFailures()) > 0 {
		t.Fatalf("Check failures: %v", resp.GetFailures())
	}
	return resp.GetInputs()
}

func create(t *testing.T, p *Provider, typ string, inputs *structpb.Struct) (string, *structpb.Struct) {
	t.Helper()
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Type: typ, Properties: inputs})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return resp.GetId(), resp.GetProperties()
}

func read(t *testing.T, p *Provider, typ, id string, state, inputs *structpb.Struct) *pulumirpc.ReadResponse {
	t.Helper()
	resp, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Type: typ, Id: id, Properties: state, Inputs: inputs})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return resp
}

func diff(t *testing.T, p *Provider, typ, id string, olds, news *structpb.Struct) *pulumirpc.DiffResponse {
	t.Helper()
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Type: typ, Id: id, Olds: olds, News: news})
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	return resp
}

func update(t *testing.T, p *Provider, typ, id string, olds, news *structpb.Struct) *structpb.Struct {
	t.Helper()
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Type: typ, Id: id, Olds: olds, News: news})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	return resp.GetProperties()
}

func del(t *testing.T, p *Provider, typ, id string, state *structpb.Struct) {
	t.Helper()
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Type: typ, Id: id, Properties: state}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}

// canLogin reports whether role can log in to the test database with password.
func (e *env) canLogin(role, password string) bool {
	e.t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable", e.cfg.Host, e.cfg.Port, e.db))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.User, cfg.Password = role, password
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	conn.Close(context.Background())
	return true
}

func (e *env) roleExists(name string) bool {
	e.t.Helper()
	var n int
	if err := e.admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_roles WHERE rolname = $1", name).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n == 1
}

func (e *env) schemaOwner(name string) string {
	e.t.Helper()
	var owner string
	err := e.admin.QueryRow(context.Background(), "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1", name).Scan(&owner)
	if err == pgx.ErrNoRows {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return owner
}

// noSecretIn fails when err's text holds any of the secrets.
func noSecretIn(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error text holds a password: %v", err)
		}
	}
	t.Logf("error, with no password in it: %v", err)
}
