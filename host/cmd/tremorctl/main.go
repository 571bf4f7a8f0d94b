// Command tremorctl inspects and (later) runs connector plugins.
//
//	tremorctl list-plugins [--json] [--plugin-path P] [PATH...]
//	tremorctl inspect [--json] [--plugin-path P] NAME
//
// PATH is a plugin file or a directory of *.so files. Without PATHs the
// search path is used: --plugin-path, then TREMOR_PLUGIN_PATH (both
// colon-separated), then the plugins directory next to the executable
// (<bin>/../plugins and <bin>/../lib/tremor/plugins). The current directory
// is never searched unless named.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"tremorhost/host/edge"
	"tremorhost/host/flow"
	"tremorhost/host/plugin"
)

func main() {
	crashWatchInit()
	os.Exit(exitWatched(run(os.Args[1:], os.Stdout, os.Stderr)))
}

const usage = `usage: tremorctl [--log-level LEVEL] [--log-format FORMAT] COMMAND [ARGS]

commands:
  run [--drain-timeout D] [--stats-interval D] [--api ADDR] [FLOW.toml]
        run a flow until its sources end or Ctrl-C, SIGTERM or SIGHUP; then
        wait up to D (default 10s, 0: for ever) for in-flight events; without
        FLOW.toml, run the built-in example flow; the summary goes to stderr;
        --api serves the admin API (as serve does) while it runs
  serve [--api ADDR] [--api-token-file FILE] [--drain-timeout D] [FLOW.toml | DIR ...]
        run every flow given (a directory: its *.toml) and the ones deployed
        through the admin API (default 127.0.0.1:9898: /metrics, /health,
        /ready, /api/flows, /api/reload) until SIGINT or SIGTERM; SIGHUP
        rereads the flow files; see tremorctl serve --help
  status [--api ADDR] [--watch]
        the flows of a running serve (or run --api) and their counters
  upgrade [--api ADDR] [--connect-timeout D] [PLUGIN]
        replace the running instances of PLUGIN (name or file; default: every
        plugin whose file changed) in a running serve by the new build in its
        file, without stopping a flow or losing an event
  validate FLOW.toml
        check a flow against the plugins found and create (then destroy)
        each connector, without connecting or running it
  list-plugins [--json] [--plugin-path P] [PATH...]
        list plugin files, their plugins and connector types; PATH is a
        plugin file or a directory of *.so files (default: the search path)
  inspect [--json] [--plugin-path P] NAME
        show a plugin (by plugin name, connector name or file path) and the
        config fields of its connector types
  check-plugin [--json] [--config CONNECTOR=JSON]... FILE
        check a plugin file against the plugin contract (descriptor,
        lifecycle, batches, error paths, leaks) in a child process; each
        finding names the rule it breaks (tremorctl check-plugin --help)
  new --lang c|rust|go [--prefix DIR] [--tremor-src DIR] NAME [DIR]
        create a plugin project (source and sink skeleton, build files, a
        test, a flow) in DIR (default ./NAME) that builds against the
        installed SDK; see tremorctl new -h
  version
        print tremorctl's version, the plugin ABI version and the Go version
        (also: tremorctl --version)
  help [COMMAND]
        this text, or COMMAND's options (also: tremorctl COMMAND --help)

The plugin search path is --plugin-path, then $TREMOR_PLUGIN_PATH (both
colon-separated), then <dir of tremorctl>/../plugins,
<dir of tremorctl>/../lib/tremor/plugins (an install's plugin directory:
pkg-config --variable=plugindir tremor-plugin) and, in a build tree,
<dir of tremorctl>/../install/lib/tremor/plugins. The current directory is
never searched unless named.

Logs go to stderr: --log-format text (human-readable), json, or auto (text
on a terminal, JSON otherwise; the default).
`

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("tremorctl", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() {
		if wantsHelp(args) {
			fmt.Fprint(stdout, usage) // asked for: not an error
			return
		}
		fmt.Fprint(stderr, usage)
	}
	c := &cli{stdout: stdout, stderr: stderr, level: "warn", format: "auto"}
	global.Var(levelFlag{c}, "log-level", "log level: trace, debug, info, warn, error")
	global.StringVar(&c.format, "log-format", c.format, "log format: auto, text or json")
	showVersion := global.Bool("version", false, "print the version and exit")
	if err := global.Parse(args); err != nil {
		return flagStatus(err)
	}
	if *showVersion {
		return c.printVersion(global.Args())
	}
	if global.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := global.Arg(0), global.Args()[1:]
	if cmd == "help" && len(rest) > 0 {
		cmd, rest = rest[0], []string{"--help"} // help CMD: that command's help
	}
	c.helpAsked = wantsHelp(rest)
	switch cmd {
	case "list-plugins":
		return c.listPlugins(rest)
	case "inspect":
		return c.inspect(rest)
	case "run":
		return c.runFlow(rest)
	case "serve":
		return c.serve(rest)
	case "status":
		return c.status(rest)
	case "upgrade":
		return c.upgrade(rest)
	case "validate":
		return c.validate(rest)
	case "check-plugin":
		return c.checkPlugin(rest)
	case "new":
		return c.newProject(rest)
	case "version":
		return c.printVersion(rest)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tremorctl: unknown command %q\n\n%s", cmd, usage)
	return 2
}

type cli struct {
	stdout, stderr io.Writer
	level          string
	levelSet       bool   // --log-level was given
	helpAsked      bool   // -h or --help: usage goes to stdout, exit 0
	format         string // --log-format
	pluginPath     string
	log            zerolog.Logger
}

// levelFlag is --log-level; it records that it was given.
type levelFlag struct{ c *cli }

func (f levelFlag) String() string {
	if f.c == nil {
		return "warn"
	}
	return f.c.level
}

func (f levelFlag) Set(s string) error {
	f.c.level, f.c.levelSet = s, true
	return nil
}

// flags returns a flag set with the options every command shares.
func (c *cli) flags(name, argsUsage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.pluginPath, "plugin-path", "", "colon-separated directories to search for plugins")
	fs.Var(levelFlag{c}, "log-level", "log level: trace, debug, info, warn, error")
	fs.StringVar(&c.format, "log-format", c.format, "log format: auto (text on a terminal, else JSON), text or json")
	fs.Usage = func() {
		if c.helpAsked {
			fs.SetOutput(c.stdout)
		}
		fmt.Fprintf(fs.Output(), "usage: tremorctl %s [options] %s\n\noptions:\n", name, argsUsage)
		printFlags(fs)
	}
	return fs
}

// parseArgs parses a command's options and arguments, sets up the log and
// checks that min to max arguments are left (max < 0: no limit). When ok
// is false the command returns status: a bad option or argument count
// printed the usage.
func (c *cli) parseArgs(fs *flag.FlagSet, args []string, min, max int) (rest []string, status int, ok bool) {
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, flagStatus(err), false
	}
	if err := c.setupLog(); err != nil {
		return nil, c.fail("%v", err), false
	}
	if len(rest) < min || max >= 0 && len(rest) > max {
		fs.Usage()
		switch {
		case len(rest) < min:
			fmt.Fprintf(c.stderr, "\ntremorctl %s: %d argument%s missing\n", fs.Name(), min-len(rest), plural(min-len(rest)))
		default:
			fmt.Fprintf(c.stderr, "\ntremorctl %s: too many arguments (%d, at most %d): %s\n", fs.Name(), len(rest), max, strings.Join(rest[max:], " "))
		}
		return nil, 2, false
	}
	return rest, 0, true
}

// runsFlows makes info the default log level of a command that runs flows
// (unless --log-level says otherwise): a running flow says what it does.
func (c *cli) runsFlows(fs *flag.FlagSet) {
	fs.Lookup("log-level").DefValue = "info"
	if c.level == "warn" && !c.levelSet {
		c.level = "info"
	}
}

// apiAddr checks an --api value a client command connects to.
func apiAddr(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("--api %q is not HOST:PORT (e.g. 127.0.0.1:9898)", addr)
	}
	return nil
}

// apiFlags declares --api, the admin API's address (addr by default), and
// --api-token-file, the file holding its bearer token.
func apiFlags(fs *flag.FlagSet, addr, apiUsage, tokenUsage string) (api, tokenFile *string) {
	api = fs.String("api", addr, apiUsage)
	tokenFile = fs.String("api-token-file", "", tokenUsage)
	return api, tokenFile
}

func (c *cli) setupLog() error {
	lvl, err := zerolog.ParseLevel(strings.ToLower(c.level))
	if err != nil || c.level == "" {
		return fmt.Errorf("--log-level %q: use trace, debug, info, warn or error", c.level)
	}
	var w io.Writer
	switch c.format {
	case "json":
		w = c.stderr
	case "text":
		w = zerolog.ConsoleWriter{Out: c.stderr, NoColor: true, TimeFormat: "15:04:05.000"}
	case "auto":
		w = c.stderr
		if f, ok := c.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: c.stderr, TimeFormat: "15:04:05.000"}
		}
	default:
		return fmt.Errorf("--log-format %q: use auto, text or json", c.format)
	}
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	// Values substituted into a flow (${VAR}, ${file:PATH}) are secrets:
	// no log line shows them, whatever logs it.
	c.log = zerolog.New(flow.RedactWriter(w)).Level(lvl).With().Timestamp().Logger()
	plugin.SetLogger(c.log)
	return nil
}

// searchPath is --plugin-path, TREMOR_PLUGIN_PATH and the directories next
// to the executable.
func (c *cli) searchPath() []string {
	dirs := plugin.SplitPath(c.pluginPath, "--plugin-path", c.log)
	dirs = append(dirs, plugin.SplitPath(os.Getenv(plugin.EnvPluginPath), plugin.EnvPluginPath, c.log)...)
	// The defaults may be missing (skipped); the named entries may not.
	return append(dirs, plugin.DefaultDirs()...)
}

// fail prints the operator's message; a plugin error among args is also
// logged in detail (result code, hook, plugin file) at debug level. Values
// substituted into a flow are redacted (flow.Redact, as serve does).
func (c *cli) fail(format string, args ...any) int {
	for _, a := range args {
		if err, ok := a.(error); ok && errors.As(err, new(*edge.Error)) {
			c.log.Debug().Func(edge.LogErr(c.log, err)).Msg("the plugin error in detail")
		}
	}
	fmt.Fprint(c.stderr, flow.Redact(fmt.Sprintf("tremorctl: "+format+"\n", args...)))
	return 1
}

func (c *cli) listPlugins(args []string) int {
	fs := c.flags("list-plugins", "[PATH...]")
	asJSON := fs.Bool("json", false, "print a JSON array, one object per plugin file")
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return flagStatus(err)
	}
	if err := c.setupLog(); err != nil {
		return c.fail("%v", err)
	}
	var files []string
	var searchErr error
	if len(paths) > 0 {
		files, searchErr = plugin.Search(paths, nil, c.log)
	} else {
		files, searchErr = plugin.Search(nil, c.searchPath(), c.log)
	}
	reg, loadErr := c.registry(files)
	if *asJSON {
		if err := writeJSON(c.stdout, listing(reg)); err != nil {
			return c.fail("%v", err)
		}
	} else {
		printTable(c.stdout, reg)
	}
	status := 0
	if searchErr != nil {
		fmt.Fprintf(c.stderr, "tremorctl: %v\n", searchErr)
		status = 1
	}
	if len(files) == 0 {
		fmt.Fprintln(c.stderr, "tremorctl: no plugin files found: name files or directories, or set --plugin-path or "+plugin.EnvPluginPath)
		status = 1
	}
	if loadErr != nil {
		status = 1
	}
	return status
}

func (c *cli) inspect(args []string) int {
	fs := c.flags("inspect", "NAME")
	asJSON := fs.Bool("json", false, "print JSON")
	rest, status, ok := c.parseArgs(fs, args, 1, 1)
	if !ok {
		return status
	}
	name := rest[0]
	type match struct {
		p    *plugin.Plugin
		only *plugin.Connector // set when NAME named a connector
	}
	var matches []match
	if st, err := os.Stat(name); err == nil && !st.IsDir() && (strings.ContainsRune(name, os.PathSeparator) || strings.HasSuffix(name, ".so")) {
		p, err := c.inspectFile(name)
		if err != nil {
			return c.fail("%v", err)
		}
		matches = append(matches, match{p: p})
	} else {
		dirs := c.searchPath()
		files, err := plugin.Search(nil, dirs, c.log)
		if err != nil {
			return c.fail("%v", err)
		}
		reg, _ := c.registry(files)
		for _, e := range reg.Entries {
			if e.Err != nil {
				c.log.Debug().Err(e.Err).Msg("skipping a plugin that failed to load")
				continue
			}
			if e.Plugin.Name == name {
				matches = append(matches, match{p: e.Plugin})
			} else if conn := e.Plugin.Connector(name); conn != nil {
				matches = append(matches, match{p: e.Plugin, only: conn})
			}
		}
		if len(matches) == 0 {
			var broken []string
			for _, e := range reg.Entries {
				if e.Err != nil {
					broken = append(broken, e.Err.Error())
				}
			}
			hint := ""
			if len(broken) > 0 {
				hint = "\n(files that failed to load:\n  " + strings.Join(broken, "\n  ") + ")"
			}
			return c.fail("no plugin or connector named %q in the plugin search path (%s): see tremorctl list-plugins%s", name, strings.Join(dirs, ":"), hint)
		}
	}
	var out []pluginJSON
	for i, m := range matches {
		j := describe(m.p, nil)
		if m.only != nil {
			j.Connectors = []connectorJSON{describeConnector(m.only)}
		}
		if *asJSON {
			out = append(out, j)
			continue
		}
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		printPlugin(c.stdout, j)
	}
	if *asJSON {
		if err := writeJSON(c.stdout, out); err != nil {
			return c.fail("%v", err)
		}
	}
	return 0
}

// parseInterleaved parses flags that may come before or after the
// positional arguments ("--" ends the flags) and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// printFlags is flag.PrintDefaults with the one spelling the usage texts
// use: --name.
func printFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage == "" {
			return // hidden
		}
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "0s" {
			if typ == "string" {
				d = strconv.Quote(d)
			}
			line += " (default " + d + ")"
		}
		fmt.Fprintln(fs.Output(), line)
	})
}

// wantsHelp says whether args ask for help (-h, -help or --help before "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// flagStatus is the exit status after a flag parsing error: 0 when help was
// asked for (the usage was printed), 2 otherwise.
func flagStatus(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func asLoadError(err error, target **plugin.LoadError) bool { return errors.As(err, target) }
