package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"tremorhost/host/service"
)

// status prints the flows of a running `tremorctl serve` (or `run --api`)
// and their counters as a table, once or every --interval (--watch).
func (c *cli) status(args []string) int {
	fs := c.flags("status", "")
	api := fs.String("api", service.DefaultAddr, "address of the admin API (HOST:PORT)")
	watch := fs.Bool("watch", false, "redraw the table every --interval until Ctrl-C, with per-second rates")
	interval := fs.Duration("interval", 2*time.Second, "how often --watch redraws")
	if _, status, ok := c.parseArgs(fs, args, 0, 0); !ok {
		return status
	}
	if *interval <= 0 {
		return c.fail("--interval %s: use a positive duration", *interval)
	}
	if err := apiAddr(*api); err != nil {
		return c.fail("%v", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	url := "http://" + *api + "/api/flows"
	flows, err := fetchFlows(client, url)
	if err != nil {
		return c.fail("%v", err)
	}
	if !*watch {
		writeStatus(c.stdout, flows, nil, 0)
		return 0
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	// Rates are the counters' change between two samples over the time
	// between the two fetches.
	var prev []service.FlowStatus
	var prevAt time.Time
	at := time.Now()
	for {
		fmt.Fprint(c.stdout, "\033[H\033[2J") // clear the terminal
		fmt.Fprintf(c.stdout, "tremorctl status: %s  %s  (Ctrl-C quits)\n\n", *api, time.Now().Format("15:04:05"))
		writeStatus(c.stdout, flows, prev, at.Sub(prevAt))
		select {
		case <-sigs:
			return 0
		case <-tick.C:
		}
		prev, prevAt = flows, at
		if flows, err = fetchFlows(client, url); err != nil {
			return c.fail("%v", err)
		}
		at = time.Now()
	}
}

func fetchFlows(client *http.Client, url string) ([]service.FlowStatus, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("%v; is tremorctl serve (or run --api) running there? (--api HOST:PORT)", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, excerpt(body))
	}
	var flows []service.FlowStatus
	if err := json.Unmarshal(body, &flows); err != nil {
		return nil, fmt.Errorf("GET %s: not the flows list of a tremorctl API: %w", url, err)
	}
	return flows, nil
}

// excerpt is what a message quotes of an HTTP answer that is not the one
// expected: the API's own error when it is one, else the start of the
// body on one line (another server's error page can be megabytes).
func excerpt(body []byte) string {
	var apiErr struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &apiErr) == nil && apiErr.Error != "" {
		return apiErr.Error
	}
	const max = 200
	text := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " ")
	if len(text) <= max {
		return strconv.Quote(text)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes in all)", strconv.Quote(text[:cut]), len(body))
}

// writeStatus prints one row per connector; with prev (the previous
// sample, dt ago) the in and out columns carry rates per second. The
// version is the plugin file the connector runs now (a live upgrade
// changes it); "-" for a type built into the host.
func writeStatus(w io.Writer, flows, prev []service.FlowStatus, dt time.Duration) {
	if len(flows) == 0 {
		fmt.Fprintln(w, "no flows deployed")
		return
	}
	before := map[string][2]uint64{}
	for _, f := range prev {
		for _, c := range f.Connectors {
			before[f.Name+"/"+c.Connector] = [2]uint64{c.In, c.Out}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "flow\tstate\tconnector\ttype\tversion\tconnected\tpaused\tinflight\tin\tout\terrors\tacks\tfails\tdiscarded\t")
	for _, f := range flows {
		for _, c := range f.Connectors {
			in, out := fmt.Sprint(c.In), fmt.Sprint(c.Out)
			// A flow deployed again since starts from 0: no rate then.
			if p, ok := before[f.Name+"/"+c.Connector]; ok && dt > 0 && c.In >= p[0] && c.Out >= p[1] {
				in += fmt.Sprintf(" (%.0f/s)", float64(c.In-p[0])/dt.Seconds())
				out += fmt.Sprintf(" (%.0f/s)", float64(c.Out-p[1])/dt.Seconds())
			}
			version := c.Build.Version
			if version == "" {
				version = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t\n", f.Name, f.State, c.Connector, c.Type, version,
				yesNo(c.Connected), yesNo(c.Paused), c.Inflight, in, out, c.Errors, c.Acks, c.Fails, c.Discarded)
		}
	}
	tw.Flush()
	// Below the table, not in it: an error as a cell would widen its
	// column for every row.
	for _, f := range flows {
		if f.Error == "" {
			continue
		}
		if name := fmt.Sprintf("flow %q", f.Name); strings.HasPrefix(f.Error, name) {
			fmt.Fprintln(w, f.Error) // it names the flow already
		} else {
			fmt.Fprintf(w, "%s: %s\n", name, f.Error)
		}
	}
}
