package random

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"matih.local/tools/standin-providers/internal/props"
)

// PasswordType is the one resource type this stand-in implements.
const PasswordType = "random:index/randomPassword:RandomPassword"

// passwordID is the id upstream gives every RandomPassword.
const passwordID = "none"

// inputFields are RandomPassword's inputs; upstream replaces on any change.
var inputFields = []props.Field{
	{Name: "length", Replace: true},
	{Name: "special", Replace: true},
	{Name: "upper", Replace: true},
	{Name: "lower", Replace: true},
	{Name: "numeric", Replace: true},
	{Name: "number", Replace: true},
	{Name: "minUpper", Replace: true},
	{Name: "minLower", Replace: true},
	{Name: "minNumeric", Replace: true},
	{Name: "minSpecial", Replace: true},
	{Name: "overrideSpecial", Replace: true},
	{Name: "keepers", Replace: true},
}

// Provider serves pulumi-resource-random.
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	version string
}

// New returns the provider, reporting version from GetPluginInfo.
func New(version string) *Provider { return &Provider{version: version} }

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
		"the random stand-in implements only %s, not %q (the upstream provider is not available on this machine)", PasswordType, typ)
}

// GetPluginInfo reports the version the binary was built with.
func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.version}, nil
}

// GetSchema returns a small schema naming the package and its one resource.
func (p *Provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	boolean := map[string]any{"type": "boolean"}
	integer := map[string]any{"type": "integer"}
	str := map[string]any{"type": "string"}
	inputs := map[string]any{
		"length": integer, "special": boolean, "upper": boolean, "lower": boolean, "numeric": boolean,
		"number":   map[string]any{"type": "boolean", "deprecationMessage": "Use numeric instead."},
		"minUpper": integer, "minLower": integer, "minNumeric": integer, "minSpecial": integer,
		"overrideSpecial": str,
		"keepers":         map[string]any{"type": "object", "additionalProperties": str},
	}
	outputs := map[string]any{
		"result":     map[string]any{"type": "string", "secret": true},
		"bcryptHash": map[string]any{"type": "string", "secret": true},
	}
	for k, v := range inputs {
		outputs[k] = v
	}
	schema := map[string]any{
		"name":        "random",
		"version":     p.version,
		"description": "Stand-in for pulumi-random: RandomPassword only.",
		"resources": map[string]any{
			PasswordType: map[string]any{
				"inputProperties": inputs,
				"requiredInputs":  []string{"length"},
				"properties":      outputs,
				"required":        []string{"length", "result", "bcryptHash", "special", "upper", "lower", "numeric", "number", "minUpper", "minLower", "minNumeric", "minSpecial"},
			},
		},
	}
	b, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b)}, nil
}

// CheckConfig accepts any configuration: upstream has none.
func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig: there is no configuration to differ.
func (p *Provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// Configure accepts secrets and supports previews.
func (p *Provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

// Check validates the inputs and fills in upstream's defaults.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if typ := resourceType(req.GetType(), req.GetUrn()); typ != PasswordType {
		return nil, unsupported(typ)
	}
	news, err := props.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	failures := checkPassword(news)
	inputs, err := props.Marshal(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

func checkPassword(news resource.PropertyMap) props.CheckFailures {
	var failures props.CheckFailures
	for k := range news {
		switch k {
		case "length", "special", "upper", "lower", "numeric", "number", "minUpper", "minLower", "minNumeric", "minSpecial", "overrideSpecial", "keepers":
		default:
			if !resource.IsInternalPropertyKey(k) {
				failures.Add(string(k), "unknown property %q: the random stand-in implements RandomPassword's inputs only", k)
			}
		}
	}
	if !props.Present(news, "length") {
		failures.Add("length", "length is required")
	}
	for _, k := range []string{"special", "upper", "lower"} {
		props.Default(news, k, resource.NewProperty(true))
	}
	// numeric and its deprecated alias number are kept equal, as upstream.
	switch {
	case props.Present(news, "numeric") && !props.Present(news, "number"):
		news["number"] = news["numeric"]
	case props.Present(news, "number") && !props.Present(news, "numeric"):
		news["numeric"] = news["number"]
	case !props.Present(news, "number") && !props.Present(news, "numeric"):
		news["numeric"] = resource.NewProperty(true)
		news["number"] = resource.NewProperty(true)
	default:
		if !news.ContainsUnknowns() {
			a, _, errA := props.Bool(news, "numeric")
			b, _, errB := props.Bool(news, "number")
			if errA == nil && errB == nil && a != b {
				failures.Add("number", "number and numeric must be equal when both are set (number is the deprecated name of numeric)")
			}
		}
	}
	for _, k := range []string{"minUpper", "minLower", "minNumeric", "minSpecial"} {
		props.Default(news, k, resource.NewProperty(0.0))
	}
	if news.ContainsUnknowns() {
		return failures
	}
	if _, err := paramsOf(news); err != nil {
		failures.Add("", "%s", err.Error())
	}
	return failures
}

func paramsOf(m resource.PropertyMap) (Params, error) {
	var p Params
	var err error
	get := func(key string, dst *int64) {
		if err == nil {
			*dst, _, err = props.Int(m, key)
		}
	}
	getB := func(key string, dst *bool) {
		if err == nil {
			*dst, _, err = props.Bool(m, key)
		}
	}
	get("length", &p.Length)
	get("minUpper", &p.MinUpper)
	get("minLower", &p.MinLower)
	get("minNumeric", &p.MinNumeric)
	get("minSpecial", &p.MinSpecial)
	getB("upper", &p.Upper)
	getB("lower", &p.Lower)
	getB("numeric", &p.Numeric)
	getB("special", &p.Special)
	if err == nil {
		p.OverrideSpecial, _, err = props.String(m, "overrideSpecial")
	}
	if err == nil && props.Present(m, "keepers") {
		k := props.Unwrap(m["keepers"])
		if !k.IsObject() {
			err = fmt.Errorf("keepers: expected a map of strings, got %s", k.TypeString())
		}
	}
	if err != nil {
		return Params{}, err
	}
	return p, p.Validate()
}

// Diff: every input replaces, as upstream.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if typ := resourceType(req.GetType(), req.GetUrn()); typ != PasswordType {
		return nil, unsupported(typ)
	}
	olds, err := props.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := props.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	return props.Diff(olds, news, inputFields, req.GetIgnoreChanges()), nil
}

// Create generates the password; in a preview its outputs are unknown.
func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if typ := resourceType(req.GetType(), req.GetUrn()); typ != PasswordType {
		return nil, unsupported(typ)
	}
	inputs, err := props.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outs := inputs.Copy()
	if req.GetPreview() {
		outs["result"] = resource.MakeComputed(resource.NewProperty(""))
		outs["bcryptHash"] = resource.MakeComputed(resource.NewProperty(""))
		s, err := props.Marshal(outs)
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: s}, nil
	}
	params, err := paramsOf(inputs)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	password, err := Generate(params)
	if err != nil {
		return nil, err
	}
	hash, err := BcryptHash(password)
	if err != nil {
		return nil, props.Redact(err, password)
	}
	outs["result"] = resource.MakeSecret(resource.NewProperty(password))
	outs["bcryptHash"] = resource.MakeSecret(resource.NewProperty(hash))
	s, err := props.Marshal(outs)
	if err != nil {
		return nil, props.Redact(err, password)
	}
	return &pulumirpc.CreateResponse{Id: passwordID, Properties: s}, nil
}

// Read returns the stored state. With no state (an import), the id is the
// password, as upstream: the other inputs take their defaults and the
// length of the imported password.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if typ := resourceType(req.GetType(), req.GetUrn()); typ != PasswordType {
		return nil, unsupported(typ)
	}
	state, err := props.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if len(state) > 0 {
		return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
	}
	imported := req.GetId()
	if imported == "" {
		return &pulumirpc.ReadResponse{}, nil
	}
	hash, err := BcryptHash(imported)
	if err != nil {
		return nil, props.Redact(err, imported)
	}
	inputs := resource.PropertyMap{
		"length":  props.Number(len(imported)),
		"special": resource.NewProperty(true), "upper": resource.NewProperty(true), "lower": resource.NewProperty(true),
		"numeric": resource.NewProperty(true), "number": resource.NewProperty(true),
		"minUpper": props.Number(0), "minLower": props.Number(0), "minNumeric": props.Number(0), "minSpecial": props.Number(0),
	}
	outs := inputs.Copy()
	outs["result"] = resource.MakeSecret(resource.NewProperty(imported))
	outs["bcryptHash"] = resource.MakeSecret(resource.NewProperty(hash))
	so, err := props.Marshal(outs)
	if err != nil {
		return nil, props.Redact(err, imported)
	}
	si, err := props.Marshal(inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: passwordID, Properties: so, Inputs: si}, nil
}

// Update is never planned (every input replaces); should the engine ask,
// the state is kept with the new inputs, since nothing can change in place.
func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if typ := resourceType(req.GetType(), req.GetUrn()); typ != PasswordType {
		return nil, unsupported(typ)
	}
	olds, err := props.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := props.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	if d := props.Diff(olds, news, inputFields, req.GetIgnoreChanges()); len(d.GetDiffs()) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "RandomPassword cannot change %v in place; it must be replaced", d.GetDiffs())
	}
	outs := news.Copy()
	outs["result"] = olds["result"]
	outs["bcryptHash"] = olds["bcryptHash"]
	s, err := props.Marshal(outs)
	if err != nil {
		return nil, props.Redact(err, props.SecretStrings(olds)...)
	}
	return &pulumirpc.UpdateResponse{Properties: s}, nil
}

// Delete forgets the password: nothing exists outside the state.
func (p *Provider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Cancel: no operation of this provider runs long enough to cancel.
func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
