// Package props holds what both stand-in providers share: the property
// codec (the Pulumi SDK's, keeping secrets and unknowns), typed accessors
// that look through secret wrappers and accept the string forms the Node SDK
// sends for provider configuration, a detailed diff, and the redaction of
// secret values from error text.
package props

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

// MaxLogVerbosity is the highest -v level the stand-ins let through. The
// SDK's property codec traces every property it (un)marshals at level 9,
// including the plain value nested inside a secret's wrapper, so a plugin run
// with -v=9 would write passwords to its log. Capping the level keeps them
// out; nothing of the stand-ins' own is logged above it.
const MaxLogVerbosity = 8

// CapLogVerbosity applies MaxLogVerbosity. Call it once the SDK has parsed
// the plugin's flags (from the provider factory passed to provider.Main).
func CapLogVerbosity() {
	if logging.Verbose > MaxLogVerbosity {
		logging.Verbose = MaxLogVerbosity
	}
}

var codec = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

// Unmarshal decodes a gRPC struct, keeping secrets and unknowns and dropping nulls.
func Unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	m, err := plugin.UnmarshalProperties(s, codec)
	if err != nil {
		return nil, fmt.Errorf("decoding properties: %w", err)
	}
	return m, nil
}

// Marshal encodes a property map for gRPC, secrets as secrets and unknowns as unknowns.
func Marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	s, err := plugin.MarshalProperties(m, codec)
	if err != nil {
		return nil, fmt.Errorf("encoding properties: %w", err)
	}
	return s, nil
}

// Unwrap strips secret (and known output) wrappers, at any depth.
func Unwrap(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return Unwrap(v.SecretValue().Element)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return resource.MakeComputed(resource.NewProperty(""))
		}
		return Unwrap(o.Element)
	case v.IsArray():
		in := v.ArrayValue()
		out := make([]resource.PropertyValue, len(in))
		for i, e := range in {
			out[i] = Unwrap(e)
		}
		return resource.NewProperty(out)
	case v.IsObject():
		in := v.ObjectValue()
		out := make(resource.PropertyMap, len(in))
		for k, e := range in {
			out[k] = Unwrap(e)
		}
		return resource.NewProperty(out)
	}
	return v
}

// Present reports whether key holds a value (not absent, not null).
func Present(m resource.PropertyMap, key string) bool {
	v, ok := m[resource.PropertyKey(key)]
	return ok && !v.IsNull()
}

// Unknown reports whether key holds a value that is not known yet.
func Unknown(m resource.PropertyMap, key string) bool {
	v, ok := m[resource.PropertyKey(key)]
	return ok && v.ContainsUnknowns()
}

// String reads a string; ok is false when absent or null.
func String(m resource.PropertyMap, key string) (s string, ok bool, err error) {
	if !Present(m, key) {
		return "", false, nil
	}
	v := Unwrap(m[resource.PropertyKey(key)])
	switch {
	case v.IsString():
		return v.StringValue(), true, nil
	case v.IsNumber():
		return strconv.FormatFloat(v.NumberValue(), 'f', -1, 64), true, nil
	case v.IsBool():
		return strconv.FormatBool(v.BoolValue()), true, nil
	}
	return "", false, fmt.Errorf("%s: expected a string, got %s", key, v.TypeString())
}

// Bool reads a boolean; a string "true"/"false" (as the Node SDK sends
// provider configuration) is accepted.
func Bool(m resource.PropertyMap, key string) (b bool, ok bool, err error) {
	if !Present(m, key) {
		return false, false, nil
	}
	v := Unwrap(m[resource.PropertyKey(key)])
	switch {
	case v.IsBool():
		return v.BoolValue(), true, nil
	case v.IsString():
		b, err := strconv.ParseBool(strings.TrimSpace(v.StringValue()))
		if err != nil {
			return false, false, fmt.Errorf("%s: expected a boolean, got %q", key, v.StringValue())
		}
		return b, true, nil
	}
	return false, false, fmt.Errorf("%s: expected a boolean, got %s", key, v.TypeString())
}

// Int reads an integer; a numeric string is accepted.
func Int(m resource.PropertyMap, key string) (n int64, ok bool, err error) {
	if !Present(m, key) {
		return 0, false, nil
	}
	v := Unwrap(m[resource.PropertyKey(key)])
	switch {
	case v.IsNumber():
		f := v.NumberValue()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false, fmt.Errorf("%s: expected an integer, got %v", key, f)
		}
		return int64(f), true, nil
	case v.IsString():
		n, err := strconv.ParseInt(strings.TrimSpace(v.StringValue()), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: expected an integer, got %q", key, v.StringValue())
		}
		return n, true, nil
	}
	return 0, false, fmt.Errorf("%s: expected an integer, got %s", key, v.TypeString())
}

// StringList reads a list of strings.
func StringList(m resource.PropertyMap, key string) (list []string, ok bool, err error) {
	if !Present(m, key) {
		return nil, false, nil
	}
	v := Unwrap(m[resource.PropertyKey(key)])
	if !v.IsArray() {
		return nil, false, fmt.Errorf("%s: expected a list of strings, got %s", key, v.TypeString())
	}
	for i, e := range v.ArrayValue() {
		if !e.IsString() {
			return nil, false, fmt.Errorf("%s[%d]: expected a string, got %s", key, i, e.TypeString())
		}
		list = append(list, e.StringValue())
	}
	return list, true, nil
}

// StringsProperty builds a list property.
func StringsProperty(list []string) resource.PropertyValue {
	out := make([]resource.PropertyValue, len(list))
	for i, s := range list {
		out[i] = resource.NewProperty(s)
	}
	return resource.NewProperty(out)
}

// SecretStrings returns every string held inside a secret, at any depth, so
// that it can be kept out of error text.
func SecretStrings(m resource.PropertyMap) []string {
	var out []string
	var walk func(v resource.PropertyValue, inSecret bool)
	walk = func(v resource.PropertyValue, inSecret bool) {
		switch {
		case v.IsSecret():
			walk(v.SecretValue().Element, true)
		case v.IsOutput():
			walk(v.OutputValue().Element, inSecret || v.OutputValue().Secret)
		case v.IsString():
			if inSecret && v.StringValue() != "" {
				out = append(out, v.StringValue())
			}
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e, inSecret)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e, inSecret)
			}
		}
	}
	for _, v := range m {
		walk(v, false)
	}
	return out
}

// RedactedError is an error whose text has had secret values replaced.
type RedactedError struct{ msg string }

func (e *RedactedError) Error() string { return e.msg }

// Redact returns err with every occurrence of the given secrets replaced by
// "[secret]". The wrapped error is dropped, so nothing can reach the
// original text through errors.Unwrap.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	// Longest first, so a secret that contains another is replaced whole.
	sorted := slices.Clone(secrets)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, s := range sorted {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[secret]")
		}
	}
	var re *RedactedError
	if errors.As(err, &re) && re.msg == msg {
		return err
	}
	return &RedactedError{msg: msg}
}

// Field describes one input property for Diff.
type Field struct {
	Name string
	// Replace: a change replaces the resource.
	Replace bool
	// Set: a list compared without regard to order.
	Set bool
	// Computed: optional and computed; when the new inputs do not set it,
	// whatever the state holds stands (no diff).
	Computed bool
}

// Diff compares new inputs with the old state over the given fields, as the
// upstream (Terraform-based) providers do: an unknown new value is a change,
// secret wrappers are ignored, and each changed field is reported in
// detailedDiff as an update or a replacement.
func Diff(olds, news resource.PropertyMap, fields []Field, ignore []string) *pulumirpc.DiffResponse {
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	for _, f := range fields {
		if slices.Contains(ignore, f.Name) {
			continue
		}
		key := resource.PropertyKey(f.Name)
		oldV, hadOld := olds[key]
		hadOld = hadOld && !oldV.IsNull()
		newV, hasNew := news[key]
		hasNew = hasNew && !newV.IsNull()
		if !hasNew && f.Computed {
			continue
		}
		var kind pulumirpc.PropertyDiff_Kind
		switch {
		case !hadOld && !hasNew:
			continue
		case hasNew && newV.ContainsUnknowns():
			kind = pulumirpc.PropertyDiff_UPDATE
			if !hadOld {
				kind = pulumirpc.PropertyDiff_ADD
			}
		case !hadOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !hasNew:
			kind = pulumirpc.PropertyDiff_DELETE
		default:
			if equal(Unwrap(oldV), Unwrap(newV), f.Set) {
				continue
			}
			kind = pulumirpc.PropertyDiff_UPDATE
		}
		if f.Replace {
			kind = replaceKind(kind)
			resp.Replaces = append(resp.Replaces, f.Name)
		}
		resp.Diffs = append(resp.Diffs, f.Name)
		resp.DetailedDiff[f.Name] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	if len(resp.Diffs) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return resp
}

func replaceKind(k pulumirpc.PropertyDiff_Kind) pulumirpc.PropertyDiff_Kind {
	switch k {
	case pulumirpc.PropertyDiff_ADD:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case pulumirpc.PropertyDiff_DELETE:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	}
}

func equal(a, b resource.PropertyValue, asSet bool) bool {
	if asSet && a.IsArray() && b.IsArray() {
		return sameSet(a.ArrayValue(), b.ArrayValue())
	}
	return a.DeepEquals(b)
}

func sameSet(a, b []resource.PropertyValue) bool {
	key := func(list []resource.PropertyValue) []string {
		out := make([]string, 0, len(list))
		for _, v := range list {
			out = append(out, fmt.Sprintf("%T:%v", v.V, v.V))
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	return slices.Equal(key(a), key(b))
}

// CheckFailures collects input validation failures.
type CheckFailures []*pulumirpc.CheckFailure

// Add records a failure for a property.
func (f *CheckFailures) Add(property, format string, args ...any) {
	*f = append(*f, &pulumirpc.CheckFailure{Property: property, Reason: fmt.Sprintf(format, args...)})
}

// AddErr records an accessor error.
func (f *CheckFailures) AddErr(property string, err error) {
	if err != nil {
		f.Add(property, "%s", err.Error())
	}
}

// Default sets key to v when the inputs do not hold it.
func Default(m resource.PropertyMap, key string, v resource.PropertyValue) {
	if !Present(m, key) {
		m[resource.PropertyKey(key)] = v
	}
}

// Number is a numeric property.
func Number[T ~int | ~int64](n T) resource.PropertyValue {
	return resource.NewProperty(float64(n))
}
