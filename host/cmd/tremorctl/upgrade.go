package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tremorhost/host/catalog"
	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
	"tremorhost/host/service"
)

// upgrade asks a running `tremorctl serve` to replace the running
// instances of PLUGIN (every plugin whose file changed, without it) by the
// new build in its file (POST /api/plugins/upgrade).
func (c *cli) upgrade(args []string) int {
	fs := c.flags("upgrade", "[PLUGIN]")
	api, tokenFile := apiFlags(fs, service.DefaultAddr, "address of the admin API of tremorctl serve (HOST:PORT)",
		"file holding the API's bearer token (when serve has one)")
	connect := fs.Duration("connect-timeout", service.DefaultConnectTimeout, "how long the new build may take to connect (within each connector's reconnect policy) before the upgrade is rolled back")
	rest, status, ok := c.parseArgs(fs, args, 0, 1)
	if !ok {
		return status
	}
	if err := apiAddr(*api); err != nil {
		return c.fail("%v", err)
	}
	if *connect <= 0 {
		return c.fail("--connect-timeout %s: use a positive duration", *connect)
	}
	q := url.Values{"connect_timeout": {connect.String()}}
	if len(rest) == 1 {
		q.Set("plugin", rest[0])
	}
	req, err := http.NewRequest("POST", "http://"+*api+"/api/plugins/upgrade?"+q.Encode(), nil)
	if err != nil {
		return c.fail("--api %s: %v", *api, err)
	}
	if *tokenFile != "" {
		tok, err := service.ReadTokenFile(*tokenFile) // the client holds it to the same rule
		if err != nil {
			return c.fail("--api-token-file: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	// The answer comes once every old instance is drained: up to the
	// connect timeout plus the flows' drain timeout.
	client := &http.Client{Timeout: *connect + 5*time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return c.fail("%v; is tremorctl serve running there? (--api HOST:PORT)", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return c.fail("reading the answer of %s: %v", *api, err)
	}
	var ans struct {
		service.UpgradeResult
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return c.fail("%s: not an answer of a tremorctl API: %s", resp.Status, excerpt(body))
	}
	if resp.StatusCode != http.StatusOK {
		msg := ans.Error
		for _, e := range ans.Errors {
			msg += "\n  " + strings.ReplaceAll(e, "\n", "\n  ")
		}
		if ans.RolledBack {
			msg += "\n  (rolled back: the new instances were destroyed, the old ones never stopped)"
		}
		return c.fail("%s", msg)
	}
	if len(ans.Upgraded) == 0 {
		fmt.Fprintln(c.stdout, "nothing to upgrade: every running connector already runs the build its plugin file holds")
		return 0
	}
	code := 0
	for _, u := range ans.Upgraded {
		if u.Error != "" && u.Switched {
			// The old instance is gone: the connector runs the new build,
			// or nothing.
			fmt.Fprintf(c.stdout, "%s/%s: switched to %s %s, then failed: %s; the connector has given up, which fails its flow (tremorctl status): fix the build, then redeploy the flow\n",
				u.Flow, u.Connector, u.To.Plugin, u.To.Version, u.Error)
			code = 1
			continue
		}
		if u.Error != "" && u.Pending {
			fmt.Fprintf(c.stdout, "%s/%s: switch pending: %s\n", u.Flow, u.Connector, u.Error)
			code = 1
			continue
		}
		if u.Error != "" {
			fmt.Fprintf(c.stdout, "%s/%s: not switched: %s\n", u.Flow, u.Connector, u.Error)
			code = 1
			continue
		}
		fmt.Fprintf(c.stdout, "%s/%s: %s %s -> %s (paused %s, %d events settled on the old build, %d failed back)\n",
			u.Flow, u.Connector, u.To.Plugin, u.From.Version, u.To.Version, u.Pause.Round(time.Microsecond), u.Settled, u.FailedBack)
	}
	return code
}

// rescan is the service's view of the plugin files as they are now,
// checked exactly as at load; it refreshes tremor_plugin_info too.
func (c *cli) rescan(infos *pluginInfos) service.Rescan {
	return func() (runtime.Catalog, map[string]error, error) {
		files, err := plugin.Search(nil, c.searchPath(), c.log)
		if err != nil {
			return nil, nil, err
		}
		reg, loadErr := c.registry(files)
		if errors.Is(loadErr, isolate.ErrRunnerRefused) {
			return nil, nil, loadErr
		}
		refused := map[string]error{}
		for _, e := range reg.Entries {
			if e.Err != nil {
				abs := e.Path
				if e.Plugin != nil {
					abs = e.Plugin.Path
				} else if le, ok := errors.AsType[*plugin.LoadError](e.Err); ok {
					abs = le.Path
				}
				refused[abs] = e.Err
			}
		}
		infos.set(reg)
		return catalog.Plugins{Registry: reg}, refused, nil
	}
}
