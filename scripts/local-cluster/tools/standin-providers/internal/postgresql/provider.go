// Package postgresql is the stand-in for the pulumi-postgresql provider:
// Role and Schema, done with real SQL against a real PostgreSQL the way the
// upstream Terraform provider (cyrilgdn/postgresql) does them.
package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"matih.local/tools/standin-providers/internal/props"
)

// Provider serves pulumi-resource-postgresql.
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	version string

	mu     sync.Mutex
	config *Config
	// root is cancelled by Cancel; every operation's context derives from it.
	root   context.Context
	cancel context.CancelFunc
}

// New returns an unconfigured provider, reporting version from GetPluginInfo.
func New(version string) *Provider {
	root, cancel := context.WithCancel(context.Background())
	return &Provider{version: version, root: root, cancel: cancel}
}

func resourceType(typ, urn string) string {
	if typ != "" {
		return typ
	}
	if urn == "" {
		return ""
	}
	return string(resource.URN(urn).Type())
}

func unsupported(typ string) error {
	return status.Errorf(codes.InvalidArgument,
		"the postgresql stand-in implements only %s and %s, not %q (the upstream provider is not available on this machine)",
		RoleType, SchemaType, typ)
}

// opContext ties ctx to Cancel.
func (p *Provider) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.root, cancel)
	return ctx, func() { stop(); cancel() }
}

func (p *Provider) configured() (Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.config == nil {
		return Config{}, status.Error(codes.FailedPrecondition, "the postgresql provider has not been configured (its configuration is unknown or missing)")
	}
	return *p.config, nil
}

// fail redacts the configured password and the given secrets from err.
func (p *Provider) fail(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return status.Error(s.Code(), props.Redact(errors.New(s.Message()), p.secrets(secrets)...).Error())
	}
	return status.Error(codes.Unknown, props.Redact(err, p.secrets(secrets)...).Error())
}

func (p *Provider) secrets(extra []string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.config != nil && p.config.Password != "" {
		extra = append(extra, p.config.Password)
	}
	return extra
}

// GetPluginInfo reports the version the binary was built with.
func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.version}, nil
}

// GetSchema returns a small schema: the package, its configuration and the two resources.
func (p *Provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	str := map[string]any{"type": "string"}
	integer := map[string]any{"type": "integer"}
	boolean := map[string]any{"type": "boolean"}
	strings := map[string]any{"type": "array", "items": str}
	secret := map[string]any{"type": "string", "secret": true}
	config := map[string]any{
		"host": str, "port": integer, "database": str, "username": str, "password": secret,
		"databaseUsername": str, "sslmode": str, "sslrootcert": str, "superuser": boolean,
		"connectTimeout": integer, "scheme": str, "maxConnections": integer, "expectedVersion": str,
	}
	role := map[string]any{
		"name": str, "password": secret, "login": boolean, "superuser": boolean, "createDatabase": boolean,
		"createRole": boolean, "inherit": boolean, "replication": boolean, "bypassRowLevelSecurity": boolean,
		"connectionLimit": integer, "encryptedPassword": boolean, "validUntil": str, "roles": strings,
		"searchPaths": strings, "statementTimeout": integer, "idleInTransactionSessionTimeout": integer,
		"assumeRole": str, "skipDropRole": boolean, "skipReassignOwned": boolean,
	}
	schemaProps := map[string]any{
		"name": str, "database": str, "owner": str, "ifNotExists": boolean, "dropCascade": boolean,
	}
	doc := map[string]any{
		"name":        "postgresql",
		"version":     p.version,
		"description": "Stand-in for pulumi-postgresql: Role and Schema only.",
		"config":      map[string]any{"variables": config},
		"provider":    map[string]any{"inputProperties": config},
		"resources": map[string]any{
			RoleType:   map[string]any{"inputProperties": role, "requiredInputs": []string{"name"}, "properties": role, "required": []string{"name"}},
			SchemaType: map[string]any{"inputProperties": schemaProps, "requiredInputs": []string{"name"}, "properties": schemaProps, "required": []string{"name", "database", "owner"}},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b)}, nil
}

// CheckConfig validates the configuration; the password stays secret.
func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := props.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	failures := checkConfig(news)
	if v, ok := news["password"]; ok && !v.IsNull() && !v.ContainsSecrets() {
		news["password"] = resource.MakeSecret(v)
	}
	inputs, err := props.Marshal(news)
	if err != nil {
		return nil, p.fail(err, props.SecretStrings(news)...)
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

var configFields = func() []props.Field {
	var fields []props.Field
	for _, k := range configKeys {
		if k != "version" {
			fields = append(fields, props.Field{Name: k})
		}
	}
	return fields
}()

// DiffConfig reports changed settings; none replaces the provider (or its resources).
func (p *Provider) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := props.Unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		if olds, err = props.Unmarshal(req.GetOlds()); err != nil {
			return nil, err
		}
	}
	news, err := props.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	return props.Diff(olds, news, configFields, req.GetIgnoreChanges()), nil
}

// Configure stores the configuration; no connection is made until a resource needs one.
func (p *Provider) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	var m resource.PropertyMap
	if req.GetArgs() != nil {
		var err error
		if m, err = props.Unmarshal(req.GetArgs()); err != nil {
			return nil, err
		}
	} else {
		m = configFromVariables(req.GetVariables())
	}
	resp := &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}
	if m.ContainsUnknowns() {
		// Known only during the update: resources are previewed without a connection.
		return resp, nil
	}
	cfg, err := parseConfig(m)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, props.Redact(err, props.SecretStrings(m)...).Error())
	}
	p.mu.Lock()
	p.config = &cfg
	p.mu.Unlock()
	return resp, nil
}

// Check validates a resource's inputs and fills in upstream's defaults.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := props.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures props.CheckFailures
	switch typ := resourceType(req.GetType(), req.GetUrn()); typ {
	case RoleType:
		failures = checkRole(news)
	case SchemaType:
		failures = checkSchema(news)
	default:
		return nil, unsupported(typ)
	}
	inputs, err := props.Marshal(news)
	if err != nil {
		return nil, p.fail(err, props.SecretStrings(news)...)
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

// Diff compares the new inputs with the state: Role never replaces (a new
// name renames it); Schema replaces when its database changes.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := props.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := props.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	switch typ := resourceType(req.GetType(), req.GetUrn()); typ {
	case RoleType:
		return props.Diff(olds, news, roleFields, req.GetIgnoreChanges()), nil
	case SchemaType:
		return props.Diff(olds, news, schemaFields, req.GetIgnoreChanges()), nil
	default:
		return nil, unsupported(typ)
	}
}

func marshalOutputs(m resource.PropertyMap) (*structpb.Struct, error) {
	return props.Marshal(m)
}

// Create creates the role or schema; a preview touches no database.
func (p *Provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	inputs, err := props.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	secrets := props.SecretStrings(inputs)
	ctx, done := p.opContext(ctx)
	defer done()
	switch typ := resourceType(req.GetType(), req.GetUrn()); typ {
	case RoleType:
		if req.GetPreview() {
			outs := inputs.Copy()
			if v, ok := outs["password"]; ok && !v.IsNull() && !v.ContainsSecrets() {
				outs["password"] = resource.MakeSecret(v)
			}
			s, err := marshalOutputs(outs)
			return &pulumirpc.CreateResponse{Properties: s}, p.fail(err, secrets...)
		}
		r, err := roleFrom(inputs)
		if err != nil {
			return nil, p.fail(status.Error(codes.InvalidArgument, err.Error()), secrets...)
		}
		cfg, err := p.configured()
		if err != nil {
			return nil, err
		}
		conn, err := cfg.connect(ctx, "")
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		defer conn.Close(context.Background())
		if err := createRole(ctx, conn, r); err != nil {
			return nil, p.fail(err, secrets...)
		}
		got, found, err := readRole(ctx, conn, r.Name, r)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if !found {
			return nil, p.fail(status.Errorf(codes.Internal, "role %s was created but cannot be read back", r.Name))
		}
		s, err := marshalOutputs(got.properties())
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		return &pulumirpc.CreateResponse{Id: got.Name, Properties: s}, nil

	case SchemaType:
		sc, err := schemaFrom(inputs, "")
		if err != nil {
			return nil, p.fail(status.Error(codes.InvalidArgument, err.Error()), secrets...)
		}
		if req.GetPreview() {
			outs := inputs.Copy()
			for _, k := range []resource.PropertyKey{"database", "owner"} {
				if !props.Present(outs, string(k)) {
					outs[k] = resource.MakeComputed(resource.NewProperty(""))
				}
			}
			s, err := marshalOutputs(outs)
			return &pulumirpc.CreateResponse{Properties: s}, p.fail(err, secrets...)
		}
		cfg, err := p.configured()
		if err != nil {
			return nil, err
		}
		conn, err := cfg.connect(ctx, sc.Database)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		defer conn.Close(context.Background())
		if err := createSchema(ctx, conn, sc); err != nil {
			return nil, p.fail(err, secrets...)
		}
		got, found, err := readSchema(ctx, conn, sc)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if !found {
			return nil, p.fail(status.Errorf(codes.Internal, "schema %s was created but cannot be read back", sc.Name))
		}
		s, err := marshalOutputs(got.properties())
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		return &pulumirpc.CreateResponse{Id: got.id(), Properties: s}, nil

	default:
		return nil, unsupported(typ)
	}
}

// readInputs refreshes the stored inputs with what was read, for the keys they hold.
func readInputs(oldInputs, outs resource.PropertyMap, skip ...resource.PropertyKey) resource.PropertyMap {
	if len(oldInputs) == 0 {
		inputs := outs.Copy()
		for _, k := range skip {
			delete(inputs, k)
		}
		return inputs
	}
	inputs := oldInputs.Copy()
	for k := range inputs {
		if v, ok := outs[k]; ok && !isSkipped(k, skip) {
			inputs[k] = v
		}
	}
	return inputs
}

func isSkipped(k resource.PropertyKey, skip []resource.PropertyKey) bool {
	for _, s := range skip {
		if s == k {
			return true
		}
	}
	return false
}

// Read returns what exists now, or an empty id when the role or schema is
// gone (so a refresh drops it from the state). An import has only the id.
func (p *Provider) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	state, err := props.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	oldInputs, err := props.Unmarshal(req.GetInputs())
	if err != nil {
		return nil, err
	}
	secrets := append(props.SecretStrings(state), props.SecretStrings(oldInputs)...)
	cfg, err := p.configured()
	if err != nil {
		return nil, err
	}
	ctx, done := p.opContext(ctx)
	defer done()
	respond := func(id string, outs resource.PropertyMap, skip ...resource.PropertyKey) (*pulumirpc.ReadResponse, error) {
		so, err := marshalOutputs(outs)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		si, err := marshalOutputs(readInputs(oldInputs, outs, skip...))
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		return &pulumirpc.ReadResponse{Id: id, Properties: so, Inputs: si}, nil
	}
	switch typ := resourceType(req.GetType(), req.GetUrn()); typ {
	case RoleType:
		old, err := roleFrom(state)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		name := old.Name
		if name == "" {
			name = req.GetId()
		}
		conn, err := cfg.connect(ctx, "")
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		defer conn.Close(context.Background())
		got, found, err := readRole(ctx, conn, name, old)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if !found {
			return &pulumirpc.ReadResponse{}, nil
		}
		return respond(got.Name, got.properties())

	case SchemaType:
		old, err := schemaFrom(state, req.GetId())
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		conn, err := cfg.connect(ctx, old.Database)
		if err != nil {
			if isMissingDatabase(err) {
				return &pulumirpc.ReadResponse{}, nil
			}
			return nil, p.fail(err, secrets...)
		}
		defer conn.Close(context.Background())
		got, found, err := readSchema(ctx, conn, old)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if !found {
			return &pulumirpc.ReadResponse{}, nil
		}
		return respond(got.id(), got.properties())

	default:
		return nil, unsupported(typ)
	}
}

// Update changes the role or schema in place; a preview touches no database.
func (p *Provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := props.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := props.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	secrets := append(props.SecretStrings(olds), props.SecretStrings(news)...)
	ctx, done := p.opContext(ctx)
	defer done()
	switch typ := resourceType(req.GetType(), req.GetUrn()); typ {
	case RoleType:
		if req.GetPreview() {
			outs := news.Copy()
			if v, ok := outs["password"]; ok && !v.IsNull() && !v.ContainsSecrets() {
				outs["password"] = resource.MakeSecret(v)
			}
			s, err := marshalOutputs(outs)
			return &pulumirpc.UpdateResponse{Properties: s}, p.fail(err, secrets...)
		}
		old, err := roleFrom(olds)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if old.Name == "" {
			old.Name = req.GetId()
		}
		r, err := roleFrom(news)
		if err != nil {
			return nil, p.fail(status.Error(codes.InvalidArgument, err.Error()), secrets...)
		}
		cfg, err := p.configured()
		if err != nil {
			return nil, err
		}
		conn, err := cfg.connect(ctx, "")
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		defer conn.Close(context.Background())
		if err := updateRole(ctx, conn, old, r); err != nil {
			return nil, p.fail(err, secrets...)
		}
		got, found, err := readRole(ctx, conn, r.Name, r)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if !found {
			return nil, p.fail(status.Errorf(codes.NotFound, "role %s no longer exists", r.Name))
		}
		s, err := marshalOutputs(got.properties())
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		return &pulumirpc.UpdateResponse{Properties: s}, nil

	case SchemaType:
		old, err := schemaFrom(olds, req.GetId())
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		sc, err := schemaFrom(news, "")
		if err != nil {
			return nil, p.fail(status.Error(codes.InvalidArgument, err.Error()), secrets...)
		}
		if sc.Database == "" {
			sc.Database = old.Database
		}
		if sc.Owner == "" {
			sc.Owner = old.Owner
		}
		if req.GetPreview() {
			s, err := marshalOutputs(sc.properties())
			return &pulumirpc.UpdateResponse{Properties: s}, p.fail(err, secrets...)
		}
		cfg, err := p.configured()
		if err != nil {
			return nil, err
		}
		conn, err := cfg.connect(ctx, sc.Database)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		defer conn.Close(context.Background())
		if err := updateSchema(ctx, conn, old, sc); err != nil {
			return nil, p.fail(err, secrets...)
		}
		got, found, err := readSchema(ctx, conn, sc)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if !found {
			return nil, p.fail(status.Errorf(codes.NotFound, "schema %s no longer exists", sc.Name))
		}
		s, err := marshalOutputs(got.properties())
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		return &pulumirpc.UpdateResponse{Properties: s}, nil

	default:
		return nil, unsupported(typ)
	}
}

// Delete drops the role (after reassigning and dropping what it owns) or
// the schema; one already gone counts as deleted.
func (p *Provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := props.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	secrets := props.SecretStrings(state)
	cfg, err := p.configured()
	if err != nil {
		return nil, err
	}
	ctx, done := p.opContext(ctx)
	defer done()
	var conn *pgx.Conn
	switch typ := resourceType(req.GetType(), req.GetUrn()); typ {
	case RoleType:
		r, err := roleFrom(state)
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if r.Name == "" {
			r.Name = req.GetId()
		}
		if conn, err = cfg.connect(ctx, ""); err != nil {
			return nil, p.fail(err, secrets...)
		}
		defer conn.Close(context.Background())
		if err := deleteRole(ctx, conn, r, cfg.DatabaseUsername); err != nil {
			return nil, p.fail(err, secrets...)
		}
	case SchemaType:
		sc, err := schemaFrom(state, req.GetId())
		if err != nil {
			return nil, p.fail(err, secrets...)
		}
		if conn, err = cfg.connect(ctx, sc.Database); err != nil {
			if isMissingDatabase(err) {
				return &emptypb.Empty{}, nil
			}
			return nil, p.fail(err, secrets...)
		}
		defer conn.Close(context.Background())
		if err := deleteSchema(ctx, conn, sc); err != nil {
			return nil, p.fail(err, secrets...)
		}
	default:
		return nil, unsupported(typ)
	}
	return &emptypb.Empty{}, nil
}

// Cancel aborts the operations in flight (their connections and statements).
func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancel()
	return &emptypb.Empty{}, nil
}
