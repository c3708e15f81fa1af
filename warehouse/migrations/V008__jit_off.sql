-- V008: no JIT compilation for this database's sessions.
-- The models are views over views with correlated look-ups (asset aliases, quarantine anti-joins); their cost
-- estimates pass jit_above_cost by far, and LLVM then spends ~8 s compiling a plan that runs in 0.1 s
-- (measured on marts.positions: JIT total 7.8 s of 7.9 s). Tables here are small per tenant; JIT does not pay.
do $$
begin
    execute format('alter database %I set jit = off', current_database());
end
$$;
