-- The circuit breaker per portfolio: open (no trading proposals) when volatility or drawdown crossed the
-- tenant's trip level; it closes only after calm days below the lower reset levels (hysteresis). Trading
-- proposals read this.
select tenant_id, portfolio_id, as_of, breaker_open, breaker_since, breaker_reason, correlation_shift,
       correlation_shift_max, value_usd
from {{ source('derived', 'risk_portfolios') }}
