# Shared by bench/kafka.sh and bench/nats.sh (source it): rates from the
# stats lines tremorctl logs, medians and ratios.

# stats_rate LOG N WHAT: events/s of the connector "count" between its
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
        if m.get("message") != "stats" or m.get("connector") != "count":
            continue
        t = datetime.fromisoformat(m["time"].replace("Z", "+00:00")).timestamp()
        if first is None and m["out"] > 0:
            first = (t, m["out"])
        if m["out"] >= n and first:
            print(round((m["out"] - first[1]) / (t - first[0])))
            sys.exit(0)
    time.sleep(0.5)
sys.exit("%s did not reach %d events in 300 s" % (what, n))
EOF
}

median() { python3 -c "import statistics, sys; print(round(statistics.median(int(x) for x in sys.argv[1:])))" "$@"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
