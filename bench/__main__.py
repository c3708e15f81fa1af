"""`make bench`: every benchmark, one after the other, printing its figures."""

from bench import (
    bench_audit,
    bench_compliance,
    bench_gate,
    bench_loader,
    bench_lots,
    bench_pipeline,
    bench_risk,
    bench_routing,
    bench_sync,
    bench_ticks,
)

print("== bulk loader (1,000,000 rows) ==")
bench_loader.main(1_000_000)
print("\n== full pipeline on the sandbox world ==")
bench_pipeline.main()
print("\n== Great Expectations gate (2 % bad rows) ==")
bench_gate.main([2_000, 100_000])
print("\n== API cost of a full sync, naive vs batched and cached ==")
bench_sync.main()
print("\n== lot engine (1,000,000 trades, 1,000 accounts, 50 assets) ==")
bench_lots.main(1_000_000)
print("\n== portfolio risk (500 assets × 3 years of daily prices) ==")
bench_risk.main()
print("\n== price ticks (one day: 2,300,000 ticks, 5 venues × 30 symbols) ==")
bench_ticks.main(2_300_000)
print("\n== audit chain (1,000,000 raw rows: chaining's cost on a bulk load, and verify) ==")
bench_audit.main(1_000_000)
print("\n== quarterly compliance pack (2026Q1, each tenant of the demo world) ==")
bench_compliance.main("2026Q1")
print("\n== execution routing vs the home venue (sandbox order books) ==")
bench_routing.main()
