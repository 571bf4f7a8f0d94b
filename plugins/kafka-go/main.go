// Command kafka-go is the plugin "kafka", built as a c-shared library
// (libtremor_kafka.so) with pdk-go and franz-go:
//
//   - kafka_source (source, bytes, acks): a member of a consumer group.
//     Each record is one event, its payload the record's value and its meta
//     {"kafka": {topic, partition, offset, key, timestamp_ms, headers}}.
//     Offsets are committed per partition only over records whose events
//     were all acked (at least once); a failed event is offered again, or
//     skipped with on_fail = "skip".
//   - kafka_sink (sink, bytes): produces each event (idempotent producer,
//     acks=all) and reports each one's own produce result.
//
// docs/scale-out.md says how to run several hosts in one group.
package main

import "tremorhost/pdk-go"

func init() {
	brokers := pdk.StringField("brokers", pdk.Required, pdk.Doc(`comma-separated bootstrap brokers, e.g. "127.0.0.1:9092"`))
	pdk.Register(pdk.Plugin{
		Name:        "kafka",
		Version:     "0.1.0",
		Description: "Apache Kafka consumer-group source and producing sink",
		License:     "Apache-2.0",
		Connectors: []pdk.ConnectorType{
			{
				Name:        "kafka_source",
				Description: "joins a Kafka consumer group and emits each record of its partitions (meta kafka.topic/partition/offset/key/timestamp_ms/headers). Ack: the offset is committed once every earlier event of the partition is acked too (at least once: a crash re-reads what was not committed). Fail: the record is offered again (on_fail = \"redeliver\") or counted as done (\"skip\"). A revoked partition commits what is safe; its other events go to the next owner",
				Kinds:       pdk.Source,
				Payload:     pdk.Bytes,
				Fields: []pdk.Field{
					brokers,
					pdk.StringField("topics", pdk.Required, pdk.Doc("comma-separated topics to consume")),
					pdk.StringField("group_id", pdk.Required, pdk.Doc("the consumer group; hosts with the same group share the partitions")),
					pdk.UintField("session_timeout_ms", pdk.Default("6000"), pdk.Doc("a member silent this long is dropped and its partitions reassigned (the broker's group.min.session.timeout.ms, 6000 by default, is the floor)")),
					pdk.UintField("heartbeat_ms", pdk.Default("1000"), pdk.Doc("heartbeat interval, below session_timeout_ms")),
					pdk.UintField("fetch_max_wait_ms", pdk.Default("500"), pdk.Doc("how long the broker may hold a fetch that has no data")),
					pdk.StringField("start_from", pdk.Default(`"earliest"`), pdk.Doc(`where a group without committed offsets starts: "earliest" or "latest"`)),
					pdk.StringField("on_fail", pdk.Default(`"redeliver"`), pdk.Doc(`a failed event: "redeliver" (offered again) or "skip" (committed past, logged)`)),
					pdk.BoolField("meta", pdk.Default("true"), pdk.Doc("give each event its meta kafka.*; false reads about 1.4-1.6x faster when nothing downstream needs it")),
				},
				New: pdk.New(newSource),
			},
			{
				Name:        "kafka_sink",
				Description: "produces each event's payload as one record (idempotent producer, acks=all); topic from config or meta kafka.topic, key and headers from meta kafka.key/kafka.headers; key-less records go round-robin over the partitions. Ack: the broker confirmed the record. Retriable errors and send_timeout_ms: RETRY (may land twice); other errors: FAILED",
				Kinds:       pdk.Sink,
				Payload:     pdk.Bytes,
				Fields: []pdk.Field{
					brokers,
					pdk.StringField("topic", pdk.Default(`""`), pdk.Doc("the topic; empty: each event's meta kafka.topic")),
					pdk.UintField("send_timeout_ms", pdk.Default("5000"), pdk.Doc("how long a batch's records may take to be confirmed (100-8000)")),
				},
				New: pdk.New(newSink),
			},
		},
	})
}

func main() {}
