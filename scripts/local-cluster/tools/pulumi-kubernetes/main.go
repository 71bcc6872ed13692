// The provider's own main (provider/cmd/pulumi-resource-kubernetes), which
// embeds a schema that upstream generates at build time: the build script
// writes schema-embed.json and terraform-mapping-embed.json beside this file
// from the module's schema.json, as upstream's generate.go does.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
