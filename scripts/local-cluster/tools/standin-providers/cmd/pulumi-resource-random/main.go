// Command pulumi-resource-random is a stand-in for the pulumi-random resource
// plugin, which the Go module proxy here does not serve: it implements
// random:index/randomPassword:RandomPassword only. See the README beside go.mod.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"matih.local/tools/standin-providers/internal/props"
	"matih.local/tools/standin-providers/internal/random"
)

// version is what GetPluginInfo reports; set it with
// -ldflags "-X main.version=...". The default names the upstream release the
// tenant program's @pulumi/random asks for, marked as the stand-in.
var version = "4.21.2+standin"

func main() {
	err := provider.Main("random", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		props.CapLogVerbosity()
		return random.New(version), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
