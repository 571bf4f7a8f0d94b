package abi

// Limits the host shares with tremor-runner. runner/limits.h is the
// definition; abi's tests compare these against it.
const (
	MaxNameLen          = 256       // bytes of a name, a version or a framing
	MaxTextLen          = 64 << 10  // bytes of a description, license or doc
	MaxDefaultJSON      = 64 << 10  // bytes of a field's default_json
	MaxConnectors       = 1024      // connector types in one descriptor
	MaxFields           = 1024      // config fields of one connector type
	ErrorCap            = 4096      // bytes of the tremor_error buffer a hook is given
	MaxLogLine          = 64 << 10  // bytes of one log line; longer ones are cut
	MaxFrame            = 256 << 20 // bytes of one runner protocol frame, either way
	SharedSlots         = 8         // shared-memory mappings the runner holds at once
	MaxIDsPerCall       = 4096      // ids one on_ack or on_fail call gets (longer lists are split)
	ErrorCanary         = 64        // canary bytes after the error buffer (a write there is reported)
	MaxMetricLabelsRead = 64        // labels read from one metric call (the host allows 8: more is refused)
)
