// Command nats-go is the plugin "nats", built as a c-shared library
// (libtremor_nats.so) with pdk-go and nats.go:
//
//   - nats_source (source, bytes, acks): pulls from a durable JetStream
//     consumer, which several hosts may share (each message goes to one of
//     them). Each message is one event (meta nats.subject, stream_seq,
//     delivered, headers); an ack acks the message, a fail naks it so
//     JetStream delivers it again. Unacked messages are redelivered after
//     ack_wait_ms, also when a host crashes (at least once).
//   - nats_sink (sink, bytes): publishes each event to a subject that a
//     stream captures and waits for JetStream's publish ack.
package main

import "tremorhost/pdk-go"

func init() {
	url := pdk.StringField("url", pdk.Default(`"nats://127.0.0.1:4222"`), pdk.Doc("NATS server URL(s), comma-separated"))
	pdk.Register(pdk.Plugin{
		Name:        "nats",
		Version:     "0.1.0",
		Description: "NATS JetStream source (durable pull consumer) and publishing sink",
		License:     "Apache-2.0",
		Connectors: []pdk.ConnectorType{
			{
				Name:        "nats_source",
				Description: "pulls messages from a durable JetStream consumer (created when missing; hosts sharing it share the messages). Ack: the message is acked. Fail: it is nak'ed and JetStream delivers it again. Not acked within ack_wait_ms (a crashed host): delivered again (at least once)",
				Kinds:       pdk.Source,
				Payload:     pdk.Bytes,
				Fields: []pdk.Field{
					url,
					pdk.StringField("stream", pdk.Required, pdk.Doc("the JetStream stream")),
					pdk.StringField("durable", pdk.Required, pdk.Doc("the durable consumer's name; hosts with the same name share its messages")),
					pdk.StringField("filter_subject", pdk.Default(`""`), pdk.Doc("only messages of this subject (empty: all of the stream)")),
					pdk.UintField("ack_wait_ms", pdk.Default("30000"), pdk.Doc("a message not acked this long is delivered again")),
					pdk.UintField("max_ack_pending", pdk.Default("8192"), pdk.Doc("the durable consumer's limit of messages delivered and not yet acked, over all hosts sharing it (1-1048576)")),
				},
				New: pdk.New(newSource),
			},
			{
				Name:        "nats_sink",
				Description: "publishes each event's payload to subject and waits for JetStream's publish ack. Ack: the stream stored it. No stream for the subject: FAILED. No answer within send_timeout_ms, or no connection: RETRY (may be stored twice)",
				Kinds:       pdk.Sink,
				Payload:     pdk.Bytes,
				Fields: []pdk.Field{
					url,
					pdk.StringField("subject", pdk.Required, pdk.Doc("the subject to publish to (a stream must capture it)")),
					pdk.UintField("send_timeout_ms", pdk.Default("5000"), pdk.Doc("how long a batch's publish acks may take (100-8000)")),
				},
				New: pdk.New(newSink),
			},
		},
	})
}

func main() {}
