-- The historical 1-day 99 % VaR against what happened: each day's P&L (today's exposures on that day's
-- returns) versus the VaR of the 250 days before it; exceptions and Kupiec's proportion-of-failures test
-- (rejected at 5 %: the model under- or over-states the risk).
select * from {{ source('derived', 'risk_backtest') }}
