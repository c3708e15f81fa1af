"""`coinbook compliance`: sanctions screening (compliance_screening.py), the KYC register and transfer
thresholds (compliance_kyc.py)."""

from __future__ import annotations

import typer

from pipelines.app import compliance_kyc, compliance_screening

app = typer.Typer(help="Compliance: sanctions lists and screening, KYC register, transfer thresholds.",
                  no_args_is_help=True)
compliance_screening.register(app)
compliance_kyc.register(app)
