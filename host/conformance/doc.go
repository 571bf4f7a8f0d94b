// Package conformance checks a plugin file against the plugin contract
// (include/tremor/plugin.h): what `tremorctl check-plugin FILE` runs, for
// plugin authors before they ship.
//
// The check loads the plugin with the host's loader (every descriptor rule
// the loader enforces), reads the descriptor again for the rules it does
// not (reserved fields, defaults of required fields, a descriptor that
// changes), then, for every connector type and every config it is given
// (the declared defaults when none):
//
//   - the lifecycle in order: on_create, on_connect (attempt 1, 2, ... until
//     TREMOR_OK or a bound), on_start, pulls and sends, on_pause, on_resume,
//     more pulls and sends, on_drain, on_stop, on_destroy;
//   - sources: pulls into an empty room of 1 event, a tiny room (1 byte,
//     1 value node: TREMOR_ERR_NO_ROOM with bytes_needed / values_needed,
//     then the room grown as asked) and a normal room; every batch is
//     checked against every rule of tremor_batch, tremor_event and
//     tremor_value (lengths within caps, nothing written past a cap, spans
//     inside what was written, flags, ports, well-formed value trees,
//     reserved fields zero, ids unique among unacknowledged events); the
//     ids produced are acked and failed;
//   - sinks: an empty batch and a full one; outcomes valid, nothing
//     written past them, the batch left unmodified;
//   - every hook: only the result codes the header allows it, error
//     messages UTF-8, within cap (canaries after every buffer), including
//     caps of 7 and 0 bytes;
//   - on_create with Options.BadConfigs (a value the plugin must refuse;
//     kinds are the host's job): TREMOR_ERR_CONFIG with a message, into
//     error buffers of several caps;
//   - log calls: levels, UTF-8, never with a ctx after on_destroy;
//   - memory guards (in the child only, see guard.go): every hook gets
//     fresh mappings (a room per pull, the ids, the config, a sent batch and
//     its outcomes), poisoned and made inaccessible when it returns; a sent
//     batch is read-only during on_send; the error buffer ends at an
//     inaccessible page. A fault in one of them is reported by its rule
//     (memory.kept_pointer, send.read_only, error.cap), not as a crash;
//   - repeated create/destroy (200 times) without RSS or file descriptors
//     growing (a suspected leak is reported with the numbers).
//
// Every finding names the rule it checks (Rule, with a stable ID and the
// header's wording). Check runs all of this in a child process (the
// caller's executable in a hidden mode that calls RunChild), so that a
// plugin that crashes is reported as "crashed during <step>" and one that
// hangs as "hung during <step>"; the check then goes on with the next
// connector in a new child.
package conformance
