// Command pulumi-resource-postgresql is a stand-in for the pulumi-postgresql
// resource plugin, which the Go module proxy here does not serve: it
// implements postgresql:index/role:Role and postgresql:index/schema:Schema
// against a real PostgreSQL. See the README beside go.mod.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"matih.local/tools/standin-providers/internal/postgresql"
	"matih.local/tools/standin-providers/internal/props"
)

// version is what GetPluginInfo reports; set it with
// -ldflags "-X main.version=...". The default names the upstream release the
// tenant program's @pulumi/postgresql asks for, marked as the stand-in.
var version = "3.18.1+standin"

func main() {
	err := provider.Main("postgresql", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		props.CapLogVerbosity()
		return postgresql.New(version), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
