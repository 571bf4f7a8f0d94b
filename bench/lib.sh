# Shared by bench/kafka.sh and bench/nats.sh (source it): the two-connector
# flows they time, rates from tremorctl's output, medians and ratios.

# bench_flow NAME SRC_TYPE SRC_CONFIG DST_TYPE [DST_CONFIG]: prints a flow
# SRC_TYPE (connector "src") -> empty pipeline -> DST_TYPE (connector
# "dst"), binary codec, batch 1024; configs are TOML inline tables.
bench_flow() {
  cat <<EOF
[flow]
name = "$1"
batch_size = 1024
[[connector]]
id = "src"
type = "$2"
codec = "binary"
config = $3
[[connector]]
id = "dst"
type = "$4"
codec = "binary"
${5:+config = $5}
[[pipeline]]
id = "p"
[[link]]
from = "src"
to = "p"
[[link]]
from = "p"
to = "dst"
EOF
}

# ran_for_seconds LOG: the "ran for" tremorctl printed, in seconds.
ran_for_seconds() {
  python3 - "$1" <<'EOF'
import re, sys
t = re.search(r'ran for ([0-9.]+)(ms|s)', open(sys.argv[1]).read())
v = float(t.group(1)); print(v / 1000 if t.group(2) == "ms" else v)
EOF
}

# source_rate TREMORCTL FLOW LOG N WHAT: runs FLOW (a source that does not
# end -> connector "dst") and prints its stats_rate, then stops it.
source_rate() {
  "$1" --log-format json run --stats-interval 200ms "$2" >"$3" 2>&1 &
  local pid=$!
  stats_rate "$3" "$4" "$5"
  kill -TERM "$pid"
  wait "$pid" || true
}

# stats_rate LOG N WHAT: events/s of the connector "dst" between its
# first event and its N-th, from the stats lines that
# `tremorctl --log-format json run --stats-interval ...` writes to LOG while
# it runs (startup and group joins excluded, as the peers' own tools
# exclude them). Waits up to 300 s; WHAT names the source in the error.
stats_rate() {
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys, time
from datetime import datetime
path, n, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.time() + 300
first = None
while time.time() < deadline:
    for line in open(path):
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("message") != "stats" or m.get("connector") != "dst":
            continue
        t = datetime.fromisoformat(m["time"].replace("Z", "+00:00")).timestamp()
        if first is None and m["out"] > 0:
            first = (t, m["out"])
        if m["out"] >= n:
            if t <= first[0]:
                sys.exit("%s: all %d events came within one stats interval: too few to time, use a larger N" % (what, n))
            print(round((m["out"] - first[1]) / (t - first[0])))
            sys.exit(0)
    time.sleep(0.5)
sys.exit("%s did not reach %d events in 300 s" % (what, n))
EOF
}

median() { python3 -c "import statistics, sys; print(round(statistics.median(int(x) for x in sys.argv[1:])))" "$@"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
