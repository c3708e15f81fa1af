"""The little of Ethereum's ABI and address rules that a read-only portfolio tool needs. Pure, no I/O."""

from __future__ import annotations

from decimal import Decimal

from ccxt.static_dependencies.keccak.keccak import SHA3  # Keccak-256 (ccxt is already a dependency)


def keccak(data: bytes) -> bytes:
    return bytes(SHA3(data))


def selector(signature: str) -> str:
    """'balanceOf(address)' → '0x70a08231'."""
    return "0x" + keccak(signature.encode()).hex()[:8]


def checksum_address(address: str) -> str:
    """EIP-55 mixed-case form; raises ValueError for anything that is not 20 bytes of hex."""
    body = address.lower().removeprefix("0x")
    if len(body) != 40 or any(c not in "0123456789abcdef" for c in body):
        raise ValueError(f"not an EVM address: {address!r}")
    digest = keccak(body.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(body))


def address_from_public_key(uncompressed_xy: tuple[int, int]) -> str:
    x, y = uncompressed_xy
    return checksum_address("0x" + keccak(x.to_bytes(32, "big") + y.to_bytes(32, "big"))[-20:].hex())


def encode_call(signature: str, *args: str | int) -> str:
    """Calldata for a function taking addresses and uint256s (all this tool calls)."""
    words = []
    for arg in args:
        if isinstance(arg, str):
            words.append(arg.lower().removeprefix("0x").rjust(64, "0"))
        else:
            words.append(f"{arg:064x}")
    return selector(signature) + "".join(words)


def decode_words(result: str) -> list[int]:
    """An eth_call result → its 32-byte words as unsigned integers."""
    body = result.removeprefix("0x")
    if len(body) % 64:
        raise ValueError(f"ABI result of {len(body)} hex digits is not whole 32-byte words")
    return [int(body[i:i + 64], 16) for i in range(0, len(body), 64)]


def decode_address(word: int) -> str:
    return checksum_address(f"0x{word:040x}"[-40:].rjust(40, "0"))


def scaled(units: int | str, decimals: int) -> Decimal:
    """Integer token units → an exact Decimal amount."""
    return Decimal(int(units)).scaleb(-decimals)


def to_units(amount: Decimal, decimals: int) -> int:
    units = amount.scaleb(decimals)
    if units != units.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return int(units)
