package pdktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// BuildGoPlugin builds the Go plugin package in pkgDir the way
// scripts/build-go.sh does (go build -buildmode=c-shared) into out, and
// returns out.
func BuildGoPlugin(pkgDir, out string) (string, error) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -buildmode=c-shared in %s: %v\n%s", pkgDir, err, b)
	}
	os.Remove(strings.TrimSuffix(out, ".so") + ".h")
	return out, nil
}

// ExportedSymbols lists the dynamic symbols a shared library defines (nm -D
// --defined-only), or an error when nm is missing.
func ExportedSymbols(path string) ([]string, error) {
	nm, err := exec.LookPath("nm")
	if err != nil {
		return nil, fmt.Errorf("nm not found (it lists what %s exports): install binutils, e.g. sudo apt-get install binutils (scripts/bootstrap.sh does it as root)", path)
	}
	var stderr strings.Builder
	cmd := exec.Command(nm, "-D", "--defined-only", path)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nm -D %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var syms []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			syms = append(syms, f[2])
		}
	}
	return syms, nil
}

// BuildRunner compiles testdata/runner.c (a plain C program that loads a
// plugin and pipes one of its sources into one of its sinks) into out with
// the system C compiler, and returns out.
func BuildRunner(out string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("pdktest: cannot locate the package sources")
	}
	dir := filepath.Dir(file)
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	cmd := exec.Command(cc, "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Werror",
		"-I", filepath.Join(dir, "..", "..", "include"), "-I", dir,
		"-o", out, filepath.Join(dir, "testdata", "runner.c"), filepath.Join(dir, "driver.c"), "-ldl", "-lpthread")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	return out, nil
}
