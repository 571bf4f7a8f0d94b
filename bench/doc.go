// Package bench holds the benchmarks of issue 4: what the plugin boundary
// costs, side by side with in-process Go. They are benchmarks only (no
// tests), so `go test ./...` compiles them and runs nothing; run them with
// ./scripts/bench.sh, which prints the table written into
// docs/benchmarks.md, or directly:
//
//	go test -run '^$' -bench '^Benchmark(Flow|Boundary)$' -benchtime 0.5s -count 3 ./bench/
//	go test -run '^$' -bench 'Load|ListPlugins' -benchtime 100x ./bench/
//
// They need the plugins built by ./scripts/build.sh (build/plugins).
//
//   - BenchmarkFlow runs a real flow (runtime.New + Run) of b.N events from
//     a bench source to a bench sink, for each implementation (go: the
//     in-process baseline of host/inproc; c, rust, gopl: the bench plugins
//     libtremor_bench.so, libtremor_bench_rs.so, libtremor_bench_go.so),
//     two flows (raw: binary codec with the lines pre- and post-processor,
//     so events stay bytes; json: json codec, each line decoded to a value
//     and encoded again), batch sizes 1, 64, 1024 and the default, and
//     payloads of 100 B, 1 KiB and 64 KiB. One op is one event, so ns/op is
//     ns/event and allocs/op is allocations per event in the whole host.
//   - BenchmarkBoundary calls Pull and Send of host/plugin straight into a
//     bench plugin (no runtime, no codec): the cost of the boundary per
//     event against the batch size, and its allocations.
//   - BenchmarkLoadPlugin and BenchmarkListPlugins100 measure load cost: one
//     plugin.Load of a fresh copy of a plugin file, and `tremorctl
//     list-plugins` over a directory of 100 plugin files.
//   - BenchmarkUpgradeGap upgrades plugin "bench" live under a full-rate
//     flow and reports the longest gap in the sink's deliveries around an
//     upgrade against the longest without one (docs/benchmarks.md, "Live
//     upgrade").
package bench
