package postgresql

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"matih.local/tools/standin-providers/internal/props"
)

// tenantRole is the Role as components/02-database.ts declares it.
func tenantRole(name, password string) resource.PropertyMap {
	return resource.PropertyMap{
		"name":            resource.NewProperty(name),
		"login":           resource.NewProperty(true),
		"password":        secret(password),
		"connectionLimit": props.Number(-1),
		"searchPaths":     strs(name),
		"createDatabase":  resource.NewProperty(false),
		"createRole":      resource.NewProperty(false),
		"inherit":         resource.NewProperty(true),
	}
}

func TestRoleLifecycle(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	name := e.name("tenant_acme")
	pw1, pw2 := "first-Pa55word", "second-Pa55word"

	inputs := check(t, p, RoleType, tenantRole(name, pw1))
	if !unmarshal(t, inputs)["password"].IsSecret() {
		t.Fatal("checked password is not a secret")
	}

	// A preview touches nothing.
	if _, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Type: RoleType, Properties: inputs, Preview: true}); err != nil {
		t.Fatal(err)
	}
	if e.roleExists(name) {
		t.Fatal("a preview created the role")
	}

	id, state := create(t, p, RoleType, inputs)
	if id != name {
		t.Fatalf("id %q, want the role name", id)
	}
	outs := unmarshal(t, state)
	if !outs["password"].IsSecret() {
		t.Fatal("password output is not a secret")
	}
	var login bool
	var connLimit int
	var config []string
	if err := e.admin.QueryRow(context.Background(), "SELECT rolcanlogin, rolconnlimit, COALESCE(rolconfig, '{}') FROM pg_roles WHERE rolname = $1", name).
		Scan(&login, &connLimit, &config); err != nil {
		t.Fatal(err)
	}
	if !login || connLimit != -1 || !slices.Contains(config, "search_path="+name) {
		t.Fatalf("pg_roles: login %v, connection limit %d, config %v", login, connLimit, config)
	}
	if !e.canLogin(name, pw1) {
		t.Fatal("the role cannot log in with its password")
	}

	// Read returns what exists, which is what Create returned.
	r := read(t, p, RoleType, id, state, inputs)
	if r.GetId() != name || !unmarshal(t, r.GetProperties()).DeepEquals(outs) {
		t.Fatalf("Read: id %q, properties differ from Create's", r.GetId())
	}

	// Unchanged inputs: no diff.
	if d := diff(t, p, RoleType, id, state, inputs); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("unchanged role differs: %v", d)
	}

	// Attributes and the password change in place.
	changed := tenantRole(name, pw2)
	changed["connectionLimit"] = props.Number(5)
	changed["createRole"] = resource.NewProperty(true)
	changed["searchPaths"] = strs(name, "public")
	news := check(t, p, RoleType, changed)
	d := diff(t, p, RoleType, id, state, news)
	if d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) != 0 {
		t.Fatalf("diff: %v", d)
	}
	for _, k := range []string{"password", "connectionLimit", "createRole", "searchPaths"} {
		if d.GetDetailedDiff()[k].GetKind() != pulumirpc.PropertyDiff_UPDATE {
			t.Fatalf("detailed diff of %s: %v", k, d.GetDetailedDiff()[k])
		}
	}
	state = update(t, p, RoleType, id, state, news)
	var createRole bool
	if err := e.admin.QueryRow(context.Background(), "SELECT rolcreaterole, rolconnlimit, COALESCE(rolconfig, '{}') FROM pg_roles WHERE rolname = $1", name).
		Scan(&createRole, &connLimit, &config); err != nil {
		t.Fatal(err)
	}
	if !createRole || connLimit != 5 || !slices.Contains(config, "search_path="+name+", public") {
		t.Fatalf("after update: createrole %v, connection limit %d, config %v", createRole, connLimit, config)
	}
	if !e.canLogin(name, pw2) || e.canLogin(name, pw1) {
		t.Fatal("the password did not change")
	}

	// A new name renames the role in place, password kept.
	renamed := e.name("tenant_acme2")
	renamedInputs := tenantRole(renamed, pw2)
	renamedInputs["connectionLimit"] = props.Number(5)
	renamedInputs["createRole"] = resource.NewProperty(true)
	renamedInputs["searchPaths"] = strs(name, "public")
	news = check(t, p, RoleType, renamedInputs)
	if d := diff(t, p, RoleType, id, state, news); len(d.GetReplaces()) != 0 || d.GetDetailedDiff()["name"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("a rename must be an update: %v", d)
	}
	state = update(t, p, RoleType, id, state, news)
	if e.roleExists(name) || !e.roleExists(renamed) {
		t.Fatal("the role was not renamed")
	}
	if !e.canLogin(renamed, pw2) {
		t.Fatal("the renamed role cannot log in with its password")
	}
	// Read follows the name in the state (the id stays the old name, as Pulumi keeps ids).
	if r := read(t, p, RoleType, id, state, news); r.GetId() != renamed {
		t.Fatalf("read after rename: id %q", r.GetId())
	}

	del(t, p, RoleType, id, state)
	if e.roleExists(renamed) {
		t.Fatal("the role still exists")
	}
	if r := read(t, p, RoleType, id, state, news); r.GetId() != "" {
		t.Fatalf("read after delete: id %q, want empty", r.GetId())
	}
	// Deleting what is gone succeeds.
	del(t, p, RoleType, id, state)
}

func TestRoleDeleteReassignsWhatItOwns(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	name := e.name("owner")
	id, state := create(t, p, RoleType, check(t, p, RoleType, tenantRole(name, "pw-Owner-1")))
	e.exec(e.admin, "CREATE TABLE "+ident("t_"+name)+" (id int)")
	e.exec(e.admin, "ALTER TABLE "+ident("t_"+name)+" OWNER TO "+ident(name))
	del(t, p, RoleType, id, state)
	var owner string
	if err := e.admin.QueryRow(context.Background(), "SELECT tableowner::text FROM pg_tables WHERE tablename = $1", "t_"+name).Scan(&owner); err != nil {
		t.Fatalf("the table is gone: %v", err)
	}
	if owner != e.cfg.User {
		t.Fatalf("table owner %q, want %q (REASSIGN OWNED to the admin)", owner, e.cfg.User)
	}
}

func tenantSchema(name, database, owner string) resource.PropertyMap {
	return resource.PropertyMap{
		"name":        resource.NewProperty(name),
		"database":    resource.NewProperty(database),
		"owner":       resource.NewProperty(owner),
		"dropCascade": resource.NewProperty(true),
		"ifNotExists": resource.NewProperty(false),
	}
}

func TestSchemaLifecycle(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	owner, owner2 := e.name("tenant_acme"), e.name("other")
	_, _ = create(t, p, RoleType, check(t, p, RoleType, tenantRole(owner, "pw-Acme-1")))
	_, _ = create(t, p, RoleType, check(t, p, RoleType, tenantRole(owner2, "pw-Other-1")))
	name := owner

	inputs := check(t, p, SchemaType, tenantSchema(name, e.db, owner))
	if _, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Type: SchemaType, Properties: inputs, Preview: true}); err != nil {
		t.Fatal(err)
	}
	if e.schemaOwner(name) != "" {
		t.Fatal("a preview created the schema")
	}
	id, state := create(t, p, SchemaType, inputs)
	if id != e.db+"."+name {
		t.Fatalf("id %q, want <database>.<schema>", id)
	}
	if got := e.schemaOwner(name); got != owner {
		t.Fatalf("schema owner %q, want %q", got, owner)
	}
	outs := unmarshal(t, state)
	if db, _, _ := props.String(outs, "database"); db != e.db {
		t.Fatalf("database output %q", db)
	}
	if r := read(t, p, SchemaType, id, state, inputs); r.GetId() != id || !unmarshal(t, r.GetProperties()).DeepEquals(outs) {
		t.Fatalf("Read: id %q, properties differ from Create's", r.GetId())
	}
	if d := diff(t, p, SchemaType, id, state, inputs); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("unchanged schema differs: %v", d)
	}

	// Another database replaces; another owner updates.
	d := diff(t, p, SchemaType, id, state, check(t, p, SchemaType, tenantSchema(name, "elsewhere", owner)))
	if !slices.Equal(d.GetReplaces(), []string{"database"}) || d.GetDetailedDiff()["database"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("a database change must replace: %v", d)
	}
	news := check(t, p, SchemaType, tenantSchema(name, e.db, owner2))
	d = diff(t, p, SchemaType, id, state, news)
	if len(d.GetReplaces()) != 0 || d.GetDetailedDiff()["owner"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("an owner change must update: %v", d)
	}
	state = update(t, p, SchemaType, id, state, news)
	if got := e.schemaOwner(name); got != owner2 {
		t.Fatalf("schema owner %q after update, want %q", got, owner2)
	}

	// dropCascade: the schema goes with what is in it.
	e.exec(e.admin, "CREATE TABLE "+ident(name)+".t (id int)")
	del(t, p, SchemaType, id, state)
	if e.schemaOwner(name) != "" {
		t.Fatal("the schema still exists")
	}
	if r := read(t, p, SchemaType, id, state, news); r.GetId() != "" {
		t.Fatalf("read after delete: id %q, want empty", r.GetId())
	}
}

func TestSchemaDropRestrictRefusesANonEmptySchema(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	name := e.name("restricted")
	in := tenantSchema(name, e.db, e.cfg.User)
	in["dropCascade"] = resource.NewProperty(false)
	id, state := create(t, p, SchemaType, check(t, p, SchemaType, in))
	e.exec(e.admin, "CREATE TABLE "+ident(name)+".t (id int)")
	_, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Type: SchemaType, Id: id, Properties: state})
	if err == nil || !strings.Contains(err.Error(), "depend") {
		t.Fatalf("DROP SCHEMA ... RESTRICT of a non-empty schema must fail, got %v", err)
	}
	if e.schemaOwner(name) == "" {
		t.Fatal("the schema was dropped")
	}
}

func TestSchemaPreviewLeavesComputedOutputsUnknown(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	inputs := check(t, p, SchemaType, resource.PropertyMap{"name": resource.NewProperty(e.name("s"))})
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Type: SchemaType, Properties: inputs, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	outs := unmarshal(t, resp.GetProperties())
	if !outs["database"].IsComputed() || !outs["owner"].IsComputed() {
		t.Fatalf("preview outputs: %v", outs)
	}
	// Created for real, they take the provider's database and the connected user.
	id, state := create(t, p, SchemaType, inputs)
	outs = unmarshal(t, state)
	if db, _, _ := props.String(outs, "database"); db != e.db || id != e.db+"."+e.name("s") {
		t.Fatalf("database %q, id %q", db, id)
	}
	if owner, _, _ := props.String(outs, "owner"); owner != e.cfg.User {
		t.Fatalf("owner %q", owner)
	}
}

func TestReadAfterAnOutOfBandDropIsNotFound(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	role := e.name("gone")
	roleID, roleState := create(t, p, RoleType, check(t, p, RoleType, tenantRole(role, "pw-Gone-1")))
	schemaID, schemaState := create(t, p, SchemaType, check(t, p, SchemaType, tenantSchema(role, e.db, role)))

	e.exec(e.admin, "DROP SCHEMA "+ident(role)+" CASCADE")
	if r := read(t, p, SchemaType, schemaID, schemaState, nil); r.GetId() != "" || r.GetProperties() != nil {
		t.Fatalf("schema read after DROP: %v", r)
	}
	e.exec(e.admin, "DROP ROLE "+ident(role))
	if r := read(t, p, RoleType, roleID, roleState, nil); r.GetId() != "" || r.GetProperties() != nil {
		t.Fatalf("role read after DROP: %v", r)
	}
	// Deleting them now succeeds.
	del(t, p, SchemaType, schemaID, schemaState)
	del(t, p, RoleType, roleID, roleState)
}

func TestOutOfBandChangesShowOnRead(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	name := e.name("drift")
	inputs := check(t, p, RoleType, tenantRole(name, "pw-Drift-1"))
	id, state := create(t, p, RoleType, inputs)
	e.exec(e.admin, "ALTER ROLE "+ident(name)+" CONNECTION LIMIT 3")
	r := read(t, p, RoleType, id, state, inputs)
	if n, _, _ := props.Int(unmarshal(t, r.GetProperties()), "connectionLimit"); n != 3 {
		t.Fatalf("read connectionLimit %d, want 3", n)
	}
	if n, _, _ := props.Int(unmarshal(t, r.GetInputs()), "connectionLimit"); n != 3 {
		t.Fatalf("read inputs connectionLimit %d, want 3", n)
	}
	if !unmarshal(t, r.GetInputs())["password"].IsSecret() {
		t.Fatal("read inputs lost the password's secrecy")
	}
	// The program's -1 against the refreshed state is an update.
	if d := diff(t, p, RoleType, id, r.GetProperties(), inputs); d.GetDetailedDiff()["connectionLimit"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("diff after drift: %v", d)
	}
}

func TestPasswordsNeverAppearInErrors(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	pw := "leak-Canary-7Q"

	// CREATE ROLE fails: the role exists.
	taken := e.name("taken")
	e.exec(e.admin, "CREATE ROLE "+ident(taken))
	_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Type: RoleType, Properties: check(t, p, RoleType, tenantRole(taken, pw))})
	noSecretIn(t, err, pw)
	if !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("unexpected error: %v", err)
	}

	// A later statement of the same transaction fails: nothing is left behind.
	in := tenantRole(e.name("grantless"), pw)
	in["roles"] = strs(e.name("no_such_role"))
	_, err = p.Create(context.Background(), &pulumirpc.CreateRequest{Type: RoleType, Properties: check(t, p, RoleType, in)})
	noSecretIn(t, err, pw)
	if e.roleExists(e.name("grantless")) {
		t.Fatal("a failed create left the role behind")
	}

	// The server rejects an option of the statement that carries the password.
	in = tenantRole(e.name("baddate"), pw)
	in["validUntil"] = resource.NewProperty("not a date")
	_, err = p.Create(context.Background(), &pulumirpc.CreateRequest{Type: RoleType, Properties: check(t, p, RoleType, in)})
	noSecretIn(t, err, pw)

	// The password itself is what breaks the statement (a NUL byte).
	in = tenantRole(e.name("nul"), pw+"\x00")
	_, err = p.Create(context.Background(), &pulumirpc.CreateRequest{Type: RoleType, Properties: check(t, p, RoleType, in)})
	noSecretIn(t, err, pw)

	// ALTER ROLE ... PASSWORD on a role dropped behind the provider's back.
	name := e.name("vanishing")
	id, state := create(t, p, RoleType, check(t, p, RoleType, tenantRole(name, pw)))
	e.exec(e.admin, "DROP ROLE "+ident(name))
	_, err = p.Update(context.Background(), &pulumirpc.UpdateRequest{Type: RoleType, Id: id, Olds: state, News: check(t, p, RoleType, tenantRole(name, pw+"-new"))})
	noSecretIn(t, err, pw, pw+"-new")

	// A wrong admin password: the connection error does not quote it.
	t.Run("wrong admin password", func(t *testing.T) {
		wrong := "wrong-Admin-Secret-9"
		bad := e.providerAs(e.cfg.User, wrong, e.db, true)
		_, err := bad.Create(context.Background(), &pulumirpc.CreateRequest{Type: RoleType, Properties: check(t, bad, RoleType, tenantRole(e.name("x"), pw))})
		if err == nil {
			t.Skip("the test server trusts local connections, so no password can be wrong")
		}
		noSecretIn(t, err, pw, wrong)
	})
}

func TestPasswordsWithQuotesAndBackslashes(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	name := e.name("quoted")
	pw := `it's a \"test\" \\ pass`
	create(t, p, RoleType, check(t, p, RoleType, tenantRole(name, pw)))
	if !e.canLogin(name, pw) {
		t.Fatal("the role cannot log in with a password holding quotes and backslashes")
	}
}

func TestIdentifiersAreQuoted(t *testing.T) {
	e := newEnv(t)
	p := e.provider()
	name := e.name(`Odd "Name"; DROP ROLE x`)
	_, state := create(t, p, RoleType, check(t, p, RoleType, tenantRole(name, "pw-Odd-1")))
	if !e.roleExists(name) {
		t.Fatal("the role with an odd name was not created as named")
	}
	id, sstate := create(t, p, SchemaType, check(t, p, SchemaType, tenantSchema(name, e.db, name)))
	if e.schemaOwner(name) != name {
		t.Fatal("the schema with an odd name was not created as named")
	}
	del(t, p, SchemaType, id, sstate)
	del(t, p, RoleType, name, state)
}

// The program's configuration on Azure: an admin that is not a superuser.
// Upstream then lends the admin each role's membership for the while.
func TestNonSuperuserAdmin(t *testing.T) {
	e := newEnv(t)
	admin, adminPW := e.name("admin"), "pw-Admin-1"
	e.exec(e.admin, "CREATE ROLE "+ident(admin)+" LOGIN CREATEROLE NOSUPERUSER PASSWORD "+literal(adminPW))
	db := e.name("tenantdb")
	server := adminConn(t, "")
	e.exec(server, "CREATE DATABASE "+ident(db)+" OWNER "+ident(admin))
	t.Cleanup(func() { _, _ = server.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(db)+" WITH (FORCE)") })

	p := e.providerAs(admin, adminPW, db, false)
	tenant := e.name("tenant_acme")
	roleID, roleState := create(t, p, RoleType, check(t, p, RoleType, tenantRole(tenant, "pw-Tenant-1")))
	schemaID, schemaState := create(t, p, SchemaType, check(t, p, SchemaType, tenantSchema(tenant, db, tenant)))

	tenantConn := adminConn(t, db)
	var owner string
	if err := tenantConn.QueryRow(context.Background(), "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1", tenant).Scan(&owner); err != nil || owner != tenant {
		t.Fatalf("schema owner %q (%v), want %q", owner, err, tenant)
	}
	var lent int
	if err := tenantConn.QueryRow(context.Background(), `SELECT count(*) FROM pg_auth_members
		WHERE pg_get_userbyid(member) = $1 AND pg_get_userbyid(roleid) = $2`, admin, tenant).Scan(&lent); err != nil || lent != 0 {
		t.Fatalf("the admin kept the membership it borrowed (%d, %v)", lent, err)
	}
	e.exec(tenantConn, "CREATE TABLE "+ident(tenant)+".t (id int)")
	e.exec(tenantConn, "ALTER TABLE "+ident(tenant)+".t OWNER TO "+ident(tenant))

	del(t, p, SchemaType, schemaID, schemaState)
	del(t, p, RoleType, roleID, roleState)
	if e.roleExists(tenant) {
		t.Fatal("the tenant role still exists")
	}
}

func TestConnectTimeoutIsHonoured(t *testing.T) {
	// A server that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port

	p := New("test")
	cfg := resource.PropertyMap{
		"host": resource.NewProperty("127.0.0.1"), "port": props.Number(port), "database": resource.NewProperty("postgres"),
		"username": resource.NewProperty("postgres"), "password": secret("pw-Timeout-1"), "sslmode": resource.NewProperty("disable"),
		"superuser": resource.NewProperty("false"), "connectTimeout": resource.NewProperty("1"),
	}
	if _, err := p.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: marshal(t, cfg)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Create(context.Background(), &pulumirpc.CreateRequest{Type: RoleType, Properties: check(t, p, RoleType, tenantRole("x", "pw-X-1"))})
	if err == nil {
		t.Fatal("expected a connection timeout")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("gave up after %v, connectTimeout is 1 s", took)
	}
	noSecretIn(t, err, "pw-Timeout-1", "pw-X-1")
}

func TestCheckConfig(t *testing.T) {
	p := New("test")
	ok := resource.PropertyMap{
		"host": resource.NewProperty("db.example"), "port": resource.NewProperty("5432"), "database": resource.NewProperty("postgres"),
		"username": resource.NewProperty("matih_admin"), "password": resource.NewProperty("pw-Config-1"), "sslmode": resource.NewProperty("require"),
		"superuser": resource.NewProperty("false"), "connectTimeout": resource.NewProperty("60"), "version": resource.NewProperty("3.18.1"),
	}
	resp, err := p.CheckConfig(context.Background(), &pulumirpc.CheckRequest{News: marshal(t, ok)})
	if err != nil || len(resp.GetFailures()) > 0 {
		t.Fatalf("%v %v", err, resp.GetFailures())
	}
	if !unmarshal(t, resp.GetInputs())["password"].IsSecret() {
		t.Fatal("the checked password is not a secret")
	}
	for key, bad := range map[string]resource.PropertyValue{
		"port": resource.NewProperty("abc"), "sslmode": resource.NewProperty("sometimes"),
		"scheme": resource.NewProperty("awspostgres"), "superuser": resource.NewProperty("perhaps"),
		"awsRdsIamAuth": resource.NewProperty("true"),
	} {
		m := ok.Copy()
		m[resource.PropertyKey(key)] = bad
		resp, err := p.CheckConfig(context.Background(), &pulumirpc.CheckRequest{News: marshal(t, m)})
		if err != nil || len(resp.GetFailures()) == 0 {
			t.Errorf("%s=%v: want a check failure (%v)", key, bad, err)
		}
		for _, f := range resp.GetFailures() {
			if strings.Contains(f.GetReason(), "pw-Config-1") {
				t.Fatalf("a failure quotes the password: %v", f)
			}
		}
	}
	// Unknown values (during a preview) are not checked.
	m := ok.Copy()
	m["host"] = resource.MakeComputed(resource.NewProperty(""))
	if resp, _ := p.CheckConfig(context.Background(), &pulumirpc.CheckRequest{News: marshal(t, m)}); len(resp.GetFailures()) > 0 {
		t.Fatalf("failures with an unknown host: %v", resp.GetFailures())
	}
	// A new host is an update of the provider, not a replacement.
	m = ok.Copy()
	m["host"] = resource.NewProperty("db2.example")
	d, err := p.DiffConfig(context.Background(), &pulumirpc.DiffRequest{OldInputs: marshal(t, ok), Olds: marshal(t, ok), News: marshal(t, m)})
	if err != nil || d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) != 0 {
		t.Fatalf("DiffConfig: %v %v", d, err)
	}
}

func TestRoleCheckFailures(t *testing.T) {
	p := New("test")
	for name, in := range map[string]resource.PropertyMap{
		"no name":          {"login": resource.NewProperty(true)},
		"low limit":        {"name": resource.NewProperty("r"), "connectionLimit": props.Number(-2)},
		"bad search path":  {"name": resource.NewProperty("r"), "searchPaths": strs("a, b")},
		"write-only":       {"name": resource.NewProperty("r"), "passwordWo": secret("x")},
		"unknown property": {"name": resource.NewProperty("r"), "colour": resource.NewProperty("blue")},
	} {
		resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Type: RoleType, News: marshal(t, in)})
		if err != nil || len(resp.GetFailures()) == 0 {
			t.Errorf("%s: want a check failure (%v)", name, err)
		}
	}
	if _, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Type: "postgresql:index/database:Database", News: marshal(t, resource.PropertyMap{})}); err == nil {
		t.Error("an unimplemented type must be refused")
	}
}
