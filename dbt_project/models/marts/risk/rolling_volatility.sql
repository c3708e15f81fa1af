-- Rolling realised volatility per asset, annualised (√365 days, √8760 hours: crypto trades every hour of the
-- year): daily returns over 30 and 90 days, hourly returns over 24 hours. Null until the window is full (the hourly one: 20 of
-- its 24 hours, since the 1m sync keeps a day of minutes, which gives 23 hourly returns).
with r as (
    select *,
           count(*) over (partition by frequency, asset order by period_start rows between 29 preceding and current row) as n30,
           stddev_samp(log_return) over (partition by frequency, asset order by period_start
                                         rows between 29 preceding and current row) as sd30,
           count(*) over (partition by frequency, asset order by period_start rows between 89 preceding and current row) as n90,
           stddev_samp(log_return) over (partition by frequency, asset order by period_start
                                         rows between 89 preceding and current row) as sd90,
           count(*) over (partition by frequency, asset order by period_start rows between 23 preceding and current row) as n24,
           stddev_samp(log_return) over (partition by frequency, asset order by period_start
                                         rows between 23 preceding and current row) as sd24
    from {{ ref('asset_returns') }}
)

select
    tenant_id,
    frequency,
    asset,
    period_start,
    case when frequency = 'daily' and n30 = 30 then sd30 * sqrt(365) end as volatility_30d,
    case when frequency = 'daily' and n90 = 90 then sd90 * sqrt(365) end as volatility_90d,
    case when frequency = 'hourly' and n24 >= 20 then sd24 * sqrt(8760) end as volatility_24h
from r
