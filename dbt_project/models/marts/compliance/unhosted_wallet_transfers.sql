-- Transfers between one of the tenant's exchange accounts (the hosted side) and a wallet no venue hosts — a third
-- party's address, one of the tenant's own wallets (self-hosted is unhosted under the Transfer of Funds
-- Regulation: above 1,000 EUR the ownership of the wallet must be verified), or a deposit whose sender the venue
-- does not say (unknown; fiat bank transfers aside) — worth more than the tenant's unhosted threshold (default 1,000), or unvalued.
{{ config(materialized='view') }}
{{ thresholded_transfers('unhosted_amount', "r.account_kind = 'exchange' and not r.fiat and r.counterparty_kind in ('unhosted', 'own_wallet', 'unknown')") }}
