// Command tcp-go is the plugin "tcp", built as a c-shared library
// (libtremor_tcp.so) with pdk-go:
//
//   - tcp_server (source, bytes): listens on url; every read from an
//     accepted connection becomes one event, on a stream numbered after the
//     connection (1, 2, ...). When the peer closes the connection, an event
//     with an empty payload and TREMOR_EVENT_END_STREAM ends its stream, so
//     the host flushes a last line without a newline. Framing (lines,
//     length prefixes) is the job of the host's pre-processors.
//   - tcp_client (sink, bytes): connects to url and writes every payload
//     as-is; framing is the job of the host's post-processors. An event is
//     acked once the peer's TCP acknowledged all of its bytes (see
//     client.Send); what a write timeout abandons is sent again after
//     reconnecting, never acked.
package main

import (
	"net"

	"tremorhost/pdk-go"
)

func init() {
	pdk.Register(pdk.Plugin{
		Name:        "tcp",
		Version:     "0.1.0",
		Description: "TCP server source and TCP client sink",
		License:     "Apache-2.0",
		Connectors: []pdk.ConnectorType{
			{
				Name:        "tcp_server",
				Description: "listens for TCP connections; each read becomes an event, one stream per connection, ended by an empty END_STREAM event when the peer closes. No delivery tracking: TCP has no way to tell the sender, so an ack or fail changes nothing and the peer is never asked to resend",
				Kinds:       pdk.Source,
				Payload:     pdk.Bytes,
				Framing:     "lines", // a byte stream: one event per line unless the flow says otherwise
				Fields: []pdk.Field{
					pdk.StringField("url", pdk.Required, pdk.Doc(`host:port to listen on, e.g. "127.0.0.1:4242"`)),
					pdk.UintField("buf_size", pdk.Default("8192"), pdk.Doc("bytes read at most per event")),
				},
				New: pdk.New(newServer),
			},
			{
				Name:        "tcp_client",
				Description: "connects to a TCP server and writes each event's payload as-is. Ack: the peer's TCP acknowledged every byte of the event (it reached the peer's kernel, not necessarily its application). Events not acknowledged within write_timeout_ms are retried after reconnecting (the connection is reset); one round trip per batch",
				Kinds:       pdk.Sink,
				Payload:     pdk.Bytes,
				Framing:     "lines",
				Fields: []pdk.Field{
					pdk.StringField("url", pdk.Required, pdk.Doc(`host:port to connect to, e.g. "127.0.0.1:4242"`)),
					pdk.UintField("connect_timeout_ms", pdk.Default("1000"), pdk.Doc("how long one connect attempt may take")),
					pdk.UintField("write_timeout_ms", pdk.Default("2000"), pdk.Doc("how long writing one batch and its acknowledgement by the peer may take before the connection counts as lost")),
				},
				New: pdk.New(newClient),
			},
		},
	})
}

func main() {}

// hostPort checks a url config field: "host:port".
func hostPort(cfg pdk.Config) (string, error) {
	url, err := cfg.RequireString("url")
	if err != nil {
		return "", err
	}
	if _, _, err := net.SplitHostPort(url); err != nil {
		return "", pdk.ConfigError("url %q is not host:port: %v", url, err)
	}
	return url, nil
}
