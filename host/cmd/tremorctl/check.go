package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"tremorhost/host/conformance"
)

// check-plugin: the conformance check of host/conformance. The check runs
// in a child process (this executable again, in child mode), so that a
// plugin that crashes or hangs is reported instead of ending tremorctl.

// The child is this executable again: `tremorctl check-plugin --child`
// (hidden), which reads the options from stdin and reports on fd 3. (Not
// from an init function: a plugin thread calling back into Go during
// package initialisation would block until main starts.)

const checkUsage = `usage: tremorctl check-plugin [options] FILE

Checks a plugin file against the plugin contract (include/tremor/plugin.h):
the descriptor, then for every connector type the whole lifecycle (create,
connect, start, pulls into rooms of several sizes, sends of an empty and a
full batch, ack/fail, pause, resume, drain, stop, destroy), error paths
(on_create with a config the plugin must refuse, --bad-config; config
kinds are checked by the host, never by the plugin), the error buffer, log
calls, and repeated create/destroy for leaks. Each finding names the rule
it breaks. The checks run in a child process: a plugin that crashes or
hangs is reported with the step it was in. There, memory lent to a hook
(rooms, ids, the config, sent batches) is made inaccessible when the hook
returns, sent batches are read-only during on_send and the error buffer
ends at an inaccessible page: a kept pointer, a write into a sent batch or
past the error buffer faults at once and is reported by rule. Exit status: 0 when no rule is
broken (warnings allowed), 1 when one is, 2 for usage errors.

options:
  --config CONNECTOR=JSON   the config of a connector type, a JSON object
                            checked like a flow's config (declared defaults
                            fill the rest); needed for required fields, e.g.
                            --config file='{"path":"/tmp/x"}'. Repeat it for
                            the same connector to check several configs.
                            Values of fields the plugin declares secret are
                            never shown.
  --bad-config CONNECTOR=JSON
                            config fields, merged over each run's config,
                            that the plugin must refuse with
                            TREMOR_ERR_CONFIG and a message: values of the
                            declared kinds the host cannot judge, e.g.
                            --bad-config tcp_client='{"url":"nope"}'. The
                            error buffer's truncation (caps 7 and 0) is
                            checked on this path.
  --connector NAME          check only this connector type (repeatable)
  --json                    print the report as JSON
  --hook-timeout D          a hook that runs longer is reported as hung
                            (on_pull: its wait_ms plus D; default 10s;
                            time the check process spent waiting for a
                            CPU is not counted, and loading the plugin
                            always gets at least the default)
  --timeout D               bound for the whole check (default 5m)
  --leak-cycles N           create/destroy cycles of the leak check
                            (default 200; 0 skips it)
  --in-process              run the checks in this process (for debugging:
                            a crashing plugin ends tremorctl)
`

// configFlag is --config CONNECTOR=JSON, repeatable. A bad one is recorded
// rather than returned to the flag package, which would quote the whole
// argument in its message: the text may hold secrets, so the errors name
// the connector and what is wrong, never the text.
type configFlag struct {
	name   string // the flag, for messages: --config unless set
	byName map[string][]string
	errs   []string
}

func (c *configFlag) String() string { return "" }

func (c *configFlag) Set(s string) error {
	flag := c.name
	if flag == "" {
		flag = "--config"
	}
	name, text, ok := strings.Cut(s, "=")
	if !ok || name == "" || strings.ContainsAny(name, "{}\"\n") {
		c.errs = append(c.errs, flag+" wants CONNECTOR=JSON, e.g. file='{\"path\":\"/tmp/x\"}'; the argument is not shown, as it may hold secrets")
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		c.errs = append(c.errs, fmt.Sprintf("%s %s=...: not valid JSON%s; the text is not shown, as it may hold secrets", flag, name, jsonErrorAt(err)))
		return nil
	}
	if _, isObj := v.(map[string]any); !isObj {
		c.errs = append(c.errs, fmt.Sprintf("%s %s=...: must be a JSON object, {\"field\": value, ...}", flag, name))
		return nil
	}
	if c.byName == nil {
		c.byName = map[string][]string{}
	}
	c.byName[name] = append(c.byName[name], text)
	return nil
}

// last is the last config given for each connector.
func (c *configFlag) last() map[string]string {
	m := map[string]string{}
	for name, texts := range c.byName {
		m[name] = texts[len(texts)-1]
	}
	return m
}

// jsonErrorAt says where a JSON text went wrong without quoting any of it
// (encoding/json's messages quote the offending character).
func jsonErrorAt(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" at byte %d", se.Offset)
	}
	if strings.Contains(err.Error(), "unexpected end of JSON input") {
		return ": it ends too early"
	}
	return ""
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func (c *cli) checkPlugin(args []string) int {
	fs := c.flags("check-plugin", "FILE")
	fs.Usage = func() { fmt.Fprint(c.stderr, checkUsage) }
	configs := &configFlag{}
	var connectors listFlag
	fs.Var(configs, "config", "CONNECTOR=JSON config (repeatable)")
	fs.Var(&connectors, "connector", "check only this connector type (repeatable)")
	badConfigs := &configFlag{name: "--bad-config"}
	fs.Var(badConfigs, "bad-config", "CONNECTOR=JSON fields the plugin must refuse")
	asJSON := fs.Bool("json", false, "print JSON")
	hookTimeout := fs.Duration("hook-timeout", 10*time.Second, "hook time limit")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound for the whole check")
	leakCycles := fs.Int("leak-cycles", 200, "create/destroy cycles (0 skips)")
	inProcess := fs.Bool("in-process", false, "run in this process")
	child := fs.Bool("child", false, "") // hidden: the child side
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return flagStatus(err)
	}
	if *child {
		return conformance.RunChild()
	}
	if errs := append(configs.errs, badConfigs.errs...); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(c.stderr, "tremorctl: check-plugin: %s\n", e)
		}
		return 2
	}
	if err := c.setupLog(); err != nil {
		return c.fail("%v", err)
	}
	if len(rest) != 1 {
		fs.Usage()
		if len(rest) == 0 {
			fmt.Fprintln(c.stderr, "\ntremorctl check-plugin: name the plugin FILE to check")
		} else {
			fmt.Fprintf(c.stderr, "\ntremorctl check-plugin: one FILE at a time, not %d: %s\n", len(rest), strings.Join(rest, " "))
		}
		return 2
	}
	if _, err := os.Stat(rest[0]); errors.Is(err, os.ErrNotExist) {
		return c.fail("check-plugin: %s: no such file; name a plugin .so (build/plugins holds the bundled ones)", rest[0])
	} else if err != nil {
		return c.fail("check-plugin: %s: %v", rest[0], errors.Unwrap(err))
	}
	opts := conformance.Options{
		File:        rest[0],
		Configs:     configs.byName,
		BadConfigs:  badConfigs.last(),
		Connectors:  connectors,
		HookTimeout: *hookTimeout,
		Timeout:     *timeout,
		LeakCycles:  *leakCycles,
	}
	if *leakCycles <= 0 {
		opts.LeakCycles = -1
	}
	var rep *conformance.Report
	if *inProcess {
		rep = conformance.CheckInProcess(opts)
	} else {
		exe, err := os.Executable()
		if err != nil {
			return c.fail("check-plugin: cannot find this executable to run the checks in a child process: %v (use --in-process)", err)
		}
		rep, err = conformance.Check(opts, func() *exec.Cmd {
			return exec.Command(exe, "check-plugin", "--child")
		})
		if err != nil {
			return c.fail("check-plugin: %v", err)
		}
	}
	if *asJSON {
		if err := rep.WriteJSON(c.stdout); err != nil {
			return c.fail("%v", err)
		}
	} else {
		rep.WriteText(c.stdout)
	}
	return rep.ExitCode()
}
