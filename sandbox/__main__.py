"""`python -m sandbox`: the exchange sandbox in the foreground (also `coinbook sandbox`)."""

import argparse

from sandbox.server import DIALECT_MODULES, run_forever
from sandbox.world import DEFAULT_SEED, Scale

parser = argparse.ArgumentParser(description=f"Coinbook exchange sandbox: the REST dialects of "
                                             f"{', '.join(DIALECT_MODULES)}, Esplora, an Etherscan-style "
                                             f"explorer and EVM JSON-RPC.")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8765)
parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
parser.add_argument("--scale", default="demo", help="'demo' or '<tenants>x<trades>', e.g. 20x100000")
parser.add_argument("--malformed", action="store_true", help="mix a few malformed records into the responses")
args = parser.parse_args()
print(f"sandbox listening on http://{args.host}:{args.port}")
run_forever(args.host, args.port, seed=args.seed, malformed=args.malformed, scale=Scale.parse(args.scale))
