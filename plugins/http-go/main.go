// Command http-go is the plugin "http", built as a c-shared library
// (libtremor_http.so) with pdk-go:
//
//   - http_server (source, bytes, guaranteed delivery): listens on url;
//     every request under path (a prefix) becomes one event whose payload is
//     the request body and whose metadata is {method, path, query, headers,
//     remote} (headers: an object of lower-case names to their first value).
//     The request is held until the runtime settles the event: 202 Accepted
//     once it is acked (delivered by every sink it was routed to, or
//     discarded on purpose), 503 when it failed, 504 when neither happened
//     within timeout_ms. It is a sink too: an event sent to it answers its
//     request 400 with the event as the body, so a flow that links the
//     server's err port back to it answers undecodable bodies 400 (a
//     plugin learns only that an event failed, never why). Each non-empty body is a stream of its own that
//     ends with the event, so a last line without a newline is framed
//     right away by the lines pre-processor.
//   - http_client (sink, bytes): sends every event's payload as the body of
//     one request (method, default POST) to url, with the configured
//     headers. 2xx: delivered (OK). 5xx, 408 and 429: not now (RETRY; the
//     rest of the batch waits, so order is kept). Other answers (3xx, 4xx):
//     FAILED. No answer (connection refused or lost): the events not yet
//     sent are RETRY and the sink asks to be reconnected; no answer within
//     timeout_ms: RETRY.
package main

import (
	"tremorhost/pdk-go"
)

func init() {
	pdk.Register(pdk.Plugin{
		Name:        "http",
		Version:     "0.1.0",
		Description: "HTTP server source (answers once the event is delivered) and HTTP client sink",
		License:     "Apache-2.0",
		Connectors: []pdk.ConnectorType{
			{
				Name:        "http_server",
				Description: "each request body is one event (meta: method, path, query, headers, remote, request_id). Ack: 202 once the event was delivered by every sink it was routed to (or discarded by a route); fail: 503 (a sink refused it, shutdown, or it could not be decoded and the err port is not linked back); 504 after timeout_ms. As a sink it answers 400 with the event as the body: link its err port back to it (through a pipeline) and undecodable bodies get 400",
				Kinds:       pdk.Source | pdk.Sink,
				Payload:     pdk.Bytes,
				Fields: []pdk.Field{
					pdk.StringField("url", pdk.Default(`"127.0.0.1:8080"`), pdk.Doc(`host:port to listen on`)),
					pdk.StringField("path", pdk.Default(`"/"`), pdk.Doc("only requests whose path starts with this prefix are taken; others get 404")),
					pdk.UintField("timeout_ms", pdk.Default("5000"), pdk.Doc("how long a request waits for its event to be delivered before it is answered 504")),
					pdk.UintField("max_body", pdk.Default("1048576"), pdk.Doc("largest request body in bytes; bigger ones get 413")),
				},
				New: pdk.New(newServer),
			},
			{
				Name:        "http_client",
				Description: "sends each event's payload as one request. Ack: the server answered 2xx. 5xx, 408, 429 and no answer are retried (in order, with backoff); other answers (3xx, 4xx) fail the event",
				Kinds:       pdk.Sink,
				Payload:     pdk.Bytes,
				Fields: []pdk.Field{
					pdk.StringField("url", pdk.Required, pdk.Doc(`where to send, e.g. "http://127.0.0.1:8080/events"`)),
					pdk.StringField("method", pdk.Default(`"POST"`), pdk.Doc("request method")),
					pdk.UintField("timeout_ms", pdk.Default("10000"), pdk.Doc("how long one request may take until its answer, before it is retried")),
					pdk.NewField("headers", pdk.TypeObject, pdk.Default("{}"), pdk.Doc(`headers of every request: {"name": "value"} or {"name": ["value", ...]}`)),
				},
				New: pdk.New(newClient),
			},
		},
	})
}

func main() {}

// optString returns key's string value, def when it is absent (or null),
// and a ConfigError when it holds anything else: the host checks types,
// but a plugin does not count on it.
func optString(cfg pdk.Config, key, def string) (string, error) {
	v, ok := cfg.Get(key)
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", pdk.ConfigError("field %q must be a string, not %T", key, v)
	}
	return s, nil
}

// optUint returns key's value when it is a non-negative integer, def when
// it is absent (or null), and a ConfigError when it holds anything else.
func optUint(cfg pdk.Config, key string, def uint64) (uint64, error) {
	v, ok := cfg.Get(key)
	if !ok || v == nil {
		return def, nil
	}
	u, ok := cfg.Uint(key)
	if !ok {
		return 0, pdk.ConfigError("field %q must be an unsigned integer, not %T %v", key, v, v)
	}
	return u, nil
}
