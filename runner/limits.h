/* Limits tremor-runner shares with the host: what either side reads from a
 * plugin's descriptor, the hook error buffer, log lines, protocol frames and
 * shared-memory slots. This header is the definition; abi/limits.go mirrors
 * it and abi's tests compare the two through TREMOR_RUNNER_LIMITS, which
 * must list every limit defined here. */
#ifndef TREMOR_RUNNER_LIMITS_H
#define TREMOR_RUNNER_LIMITS_H

#define MAX_NAME_LEN 256                 /* bytes of a name, a version or a framing */
#define MAX_TEXT_LEN (64 * 1024)         /* bytes of a description, license or doc */
#define MAX_DEFAULT_JSON (64 * 1024)     /* bytes of a field's default_json */
#define MAX_CONNECTORS 1024              /* connector types in one descriptor */
#define MAX_FIELDS 1024                  /* config fields of one connector type */
#define ERROR_CAP 4096                   /* bytes of the tremor_error buffer a hook is given */
#define MAX_LOG_LINE (64 * 1024)         /* bytes of one log line; longer ones are cut */
#define MAX_FRAME (256u * 1024 * 1024)   /* bytes of one protocol frame, either way */
#define SLOTS 8                          /* shared-memory mappings at once */
#define MAX_IDS_PER_CALL 4096            /* ids one on_ack or on_fail call gets (longer lists are split) */
#define ERROR_CANARY 64                  /* canary bytes after the error buffer (a write there is reported) */
#define MAX_METRIC_LABELS_READ 64        /* labels read from one metric call (the host allows 8: more is refused) */

#define TREMOR_RUNNER_LIMITS(X)                                                                    \
  X(MAX_NAME_LEN) X(MAX_TEXT_LEN) X(MAX_DEFAULT_JSON) X(MAX_CONNECTORS) X(MAX_FIELDS) X(ERROR_CAP) \
  X(MAX_LOG_LINE) X(MAX_FRAME) X(SLOTS) X(MAX_IDS_PER_CALL) X(ERROR_CANARY) X(MAX_METRIC_LABELS_READ)

#endif
