-- V044: routing in the rebalancing proposals (issue 18 §2). An order of a proposal says what it is expected to cost
-- and whether it comes from the router's split across venues (pipelines/domain/routed_rebalancing.py):
--
--   expected_cost  the order's expected all-in cost in the cash asset: its taker fee plus what crossing the spread
--                  costs (the naive plan, priced at the ticker) or what walking the venue's order book costs against
--                  its mid (a routed order)
--   routed         true: the router's split (cheaper on the same books than the naive plan); false: the naive plan
--
-- Both nullable, without a default: the rows before V044 keep the text their audit-chain hash was taken on (the row
-- hash trims trailing NULLs, V038), so the chain still verifies. NULL: recorded before V044.

alter table ops.rebalance_orders add column if not exists expected_cost numeric(38, 8);
alter table ops.rebalance_orders add column if not exists routed boolean;
