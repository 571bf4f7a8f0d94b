package service

import (
	"tremorhost/host/flow"

	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// DefaultAddr is where the API listens unless told otherwise: loopback.
const DefaultAddr = "127.0.0.1:9898"

// MaxBody bounds a request body (a flow file).
const MaxBody = 1 << 20

// PluginInfo is one loaded plugin, for tremor_plugin_info.
type PluginInfo struct {
	Name, Version, ABI, SDK, SHA256 string
}

// APIOptions configures the admin API.
type APIOptions struct {
	Addr      string
	TokenFile string // bearer token for POST, DELETE and reload; required off loopback
	Plugins   func() []PluginInfo
	Log       zerolog.Logger
}

// API is the admin HTTP server of a Manager.
type API struct {
	m     *Manager
	opts  APIOptions
	token string
	srv   *http.Server
	ln    net.Listener
}

// Loopback reports whether addr (host:port) binds only loopback addresses.
// An empty host or 0.0.0.0 binds every interface.
func Loopback(addr string) (bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && port == "" {
		err = errors.New("no port") // Listen would take any free one
	}
	if err != nil {
		return false, fmt.Errorf("--api %q: %v; write HOST:PORT, e.g. %s", addr, err, DefaultAddr)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// NewAPI checks the options and binds the address; Serve serves it. A
// non-loopback address without a token file is refused before anything is
// bound.
func NewAPI(m *Manager, opts APIOptions) (*API, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	loop, err := Loopback(opts.Addr)
	if err != nil {
		return nil, err
	}
	a := &API{m: m, opts: opts}
	if opts.TokenFile != "" {
		data, err := ReadTokenFile(opts.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("--api-token-file: %w", err)
		}
		a.token = strings.TrimSpace(string(data))
		if a.token == "" {
			return nil, fmt.Errorf("--api-token-file %s is empty: write a long random token in it (e.g. openssl rand -hex 32)", opts.TokenFile)
		}
	} else if !loop {
		return nil, fmt.Errorf("--api %s is not a loopback address: anyone who can reach it could deploy and delete flows; give --api-token-file FILE (a bearer token), or bind 127.0.0.1", opts.Addr)
	}
	a.ln, err = net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("--api %s: %w; pick a free port with --api HOST:PORT", opts.Addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{m: m, plugins: opts.Plugins}, &pluginCollector{m: m})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /ready", a.ready)
	mux.HandleFunc("GET /api/flows", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, m.Flows()) })
	mux.HandleFunc("GET /api/flows/{name}", a.getFlow)
	mux.HandleFunc("POST /api/flows", a.auth(a.deploy))
	mux.HandleFunc("DELETE /api/flows/{name}", a.auth(a.deleteFlow))
	mux.HandleFunc("POST /api/reload", a.auth(a.reload))
	mux.HandleFunc("POST /api/plugins/upgrade", a.auth(a.upgrade))
	// Unknown paths and methods are answered in JSON too, saying what to
	// use instead.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, method := range []string{"GET", "POST", "DELETE"} {
			probe := r.Clone(r.Context())
			probe.Method = method
			if _, p := mux.Handler(probe); p != "/" && p != "" {
				allow = append(allow, method)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s (the endpoints are /metrics, /health, /ready, /api/flows, /api/flows/NAME, /api/reload and /api/plugins/upgrade)", r.Method, r.URL.Path))
	})
	// A request must arrive whole within 30 s, and an idle connection is
	// closed after a minute, so that clients that stall hold nothing for
	// ever; answers have no limit (a DELETE waits out its flow's drain).
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	return a, nil
}

// maxTokenFile bounds the token file: a token, not a data set.
const maxTokenFile = 64 << 10

// ReadTokenFile reads the API's bearer token file, which must be a regular
// file that only its owner can read and write (as plugin files must be
// writable only by their owner): anyone else who could read it could
// deploy flows, and anyone who could write it could lock the owner out or
// let themselves in.
func ReadTokenFile(path string) ([]byte, error) {
	return flow.ReadRegular(path, maxTokenFile, "an API token file",
		"write the token in a file (e.g. openssl rand -hex 32 > FILE; chmod 600 FILE)",
		"it should hold one token (e.g. openssl rand -hex 32)",
		func(st os.FileInfo) error {
			if perm := st.Mode().Perm(); perm&0o066 != 0 {
				return fmt.Errorf("refusing %s: it is readable or writable by group or others (mode %04o), so they could use the token or change it; fix with: chmod 600 %s", path, perm, path)
			}
			return nil
		})
}

// Addr is the address bound (with the port chosen when it was 0).
func (a *API) Addr() string { return a.ln.Addr().String() }

// Serve serves until Shutdown; it returns nil then.
func (a *API) Serve() error {
	a.opts.Log.Info().Str("addr", a.Addr()).Bool("token", a.token != "").Msg("admin API listening")
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops serving.
func (a *API) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// auth requires the bearer token, when one is set.
func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tremor"`)
				writeError(w, http.StatusUnauthorized, "this request needs the API token: send Authorization: Bearer <the token in --api-token-file>")
				return
			}
		}
		h(w, r)
	}
}

func (a *API) ready(w http.ResponseWriter, _ *http.Request) {
	if a.m.Closing() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "shutting_down": true})
		return
	}
	if down := a.m.NotReady(); len(down) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "not_connected": down})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

func (a *API) getFlow(w http.ResponseWriter, r *http.Request) {
	f, ok := a.m.Flow(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no flow %q (GET /api/flows lists them)", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (a *API) deploy(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the flow is larger than %d bytes", MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the request: "+err.Error())
		return
	}
	file := "(POST /api/flows)"
	if n := r.URL.Query().Get("file"); n != "" {
		file = n // a name for messages only; nothing is read from it
	}
	name, err := a.m.Deploy(file, data)
	switch {
	case errors.Is(err, ErrShuttingDown):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, ErrExists):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "the flow does not validate", "errors": strings.Split(err.Error(), "\n")})
	default:
		f, _ := a.m.Flow(name)
		writeJSON(w, http.StatusCreated, f)
	}
}

func (a *API) deleteFlow(w http.ResponseWriter, r *http.Request) {
	f, err := a.m.Delete(r.PathValue("name"))
	switch {
	case errors.Is(err, ErrDeleting):
		writeError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (a *API) reload(w http.ResponseWriter, _ *http.Request) {
	if a.m.Closing() {
		writeError(w, http.StatusServiceUnavailable, ErrShuttingDown.Error())
		return
	}
	res := a.m.Reload()
	code := http.StatusOK
	if len(res.Refused) > 0 {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, res)
}

// upgrade replaces the running instances of ?plugin=NAME (every changed
// plugin without it) by the new build of its file; ?connect_timeout=D
// bounds the new instances' connect.
func (a *API) upgrade(w http.ResponseWriter, r *http.Request) {
	timeout := DefaultConnectTimeout
	if s := r.URL.Query().Get("connect_timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("connect_timeout %q: give a positive duration such as 30s", s))
			return
		}
		timeout = d
	}
	res, err := a.m.Upgrade(r.URL.Query().Get("plugin"), timeout)
	switch {
	case errors.Is(err, ErrNoSuchPlugin):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrNoUpgrades):
		writeError(w, http.StatusNotImplemented, err.Error())
	case err != nil:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": ErrUpgradeRefused.Error(), "errors": res.Errors, "rolled_back": res.RolledBack})
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// writeJSON answers with v as JSON. Values substituted into flows
// (${VAR}) are redacted here as in the log: a flow's name or file may hold
// one, and reads need no token.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(flow.RedactWriter(w))
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
