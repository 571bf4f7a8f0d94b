package conformance

// Rule is one rule of the plugin contract (include/tremor/plugin.h) that a
// check enforces. ID is stable (tests and --json consumers match on it);
// Text quotes or names the header section or hook the rule comes from.
type Rule struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// The rules check-plugin checks, grouped as in the header. Each finding
// carries one of them.
var (
	// Loading: what the host's loader (host/plugin) refuses.
	RuleLoadFile       = Rule{"load.file", "the file is an ELF shared object for this machine that the dynamic loader can open"}
	RuleLoadEntry      = Rule{"load.entry", "the plugin exports tremor_plugin_get_descriptor (TREMOR_PLUGIN_ENTRY_SYMBOL)"}
	RuleLoadNull       = Rule{"load.descriptor_null", "tremor_plugin_get_descriptor: returns the plugin's descriptor; never NULL"}
	RuleLoadABI        = Rule{"load.abi", "rule 7 Versioning: a host of ABI major M, minor N loads a plugin built for major M and minor <= N"}
	RuleLoadStructSize = Rule{"load.struct_size", "rule 6 Layout: struct_size is sizeof(the struct the plugin was built with); readers never touch fields past it"}
	RuleLoadNames      = Rule{"load.names", "tremor_plugin_descriptor, tremor_connector_type, tremor_config_field: names are NUL-terminated, non-empty UTF-8; texts are UTF-8"}
	RuleLoadConnectors = Rule{"load.connectors", "tremor_plugin_descriptor.connectors: at least one connector type, names unique in the host"}
	RuleLoadKinds      = Rule{"load.kinds", "tremor_connector_type.kinds: TREMOR_KIND_* bits, at least one"}
	RuleLoadPayload    = Rule{"load.payload", "tremor_connector_type.payload: TREMOR_PAYLOAD_BYTES or TREMOR_PAYLOAD_STRUCTURED"}
	RuleLoadVTable     = Rule{"load.vtable", "tremor_connector_type.vtable: required"}
	RuleLoadHooks      = Rule{"load.hooks", "tremor_connector_vtable: on_create and on_destroy are required, on_pull is required for sources, on_send for sinks"}
	RuleLoadFields     = Rule{"load.fields", "tremor_config_field: unique non-empty name, type TREMOR_VALUE_BOOL .. _OBJECT, TREMOR_FIELD_* flags, default_json valid JSON of the field's type"}
	RuleLoadOther      = Rule{"load.other", "the host's loader refused the plugin"}

	// Descriptor rules the loader does not enforce.
	RuleDescStable          = Rule{"descriptor.stable", "tremor_plugin_get_descriptor: cheap and free of side effects; rule 2 Memory: the descriptor, its strings, arrays and vtables stay valid and unchanged while the library is loaded"}
	RuleDescRequiredDefault = Rule{"descriptor.required_default", "tremor_config_field.default_json: NULL for REQUIRED fields"}
	RuleDescReserved        = Rule{"descriptor.reserved", "rule 6 Layout: fields marked zero or reserved are written as zero (tremor_connector_vtable.reserved0, tremor_config_field.reserved)"}
	RuleDescSourceHooks     = Rule{"descriptor.source_hooks", "tremor_connector_vtable: on_ack and on_fail are optional, sources only"}

	// Results (rule 1) and the error buffer.
	RuleResultPositive = Rule{"result.positive", "rule 1 Results: TREMOR_END (on_pull only) and TREMOR_RETRY (on_connect only) are positive, non-error answers; from any other hook a positive code is a broken contract"}
	RuleResultUnknown  = Rule{"result.unknown", "TREMOR_RESULT_CODES: a negative result is one of the error codes the header defines"}
	RuleResultPanic    = Rule{"result.panic", "TREMOR_ERR_PANIC: the plugin panicked; the instance is unusable"}
	RuleResultInvalid  = Rule{"result.invalid", "TREMOR_ERR_INVALID means an argument broke the contract, but the checker's call kept it"}
	RuleErrCap         = Rule{"error.cap", "tremor_error: the plugin must never write past msg[cap-1]; cap may be 0"}
	RuleErrLen         = Rule{"error.len", "tremor_error: len is the number of bytes written into msg, at most cap"}
	RuleErrUTF8        = Rule{"error.utf8", "tremor_error: the message is UTF-8; if it does not fit, truncate it at a UTF-8 character boundary"}
	RuleErrBuffer      = Rule{"error.buffer", "tremor_error: the buffer (msg, cap) is owned by the host"}
	RuleErrOnSuccess   = Rule{"error.on_success", "tremor_error: on success the plugin leaves it alone (len stays 0)"}
	RuleErrMessage     = Rule{"error.message", "rule 1 Results: on an error the plugin may write a human-readable message (without one the host can only show the code)"}

	// Creating instances.
	RuleCreateBadConfig = Rule{"create.bad_config", "on_create: a config the connector cannot use (a value the host cannot judge: a range, one of a set, fields that only work together) is refused with TREMOR_ERR_CONFIG and a message naming the field; kinds are the host's job, a wrong kind never reaches on_create"}
	RuleCreateArgs      = Rule{"create.args", "tremor_create_args: owned by the host, read-only (const), valid during on_create only"}

	// The lifecycle.
	RuleLifecycle       = Rule{"lifecycle.step", "lifecycle: create -> connect -> start -> pull/ack/fail, send, pause/resume -> drain -> stop -> destroy; with a config that works every step succeeds"}
	RuleConnect         = Rule{"lifecycle.connect", "on_connect: returns TREMOR_OK when connected, TREMOR_RETRY when not yet possible; the host retries with attempt + 1"}
	RuleUnsupported     = Rule{"lifecycle.unsupported", "on_pull / on_send: only a connector of both kinds whose config makes an instance a sink only (or a source only) answers TREMOR_ERR_UNSUPPORTED, with a message"}
	RuleCrash           = Rule{"lifecycle.crash", "a plugin runs in the host's process: a crash in a hook takes the host down with it"}
	RuleHang            = Rule{"lifecycle.hang", "rule 5 Blocking: hooks return promptly; on_pull may wait for data up to the wait_ms it is given"}
	RuleSlow            = Rule{"lifecycle.slow", "rule 5 Blocking: hooks should return promptly; on_pull may wait up to wait_ms, no other hook should block for long"}
	RuleCtxAfterDestroy = Rule{"lifecycle.ctx_after_destroy", "tremor_host_ctx: valid until on_destroy returns; after it the plugin must no longer use the instance's ctx"}
	RuleLog             = Rule{"host.log", "tremor_host_api.log: level is a TREMOR_LOG_* value, msg is UTF-8 of len bytes"}

	// Filling a batch (on_pull).
	RuleBatchHeader    = Rule{"batch.header", "tremor_batch: the plugin fills the arenas it is given; struct_size, reserved0, the arena pointers and *_cap are the host's"}
	RuleEventsLen      = Rule{"batch.events_len", "on_pull: events_len must not exceed events_cap (tremor_batch)"}
	RuleValuesLen      = Rule{"batch.values_len", "on_pull: values_len must not exceed values_cap (tremor_batch)"}
	RuleBytesLen       = Rule{"batch.bytes_len", "on_pull: bytes_len must not exceed bytes_cap (tremor_batch)"}
	RuleBeyondCap      = Rule{"batch.beyond_cap", "tremor_batch: the plugin appends events, value nodes and bytes, never beyond a *_cap"}
	RuleEventFlags     = Rule{"event.flags", "tremor_event.flags: TREMOR_EVENT_* bits; unknown bits must be zero"}
	RuleEventPayloadK  = Rule{"event.payload_kind", "tremor_event: only sources of TREMOR_PAYLOAD_STRUCTURED connectors set TREMOR_EVENT_STRUCTURED, and their events carry structured values"}
	RuleEventPort      = Rule{"event.port", "tremor_event.port: TREMOR_PORT_OUT or TREMOR_PORT_ERR"}
	RuleEventPayload   = Rule{"event.payload", "tremor_event.payload: a span of bytes inside the bytes written to the batch's arena (bytes_len) (rule 3 Data)"}
	RuleEventValue     = Rule{"event.value", "tremor_value: a flat pre-order tree; ARRAY/OBJECT have len direct children and as.descendants nodes below; spans inside the arena; strings and keys UTF-8; bool 0 or 1"}
	RuleValueZero      = Rule{"value.zero", "tremor_value: reserved is zero; key_offset and key_len are 0 except for children of an OBJECT"}
	RuleValueKeys      = Rule{"value.keys", "tremor_value: keys should be unique within an object"}
	RuleEventIDs       = Rule{"event.ids", "on_pull: each event id must be unique among this instance's unacknowledged events"}
	RuleNoRoomNeeded   = Rule{"pull.no_room_needed", "on_pull: with TREMOR_ERR_NO_ROOM set room->bytes_needed / values_needed: the next single event's total, more than the room given"}
	RuleNoRoomEvents   = Rule{"pull.no_room_events", "on_pull: TREMOR_ERR_NO_ROOM means not even the first event fits (events_len stays 0)"}
	RuleNoRoomRepeat   = Rule{"pull.no_room_repeat", "tremor_batch: the host grows the room to at least bytes_needed / values_needed and pulls again: the event must then fit"}
	RuleNoRoomSilently = Rule{"pull.no_room_silent", "on_pull: TREMOR_ERR_NO_ROOM when not even the first event fits (TREMOR_OK with no events means \"nothing yet\")"}
	RuleKeptPointer    = Rule{"memory.kept_pointer", "rule 2 Memory: a pointer the host passes into a hook (a room, the ids, the config, a sent batch) is valid only until that hook returns: copy what you keep"}
	RuleIDsConst       = Rule{"ids.const", "on_ack / on_fail: ids is owned by the host (const), valid during the call"}

	// Reading a batch (on_send).
	RuleSendOutcome    = Rule{"send.outcome", "on_send: writes one TREMOR_OUTCOME_* (OK 0, FAILED 1, RETRY 2) into outcomes[i] for each events[i]"}
	RuleSendOutcomes   = Rule{"send.outcomes_len", "on_send: outcomes has batch->events_len entries"}
	RuleSendNoOutcomes = Rule{"send.no_outcomes", "on_send: TREMOR_OK means outcomes were written: an outcome left as pre-set (TREMOR_OUTCOME_FAILED) fails its event back, so an OK without outcomes fails every event while saying OK"}
	RuleSendReadOnly   = Rule{"send.read_only", "on_send: the plugin reads events[0 .. events_len) and must not modify anything (tremor_batch)"}
	RuleConfigNeeded   = Rule{"check.config", "check-plugin: the connector needs a config it was not given (pass --config CONNECTOR='{...}')"}
	RuleLeakMemory     = Rule{"leak.memory", "rule 2 Memory: whoever allocates frees; on_destroy releases everything the instance owns"}
	RuleLeakFDs        = Rule{"leak.fds", "on_destroy: releases everything the instance owns (file descriptors too)"}
	RuleCheckInternal  = Rule{"check.internal", "check-plugin could not run a check"}
	RuleCoverage       = Rule{"check.coverage", "check-plugin: what a check could not exercise with the config given"}
)

// AllRules lists every rule, in the order above.
var AllRules = []Rule{
	RuleLoadFile, RuleLoadEntry, RuleLoadNull, RuleLoadABI, RuleLoadStructSize, RuleLoadNames,
	RuleLoadConnectors, RuleLoadKinds, RuleLoadPayload, RuleLoadVTable, RuleLoadHooks, RuleLoadFields, RuleLoadOther,
	RuleDescStable, RuleDescRequiredDefault, RuleDescReserved, RuleDescSourceHooks,
	RuleResultPositive, RuleResultUnknown, RuleResultPanic, RuleResultInvalid,
	RuleErrCap, RuleErrLen, RuleErrUTF8, RuleErrBuffer, RuleErrOnSuccess, RuleErrMessage,
	RuleCreateBadConfig, RuleCreateArgs,
	RuleLifecycle, RuleConnect, RuleUnsupported, RuleCrash, RuleHang, RuleSlow, RuleCtxAfterDestroy, RuleLog,
	RuleBatchHeader, RuleEventsLen, RuleValuesLen, RuleBytesLen, RuleBeyondCap,
	RuleEventFlags, RuleEventPayloadK, RuleEventPort, RuleEventPayload, RuleEventValue, RuleValueZero, RuleValueKeys,
	RuleEventIDs, RuleNoRoomNeeded, RuleNoRoomEvents, RuleNoRoomRepeat, RuleNoRoomSilently, RuleIDsConst, RuleKeptPointer,
	RuleSendOutcome, RuleSendOutcomes, RuleSendReadOnly, RuleSendNoOutcomes,
	RuleLeakMemory, RuleLeakFDs, RuleConfigNeeded, RuleCheckInternal, RuleCoverage,
}

// RuleByID returns the rule with this id.
func RuleByID(id string) (Rule, bool) {
	for _, r := range AllRules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
