package random

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/structpb"

	"matih.local/tools/standin-providers/internal/props"
)

const (
	secretSig  = "1b47061264138c4ac30d75fd1eb44270"
	unknownSig = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
	sigKey     = "4dabf18193072939515e22adb298388d"
)

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

func check(t *testing.T, p *Provider, news resource.PropertyMap) (*structpb.Struct, []*pulumirpc.CheckFailure) {
	t.Helper()
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Type: PasswordType, News: marshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetInputs(), resp.GetFailures()
}

func countIn(s, chars string) int {
	n := 0
	for _, c := range s {
		if strings.ContainsRune(chars, c) {
			n++
		}
	}
	return n
}

func TestGenerateHonoursClassesAndMinimums(t *testing.T) {
	cases := []Params{
		{Length: 40, Upper: true, Lower: true, Numeric: true},
		{Length: 32, Upper: true, Lower: true, Numeric: true, Special: true, MinUpper: 3, MinLower: 3, MinNumeric: 3, MinSpecial: 3},
		{Length: 12, Lower: true, Special: true, OverrideSpecial: "_%", MinSpecial: 4},
		{Length: 8, Numeric: true, MinUpper: 2}, // a minimum of a disabled class still applies, as upstream
		{Length: 1, Upper: true},
	}
	for _, p := range cases {
		allowed := p.charset()
		if p.MinUpper > 0 {
			allowed += UpperChars
		}
		for range 200 {
			got, err := Generate(p)
			if err != nil {
				t.Fatalf("%+v: %v", p, err)
			}
			if int64(len(got)) != p.Length {
				t.Fatalf("%+v: length %d", p, len(got))
			}
			if n := countIn(got, allowed); n != len(got) {
				t.Fatalf("%+v: %q has characters outside %q", p, got, allowed)
			}
			for _, m := range []struct {
				chars string
				min   int64
			}{{UpperChars, p.MinUpper}, {LowerChars, p.MinLower}, {NumericChars, p.MinNumeric}, {p.SpecialChars(), p.MinSpecial}} {
				if int64(countIn(got, m.chars)) < m.min {
					t.Fatalf("%+v: %q has fewer than %d of %q", p, got, m.min, m.chars)
				}
			}
		}
	}
}

func TestGenerateIsNotRepeatable(t *testing.T) {
	p := Params{Length: 40, Upper: true, Lower: true, Numeric: true}
	seen := map[string]bool{}
	for range 100 {
		got, err := Generate(p)
		if err != nil {
			t.Fatal(err)
		}
		if seen[got] {
			t.Fatalf("generated %q twice", got)
		}
		seen[got] = true
	}
}

func TestGenerateRejectsWhatUpstreamRejects(t *testing.T) {
	for _, p := range []Params{
		{Length: 0, Upper: true},
		{Length: 4, Upper: true, MinUpper: 3, MinLower: 2},
		{Length: 4},
		{Length: 4, Upper: true, MinLower: -1},
	} {
		if _, err := Generate(p); err == nil {
			t.Errorf("%+v: expected an error", p)
		}
	}
}

func TestCheckFillsDefaultsAndReportsFailures(t *testing.T) {
	p := New("test")
	inputs, failures := check(t, p, resource.PropertyMap{"length": props.Number(40), "special": resource.NewProperty(false)})
	if len(failures) != 0 {
		t.Fatalf("failures: %v", failures)
	}
	got := unmarshal(t, inputs)
	want := resource.PropertyMap{
		"length": props.Number(40), "special": resource.NewProperty(false), "upper": resource.NewProperty(true),
		"lower": resource.NewProperty(true), "numeric": resource.NewProperty(true), "number": resource.NewProperty(true),
		"minUpper": props.Number(0), "minLower": props.Number(0), "minNumeric": props.Number(0), "minSpecial": props.Number(0),
	}
	if !got.DeepEquals(want) {
		t.Fatalf("checked inputs\n got %v\nwant %v", got, want)
	}

	got = unmarshal(t, must(check(t, p, resource.PropertyMap{"length": props.Number(8), "number": resource.NewProperty(false)})))
	if v := got["numeric"]; !v.IsBool() || v.BoolValue() {
		t.Fatalf("number=false should set numeric=false, got %v", v)
	}

	for name, news := range map[string]resource.PropertyMap{
		"no length":         {},
		"too short":         {"length": props.Number(3), "minUpper": props.Number(2), "minLower": props.Number(2)},
		"empty charset":     {"length": props.Number(3), "upper": resource.NewProperty(false), "lower": resource.NewProperty(false), "numeric": resource.NewProperty(false), "special": resource.NewProperty(false)},
		"unknown property":  {"length": props.Number(8), "colour": resource.NewProperty("blue")},
		"number vs numeric": {"length": props.Number(8), "number": resource.NewProperty(false), "numeric": resource.NewProperty(true)},
	} {
		if _, failures := check(t, p, news); len(failures) == 0 {
			t.Errorf("%s: expected a check failure", name)
		}
	}
}

func must[T any](v T, _ []*pulumirpc.CheckFailure) T { return v }

func TestCreateReturnsTheResultAsASecret(t *testing.T) {
	p := New("test")
	inputs, failures := check(t, p, resource.PropertyMap{"length": props.Number(40), "special": resource.NewProperty(false)})
	if len(failures) != 0 {
		t.Fatalf("failures: %v", failures)
	}
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Type: PasswordType, Properties: inputs})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetId() != "none" {
		t.Fatalf("id %q, upstream's is none", resp.GetId())
	}
	// On the wire: the secret signature wrapping the value.
	for _, key := range []string{"result", "bcryptHash"} {
		wire := resp.GetProperties().GetFields()[key].GetStructValue()
		if wire.GetFields()[sigKey].GetStringValue() != secretSig {
			t.Fatalf("%s is not sent as a secret: %v", key, resp.GetProperties().GetFields()[key])
		}
	}
	outs := unmarshal(t, resp.GetProperties())
	if !outs["result"].IsSecret() {
		t.Fatal("result is not a secret")
	}
	result := outs["result"].SecretValue().Element.StringValue()
	if len(result) != 40 || countIn(result, UpperChars+LowerChars+NumericChars) != 40 {
		t.Fatalf("result %q: want 40 alphanumerics (special: false)", result)
	}
	hash := outs["bcryptHash"].SecretValue().Element.StringValue()
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(result)); err != nil {
		t.Fatalf("bcryptHash does not match the result: %v", err)
	}

	// Read returns the stored state unchanged.
	read, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Type: PasswordType, Id: "none", Properties: resp.GetProperties(), Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	if !unmarshal(t, read.GetProperties()).DeepEquals(outs) || read.GetId() != "none" {
		t.Fatal("Read changed the state")
	}
}

func TestPreviewCreateLeavesTheResultUnknown(t *testing.T) {
	p := New("test")
	inputs, _ := check(t, p, resource.PropertyMap{"length": props.Number(16)})
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Type: PasswordType, Properties: inputs, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if v := resp.GetProperties().GetFields()["result"].GetStringValue(); v != unknownSig {
		t.Fatalf("preview result %q, want unknown", v)
	}
}

func TestAnyInputChangeReplaces(t *testing.T) {
	p := New("test")
	inputs, _ := check(t, p, resource.PropertyMap{"length": props.Number(16), "keepers": resource.NewProperty(resource.PropertyMap{"k": resource.NewProperty("1")})})
	created, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Type: PasswordType, Properties: inputs})
	if err != nil {
		t.Fatal(err)
	}
	diff := func(news resource.PropertyMap) *pulumirpc.DiffResponse {
		t.Helper()
		checked, failures := check(t, p, news)
		if len(failures) != 0 {
			t.Fatalf("failures: %v", failures)
		}
		d, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Type: PasswordType, Id: "none", Olds: created.GetProperties(), News: checked})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	same := diff(resource.PropertyMap{"length": props.Number(16), "keepers": resource.NewProperty(resource.PropertyMap{"k": resource.NewProperty("1")})})
	if same.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("unchanged inputs differ: %v", same)
	}
	for key, news := range map[string]resource.PropertyMap{
		"length":  {"length": props.Number(17), "keepers": resource.NewProperty(resource.PropertyMap{"k": resource.NewProperty("1")})},
		"keepers": {"length": props.Number(16), "keepers": resource.NewProperty(resource.PropertyMap{"k": resource.NewProperty("2")})},
		"special": {"length": props.Number(16), "special": resource.NewProperty(false), "keepers": resource.NewProperty(resource.PropertyMap{"k": resource.NewProperty("1")})},
	} {
		d := diff(news)
		if d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) != 1 || d.GetReplaces()[0] != key {
			t.Fatalf("%s: want a replacement on %s, got %v", key, key, d)
		}
		if k := d.GetDetailedDiff()[key].GetKind(); k != pulumirpc.PropertyDiff_UPDATE_REPLACE {
			t.Fatalf("%s: detailed diff kind %v", key, k)
		}
	}
	unknown := diff(resource.PropertyMap{"length": resource.MakeComputed(resource.NewProperty("")), "keepers": resource.NewProperty(resource.PropertyMap{"k": resource.NewProperty("1")})})
	if len(unknown.GetReplaces()) != 1 {
		t.Fatalf("an unknown length must replace: %v", unknown)
	}
}

func TestImportTakesTheIDAsThePassword(t *testing.T) {
	p := New("test")
	resp, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Type: PasswordType, Id: "s3cret-Imported"})
	if err != nil {
		t.Fatal(err)
	}
	outs := unmarshal(t, resp.GetProperties())
	if resp.GetId() != "none" || !outs["result"].IsSecret() || outs["result"].SecretValue().Element.StringValue() != "s3cret-Imported" {
		t.Fatalf("import: id %q, outputs %v", resp.GetId(), resource.NewProperty(outs).RedactSecrets())
	}
	if n, _, _ := props.Int(outs, "length"); n != int64(len("s3cret-Imported")) {
		t.Fatalf("import length %d", n)
	}
}

func TestOtherTypesAreRefused(t *testing.T) {
	p := New("test")
	_, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Type: "random:index/randomString:RandomString", News: marshal(t, resource.PropertyMap{})})
	if err == nil || !strings.Contains(err.Error(), "implements only") {
		t.Fatalf("want a clear refusal, got %v", err)
	}
}
