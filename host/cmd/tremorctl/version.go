package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"tremorhost/abi"
)

// version is stamped by scripts/build-go.sh (-ldflags "-X main.version=...",
// from scripts/version.sh); a plain go build leaves "devel".
var version = "devel"

// versionString is version, with the VCS revision go build recorded when
// the binary was not stamped.
func versionString() string {
	if version != "devel" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return "devel+g" + s.Value[:7]
			}
		}
	}
	return version
}

// printVersion is `tremorctl version` and `tremorctl --version`.
func (c *cli) printVersion(args []string) int {
	if wantsHelp(args) {
		fmt.Fprintln(c.stdout, "usage: tremorctl version\n\nprints tremorctl's version, the plugin ABI version and the Go version")
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(c.stderr, "tremorctl: version takes no arguments (got %q)\n", args)
		return 2
	}
	fmt.Fprintf(c.stdout, "tremorctl %s\nplugin ABI %s\n%s %s/%s\n",
		versionString(), abi.ABIVersionString, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
